"""``recommend --verify K`` on Ray: the screen and the K LogME scorings as Ray tasks give the ranking of the local path.

The zoo is the session's ``ci_bench`` (a copy of its SQLite registry); the cluster the session's
``ray_cluster`` (a head and a worker node on this machine, so a SQLite registry is allowed).
"""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from click.testing import CliRunner

from zoo.cli import main

#: a share of half the images: the ci bench's tasks hold 8 images per class, and a share of one per class is
#: skipped (it cannot tell experts apart); a shortlist of 1 leaves the screen something to choose among the
#: candidates (the architectures within the margin: two of the four experts)
K, VERIFY, SHARE = 4, 1, 0.5


@pytest.fixture
def bench_copy(ci_bench, tmp_path) -> dict:
    """The ci bench's registry copied (the shared one stays as the build left it), and a held-out task."""
    shutil.copy(ci_bench["url"].removeprefix("sqlite:///"), tmp_path / "copy.db")
    task = json.loads((ci_bench["workdir"] / "sets.json").read_text())["heldout"][0]
    return {"url": f"sqlite:///{tmp_path / 'copy.db'}", "task": task}


def _picks(recs) -> list[tuple]:
    return [(r.rank, r.model, r.model2vec_rank, r.verified_rank) for r in recs]


def test_verify_on_ray_gives_the_local_ranking(ray_cluster, bench_copy):
    from zoo.api import Zoo
    from zoo.api.jobs_units import logme_scores
    from zoo.data import local_path

    with Zoo.open(bench_copy["url"]) as z:
        task = bench_copy["task"]
        local = z.recommend(task, k=K, verify=VERIFY, screen=SHARE, progress=False)
        remote = z.recommend(task, k=K, verify=VERIFY, screen=SHARE, progress=False, ray_address=ray_cluster.address)
        assert _picks(remote) == _picks(local)
        assert sum(r.logme is not None for r in remote) == VERIFY
        assert not remote[0].screen_skipped and sum(r.candidate for r in remote) > VERIFY  # the screen ran
        for a, b in zip(remote, local):
            assert (a.logme is None) == (b.logme is None)
            if a.logme is not None:
                assert a.logme == pytest.approx(b.logme, rel=1e-6, abs=1e-9)
            assert (a.screen is not None) == bool(a.candidate)  # every candidate screened on one share
            if a.candidate:
                assert a.screen == pytest.approx(b.screen, rel=1e-6, abs=1e-9)
        # a folder travels as its path: the task's own folder gives the same LogME
        folder = local_path(z.store.get_task(task).data_uri)
        verified = {r.model: r.logme for r in local if r.logme is not None}
        on_folder = logme_scores(z.store, list(verified), str(folder), ray_address=ray_cluster.address, progress=False)
        assert on_folder == pytest.approx(verified, rel=1e-6, abs=1e-9)


def test_cli_recommend_verify_with_ray(ray_cluster, bench_copy, monkeypatch):
    monkeypatch.setenv("ZOO_RAY_ADDRESS", ray_cluster.address)
    args = ["--db", bench_copy["url"], "recommend", "--task", bench_copy["task"], "-k", str(K), "--quiet", "--json"]
    result = CliRunner().invoke(main, [*args, "--verify", "2"])
    assert result.exit_code == 0, result.output
    recs = json.loads(result.stdout)["recommendations"]
    assert sorted(r["verified_rank"] for r in recs if r["verified_rank"]) == [1, 2]
    result = CliRunner().invoke(main, [*args, "--verify", "1", "--gpus-per-task", "4"])  # more GPUs than there are
    assert result.exit_code != 0 and "GPUs" in result.output


def test_ray_without_ray_installed_is_one_line_naming_the_extra(sqlite_url, monkeypatch, assert_one_line_error):
    monkeypatch.setitem(sys.modules, "ray", None)
    args = ["--db", sqlite_url, "recommend", "--task", "some-task", "--verify", "2", "--ray", "auto"]
    assert_one_line_error(CliRunner().invoke(main, args), None, "pip install -e '.[ray]'", "--ray ADDRESS")


def test_logme_on_ray_leaves_out_an_expert_that_cannot_be_loaded(ray_cluster, bench_copy):
    """As the local screen and verification do: a warning, the others scored; every unit failing still raises."""
    from registry.errors import ZooError
    from zoo.api import Zoo
    from zoo.api.jobs_units import logme_scores

    with Zoo.open(bench_copy["url"]) as z:
        names = [m.name for m in z.store.list_models()][:2]
        z.store.set_model_source(names[0], "file:/nowhere/missing.safetensors", check=False)
        task = bench_copy["task"]
        ray = {"ray_address": ray_cluster.address, "progress": False, "max_samples": 17}  # values no test cached
        with pytest.warns(UserWarning, match=f"logme on Ray skipped {names[0]}: "):
            scores = logme_scores(z.store, names, task, **ray)
        assert list(scores) == [names[1]]
        with pytest.raises(ZooError, match="1 of 1 logme units failed on Ray"):
            logme_scores(z.store, names[:1], task, **ray)
