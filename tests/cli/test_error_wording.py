"""One error, two wordings: Python callers read parameter names, the command line reads its options."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from registry.errors import DatabaseUnavailable, DependentRows
from zoo.api import Zoo
from zoo.cli import main


def test_an_unusable_database_names_url_in_python_and_db_on_the_command_line(tmp_path, assert_one_line_error):
    url = f"sqlite:///{tmp_path / 'missing' / 'dir' / 'zoo.db'}"
    with pytest.raises(DatabaseUnavailable) as err:
        Zoo.open(url)
    assert "url=URL" in str(err.value) and "--db" not in str(err.value) and err.value.param == "url"
    result = CliRunner().invoke(main, ["--db", url, "models", "list"])
    assert_one_line_error(result, 1, "--db URL")
    assert "url=" not in result.stderr


def test_removing_a_model_with_results_names_force_each_way(sqlite_url, assert_one_line_error):
    with Zoo.open(sqlite_url) as z:
        z.register_model("m", "timm:resnet18", check=False)
        z.store.add_task("t", data_uri="file:///nowhere", num_classes=2, num_samples=4, fingerprint="f")
        z.store.add_transfer_result(
            "m", "t", metric="error", value=0.5, protocol="p", protocol_params={}, train_size=2, test_size=2
        )
        with pytest.raises(DependentRows, match="force=True"):
            z.remove_model("m")
    result = CliRunner().invoke(main, ["--db", sqlite_url, "models", "remove", "m"])
    assert_one_line_error(result, 1, "--force")
    assert "force=True" not in result.stderr


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["bench", "build", "--threads", "0"], "'--threads': 0 is not in the range"),
        (["recommend", "--task", "x", "--verify", "x"], "neither a whole number nor 'auto'"),
        (["report", "--neighbours", "0"], "'--neighbours'"),
        (["evaluate", "--gpus-per-task", "-1"], "'--gpus-per-task'"),
        (["recommend", "--no-such-option"], "No such option"),
        (["tasks", "similar"], "Missing argument"),
        (["no-such-command"], "No such command"),
        (["--no-such-option"], "No such option"),
    ],
)
def test_a_usage_error_is_one_line_that_names_the_help_to_read(args, fragment, sqlite_url, assert_one_line_error):
    result = CliRunner().invoke(main, ["--db", sqlite_url, *args])
    assert_one_line_error(result, 2, fragment, "--help')")


def test_a_group_called_bare_still_shows_its_help(sqlite_url):
    result = CliRunner().invoke(main, ["--db", sqlite_url, "bench"])
    assert " bench [OPTIONS] COMMAND" in result.output and "Error" not in result.output
