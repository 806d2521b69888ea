"""`zoo bench rebuild-experts` on the ci bench: the experts come back bit-identical and the registry points at them."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from zoo.cli import main


def test_rebuild_experts_matches_the_registry_and_points_at_the_new_files(ci_bench, tmp_path):
    db = tmp_path / "copy.db"
    shutil.copy(ci_bench["url"].removeprefix("sqlite:///"), db)  # the session's registry stays as built
    url = f"sqlite:///{db}"
    work = tmp_path / "rebuilt"
    planted = "expert-generalist-resnet10t"  # a different file in its place: rebuild keeps it and must say so
    names = sorted(p.stem for p in (ci_bench["workdir"] / "experts").glob("*.safetensors"))
    other = next(n for n in names if n != planted)
    (work / "experts").mkdir(parents=True)
    shutil.copy(ci_bench["workdir"] / "experts" / f"{other}.safetensors", work / "experts" / f"{planted}.safetensors")
    result = CliRunner().invoke(
        main, ["--db", url, "bench", "rebuild-experts", "--size", "ci", "--workdir", str(work), "--quiet", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = {r["name"]: r for r in report["experts"]}
    assert sorted(rows) == names
    assert report["identical"] == len(names) - 1 and report["different"] == 1
    differing = rows[planted]
    assert differing["status"] == "different" and differing["source"] is None
    assert differing["check"] is not None and 0.0 <= differing["check"]["rebuilt_error"] <= 1.0
    from zoo.api import Zoo

    with Zoo.open(url) as z:
        for name in names:
            source = z.get_model(name).source
            if name == planted:
                assert str(ci_bench["workdir"]) in source  # left where it was
            else:
                assert source == f"file:{(work / 'experts' / (name + '.safetensors')).resolve()}"
