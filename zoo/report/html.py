"""HTML building blocks for the static report: escaping, sortable tables, the page shell.

Everything is self-contained (inline CSS and a small vanilla-JS table sorter, no
CDN) so a page opens from the file system, offline. Every piece of text that
comes from the registry goes through :func:`escape`.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Link:
    """A table cell or inline text that links to ``href`` (a relative URL)."""

    text: str
    href: str


@dataclass(frozen=True)
class Number:
    """A numeric cell shown as ``text`` and sorted by ``value`` (None sorts last)."""

    value: float | None
    text: str


def escape(value: Any) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def percent(fraction: float | None, digits: int = 1) -> Number:
    """A fraction shown as a percentage, sorted by its value."""
    if fraction is None or not math.isfinite(fraction):
        return Number(None, "–")
    return Number(float(fraction), f"{100.0 * fraction:.{digits}f}%")


def number(value: float | int | None, digits: int = 3) -> Number:
    """A number shown with ``digits`` significant digits (integers as they are)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return Number(None, "–")
    if isinstance(value, int) and not isinstance(value, bool):
        return Number(float(value), f"{value:,}")
    return Number(float(value), f"{value:.{digits}g}")


def fixed(value: float | None, decimals: int = 4) -> Number:
    """A number with a fixed count of decimals (distances line up in a column)."""
    if value is None or not math.isfinite(value):
        return Number(None, "–")
    return Number(float(value), f"{value:.{decimals}f}")


def cell(value: Any) -> str:
    """One ``<td>``: links, numbers (with a sort value) and escaped text."""
    if isinstance(value, Link):
        return f'<td><a href="{escape(value.href)}">{escape(value.text)}</a></td>'
    if isinstance(value, Number):
        sort = "" if value.value is None else repr(value.value)
        return f'<td class="num" data-value="{sort}">{escape(value.text)}</td>'
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    if isinstance(value, (int, float)):
        return cell(number(value))
    return f"<td>{escape(value)}</td>"


def table(
    table_id: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    caption: str | None = None,
    empty: str = "Nothing here yet.",
) -> str:
    """A sortable table (click a header); numeric columns are detected from the cells."""
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    numeric = [
        all(isinstance(r[i], (Number, int, float)) and not isinstance(r[i], bool) for r in rows)
        for i in range(len(headers))
    ]
    head = "".join(
        f'<th scope="col" data-type="{"number" if numeric[i] else "text"}" tabindex="0">{escape(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = "\n".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (
        f'<table class="sortable" id="{escape(table_id)}">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>\n{body}\n</tbody></table>"
    )


def json_section(data: Any, *, table_prefix: str = "json") -> str:
    """Render a JSON document (e.g. a selection-quality report) as headings and tables.

    Scalars become a key/value table, lists of objects and objects of objects
    become sortable tables, anything deeper is shown as pretty-printed JSON.
    """
    if isinstance(data, list):
        return _json_rows_table(f"{table_prefix}-rows", data) or _pre(data)
    if not isinstance(data, dict):
        return _pre(data)
    scalars = [(k, v) for k, v in data.items() if _is_scalar(v) and not _is_long_text(v)]
    parts = []
    if scalars:
        parts.append(table(f"{table_prefix}-summary", ["field", "value"], [[k, _scalar(v)] for k, v in scalars]))
    blocks = [(k, v) for k, v in data.items() if not _is_scalar(v) or _is_long_text(v)]
    for index, (key, value) in enumerate(blocks):
        block_id = f"{table_prefix}-{index}"
        rendered = None
        if _is_long_text(value):
            rendered = f"<pre>{escape(value)}</pre>"
        elif isinstance(value, list) and value and all(_is_scalar(v) for v in value):
            rendered = f"<p>{escape(', '.join('–' if v is None else str(v) for v in value))}</p>"
        elif isinstance(value, list):
            rendered = _json_rows_table(block_id, value)
        elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            rendered = _json_rows_table(block_id, [{"name": k, **v} for k, v in value.items()])
        elif isinstance(value, dict) and all(_is_scalar(v) for v in value.values()):
            rendered = table(block_id, ["field", "value"], [[k, _scalar(v)] for k, v in value.items()])
        parts.append(f"<h3>{escape(key)}</h3>" + (rendered or _pre(value)))
    return "\n".join(parts)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _is_long_text(value: Any) -> bool:
    return isinstance(value, str) and ("\n" in value or len(value) > 200)


