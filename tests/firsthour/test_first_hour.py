"""The README's first hour from a fresh HOME: the default registry starts as the shipped zoo.

Every command runs as a user would run it: a subprocess with HOME and the XDG
folders in a temp dir and no ``$ZOO_DATABASE_URL`` (nor ``$ZOO_NO_SEED``, which
the suite sets everywhere else).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.firsthour.images import write_shapes

ZOO = [str(Path(sys.executable).with_name("zoo"))]  # the console script of this environment
SEEDED = "Created the default registry"


def fresh_env(home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ZOO_DATABASE_URL", "ZOO_NO_SEED", "ZOO_BENCH_ROOT") and not k.startswith("XDG_")
    }
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        OMP_NUM_THREADS="1",
        **extra,
    )
    return env


def zoo(home: Path, *args: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*ZOO, *args], cwd=cwd, env=fresh_env(home, **extra), capture_output=True, text=True, timeout=900
    )


def default_db(home: Path) -> Path:
    return home / ".local/share/zoo/zoo.db"


@pytest.fixture(scope="module")
def first_hour(tmp_path_factory) -> dict:
    """`zoo demo`, then recommend on a new folder and report, against the default registry of a fresh HOME."""
    home = tmp_path_factory.mktemp("home")
    work = tmp_path_factory.mktemp("work")
    write_shapes(work / "my_images")
    demo = zoo(home, "demo", "--quiet", cwd=work)
    recommend = zoo(home, "recommend", "--task", "my_images", "-k", "3", "--json", cwd=work)
    report = zoo(home, "report", "--out", "site", cwd=work)
    listing = zoo(home, "models", "list", "--json", cwd=work)
    return {"home": home, "work": work, "demo": demo, "recommend": recommend, "report": report, "models": listing}


def test_demo_then_recommend_on_a_new_folder_gives_three_picks(first_hour):
    demo, recommend = first_hour["demo"], first_hour["recommend"]
    assert demo.returncode == 0, demo.stderr
    assert "rank  model" in demo.stdout and "zoo recommend --task DIR" in demo.stdout
    assert recommend.returncode == 0, recommend.stderr
    out = json.loads(recommend.stdout)
    picks = out["recommendations"] if isinstance(out, dict) else out
    assert [p["rank"] for p in picks] == [1, 2, 3]
    assert all(p["model"].startswith("expert-") for p in picks)
    assert all(p["source"].startswith("bench:experts/") for p in picks)
    # the first use of the default registry seeded it, and said so in one line
    seeded = [line for line in recommend.stderr.splitlines() if SEEDED in line]
    assert len(seeded) == 1 and str(default_db(first_hour["home"])) in seeded[0]


def test_report_and_models_list_show_the_shipped_zoo(first_hour):
    report, listing = first_hour["report"], first_hour["models"]
    assert report.returncode == 0, report.stderr
    index = (first_hour["work"] / "site" / "index.html").read_text()
    assert "expert-generalist-resnet10t" in index and "expert-scripts-semitic-resnet10t" in index
    assert listing.returncode == 0, listing.stderr
    assert len(json.loads(listing.stdout)) == 48
    assert SEEDED not in report.stderr + listing.stderr  # seeded once only


def test_set_source_to_a_missing_file_is_a_one_line_error(first_hour):
    result = zoo(
        first_hour["home"],
        "models",
        "set-source",
        "expert-generalist-resnet10t",
        "file:nowhere/expert.safetensors",
        cwd=first_hour["work"],
    )
    assert result.returncode != 0 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "nowhere/expert.safetensors" in lines[0]


def _not_found_message(first_hour: dict, tmp_path: Path, code: str) -> str:
    """The one line ``code`` prints (after ``import zoo`` and NotFound) in the first hour's folder, the experts'
    weights nowhere on this machine."""
    result = subprocess.run(
        [sys.executable, "-c", "import zoo\nfrom registry.errors import NotFound\n" + code],
        cwd=first_hour["work"],
        capture_output=True,
        text=True,
        env=fresh_env(first_hour["home"], ZOO_BENCH_ROOT=str(tmp_path / "no-bench")),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    message = result.stdout.strip()
    assert len(message.splitlines()) == 1, message
    return message


def test_loading_a_pick_without_its_weights_names_the_rebuild_command(first_hour, tmp_path):
    message = _not_found_message(
        first_hour,
        tmp_path,
        "pick = zoo.connect().recommend('my_images', k=1, progress=False)[0]\n"
        "try:\n    pick.load()\nexcept NotFound as err:\n    print(err)\n",
    )
    assert "zoo bench rebuild-experts" in message and "not on this machine" in message


def test_verify_without_any_experts_weights_fails_before_the_probe_pass(first_hour, tmp_path):
    """The shipped zoo before `bench rebuild-experts`: --verify cannot load any expert, and says so before
    embedding the folder (the probe pass would be wasted); auto, which may not verify, is left to run."""
    message = _not_found_message(
        first_hour,
        tmp_path,
        "import zoo.api.recommend as r\n"
        "def no_probe_pass(*a, **k):\n    raise AssertionError('the probe pass ran')\n"
        "r.Recommender._target_vector = no_probe_pass\n"
        "try:\n    zoo.connect().recommend('my_images', k=1, verify=5, progress=False)\n"
        "except NotFound as err:\n    print(err)\n",
    )
    assert "verify=K" in message and "zoo bench rebuild-experts" in message and "none of the 48" in message

    def verify(value: str):
        return zoo(
            first_hour["home"],
            *("recommend", "--task", "my_images", "--verify", value),
            cwd=first_hour["work"],
            ZOO_BENCH_ROOT=str(tmp_path / "no-bench"),
        )

    cli = verify("3")
    assert cli.returncode == 1 and cli.stdout == ""
    lines = cli.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --verify K loads the experts' weights"), cli.stderr
    # auto decides after the probe pass (the shapes extrapolate, so it verifies), then refuses the same way
    # instead of screening and failing on the first expert it loads
    auto = verify("auto")
    assert auto.returncode == 1 and auto.stdout == ""
    last = auto.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: --verify auto chose to verify this query, which loads the experts' weights")
    assert "none of the 48" in last and "zoo bench rebuild-experts" in last


def test_an_explicit_url_or_zoo_no_seed_gives_an_empty_registry(tmp_path):
    home = tmp_path / "home"
    explicit = zoo(home, "--db", f"sqlite:///{tmp_path / 'empty.db'}", "models", "list", "--json", cwd=tmp_path)
    assert explicit.returncode == 0, explicit.stderr
    assert json.loads(explicit.stdout) == [] and SEEDED not in explicit.stderr
    assert not default_db(home).exists()
    unseeded = zoo(home, "models", "list", "--json", cwd=tmp_path, ZOO_NO_SEED="1")
    assert unseeded.returncode == 0 and json.loads(unseeded.stdout) == [] and SEEDED not in unseeded.stderr


def test_two_first_uses_at_once_seed_the_registry_once(tmp_path):
    home = tmp_path / "home"
    code = "import zoo\nwith zoo.connect() as z:\n    print(len(z.models()))\n"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env=fresh_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert [out.strip() for out, _ in outputs] == ["48", "48"]
    assert sum(SEEDED in err for _, err in outputs) == 1
    from registry.store import Store

    with Store.open(f"sqlite:///{default_db(home)}", create=False) as store:
        counts = store.counts()
    assert counts["models"] == 48 and counts["transfer_results"] == 8832, counts
    leftovers = [p.name for p in default_db(home).parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
