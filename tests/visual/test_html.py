"""HTML pieces: escaping, tables, the selection JSON rendering, page names; light CLI imports."""

from __future__ import annotations

import subprocess
import sys

from zoo.report import html as h
from zoo.report import task_page_name

NASTY = '<img src=x onerror="alert(1)">&\'"'


def test_every_cell_and_header_is_escaped():
    text = h.table("t", [NASTY], [[NASTY], [h.Link(NASTY, NASTY)]])
    assert "<img" not in text and 'onerror="' not in text
    assert text.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#x27;&quot;") == 4


def test_numeric_columns_sort_by_value_and_missing_values_show_a_dash():
    text = h.table("t", ["name", "error"], [["a", h.percent(0.125)], ["b", h.percent(None)]])
    assert 'data-type="number"' in text and 'data-type="text"' in text
    assert 'data-value="0.125">12.5%</td>' in text and 'data-value="">–</td>' in text


def test_empty_table_says_what_to_do():
    assert "zoo evaluate" in h.table("t", ["a"], [], empty="run `zoo evaluate`")


def test_selection_json_becomes_tables():
    data = {
        "tasks": 3,
        "methods": [{"method": "<m2v>", "top1": 0.5}, {"method": "chance", "top1": 0.1}],
        "per_method": {"a": {"tau": 0.2}},
        "flags": {"x": 1},
        "nested": [[1, 2]],
        "held_out": ["t<1>", "t2"],
        "markdown": "| a |\n| - |",
    }
    text = h.json_section(data, table_prefix="sel")
    assert 'id="sel-summary"' in text and "&lt;m2v&gt;" in text
    assert text.count("<table") == 4  # summary, methods, per_method, flags
    assert "<pre>[\n  [\n    1," in text  # nested lists as JSON
    assert "<p>t&lt;1&gt;, t2</p>" in text and "<pre>| a |\n| - |</pre>" in text
    assert h.json_section([{"a": 1}]).count("<tr>") == 2
    assert "&lt;" in h.json_section("<plain>")


def test_task_page_names_are_safe_and_unique():
    names = ["a/b", "a_b", "a b", "..", "<x>", "é" * 100]
    pages = [task_page_name(n) for n in names]
    assert len(set(pages)) == len(names)
    assert all(p.endswith(".html") and "/" not in p and not p.startswith(".") for p in pages)
    assert all(set(p) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") for p in pages)


def test_page_is_self_contained():
    text = h.page("T <1>", "<p>x</p>", nav=[h.Link("home", "index.html")])
    assert "http://" not in text and "https://" not in text and "<script src" not in text
    assert "<title>T &lt;1&gt;</title>" in text


def test_cli_module_imports_no_heavy_libraries():
    code = (
        "import sys, zoo.cli.plot; "
        "print(sorted(m for m in ('numpy', 'matplotlib', 'torch', 'scipy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_results_are_listed_best_first_whatever_the_order_they_come_in():
    """Lowest first for an error or a loss, highest first for any other metric (an accuracy)."""
    from zoo.report.site import Measurement, sort_results

    def made(metric, values):
        return [Measurement(f"m{v}", metric, v, "p", 1, 1) for v in values]

    unsorted = [0.35, 0.05, 0.25, 0.15]
    assert [m.value for m in sort_results(made("test_error", unsorted))] == [0.05, 0.15, 0.25, 0.35]
    assert [m.value for m in sort_results(made("val_loss", unsorted))] == [0.05, 0.15, 0.25, 0.35]
    assert [m.value for m in sort_results(made("accuracy", unsorted))] == [0.35, 0.25, 0.15, 0.05]