def _scalar(value: Any) -> Any:
    return number(value, 4) if isinstance(value, float) else value


def _json_rows_table(table_id: str, rows: list) -> str | None:
    if not rows or not all(isinstance(r, dict) for r in rows):
        return None
    headers = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[_scalar(r.get(h)) if _is_scalar(r.get(h)) else json.dumps(r.get(h)) for h in headers] for r in rows]
    return table(table_id, headers, cells)


def _pre(value: Any) -> str:
    return f"<pre>{escape(json.dumps(value, indent=2, default=str))}</pre>"


STYLE = """
:root { --fg:#1d232b; --muted:#5b6673; --line:#d9dee4; --accent:#2f5f98; --zebra:#f5f7fa; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0; background: #fff; }
header { background: #1f3b5c; color: #fff; padding: 14px 28px; }
header a { color: #cfe0f5; }
header h1 { margin: 0; font-size: 22px; }
header p { margin: 4px 0 0; color: #cfd8e3; font-size: 13px; }
nav a { margin-right: 16px; }
main { padding: 8px 28px 40px; max-width: 1400px; }
h2 { border-bottom: 2px solid var(--line); padding-bottom: 4px; margin-top: 32px; }
a { color: var(--accent); }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
caption { text-align: left; color: var(--muted); padding: 4px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 10px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: var(--zebra); }
th { background: #e9eef4; position: sticky; top: 0; cursor: pointer; user-select: none; white-space: nowrap; }
th::after { content: " \\2195"; color: #9aa5b1; }
th[aria-sort="ascending"]::after { content: " \\25B2"; color: var(--fg); }
th[aria-sort="descending"]::after { content: " \\25BC"; color: var(--fg); }
.tag { display: inline-block; background: #e6eef8; border-radius: 3px; padding: 0 5px; margin: 1px; font-size: 12px; }
.empty, .note { color: var(--muted); }
figure { margin: 12px 0 24px; }
figure img { max-width: 100%; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; }
pre { background: var(--zebra); padding: 10px; overflow-x: auto; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
"""

# Click a header to sort its table (again to reverse); numbers sort by data-value,
# empty cells always last. "#sort=TABLE_ID:COLUMN:desc" in the URL sorts on load.
SCRIPT = """
(function () {
  "use strict";
  function sortKey(cell, numeric) {
    if (!cell) { return null; }
    if (numeric) {
      var raw = cell.getAttribute("data-value");
      var value = raw === null || raw === "" ? NaN : parseFloat(raw);
      return isNaN(value) ? null : value;
    }
    var text = cell.textContent.trim().toLowerCase();
    return text === "" || text === "\\u2013" ? null : text;
  }
  function sortTable(table, column, descending) {
    var header = table.tHead.rows[0].cells[column];
    if (!header) { return; }
    var numeric = header.getAttribute("data-type") === "number";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = sortKey(a.cells[column], numeric), y = sortKey(b.cells[column], numeric);
      if (x === null || y === null) { return (x === null) - (y === null); }
      var order = x < y ? -1 : (x > y ? 1 : 0);
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      function activate() { sortTable(table, column, th.getAttribute("aria-sort") === "ascending"); }
      th.addEventListener("click", activate);
      th.addEventListener("keydown", function (event) { if (event.key === "Enter") { activate(); } });
    });
    table.setAttribute("data-sortable", "ready");
  });
  var match = /[#&]sort=([^:&]+):(\\d+)(?::(asc|desc))?/.exec(window.location.hash);
  if (match) {
    var target = document.getElementById(decodeURIComponent(match[1]));
    if (target && target.tHead) { sortTable(target, parseInt(match[2], 10), match[3] === "desc"); }
  }
})();
"""


def page(title: str, body: str, *, subtitle: str = "", nav: Sequence[Link] = ()) -> str:
    """A complete HTML document with the house CSS and the table sorter inlined."""
    links = "".join(f'<a href="{escape(link.href)}">{escape(link.text)}</a>' for link in nav)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="icon" href="data:,">
<style>{STYLE}</style>
</head>
<body>
<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p><nav>{links}</nav></header>
<main>
{body}
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""
