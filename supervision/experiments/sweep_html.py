"""sweep.html and optimize.html: the comparison tables as one self-contained page each.

No script, font, stylesheet or image to fetch: the page opens offline, from a directory copied
anywhere. Each variant's name links to its own report.html beside it. The best row is marked
(class `best`), failed variants show their error, and a null figure shows as a dash. Values
are escaped: a parameter value is whatever the user typed.

`format_table` is the same table as text, for the terminal.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_table", "render_optimize", "render_sweep", "short_key"]

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f0f0f0; }
td.name, th.name, td.error { text-align: left; }
td.name { white-space: nowrap; }
tr.best td { background: #e6f4e6; font-weight: bold; }
tr.failed td { color: #a00; }
.meta { color: #555; }
h2 { margin-top: 1.5em; }
"""


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _cell(value: Any, css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return f"<td{klass}>{html.escape(_text(value))}</td>"


def short_key(key: str, keys: Sequence[str]) -> str:
    """A parameter's last part (`gamma`) when no other parameter ends the same, else the key."""
    last = key.rsplit(".", 1)[-1]
    return last if sum(k.rsplit(".", 1)[-1] == last for k in keys) == 1 else key


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body>{body}</body></html>\n")


def _meta(items: Mapping[str, Any]) -> str:
    rows = "".join(f"<li>{html.escape(k)}: <code>{html.escape(_text(v))}</code></li>"
                   for k, v in items.items() if v not in (None, "", [], {}))
    return f'<ul class="meta">{rows}</ul>'


def _rows_table(rows: Sequence[Mapping[str, Any]], params: Sequence[str], field: str,
                columns: Sequence[str], first: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in (first, "variant"))
    head += "".join(f'<th title="{html.escape(p)}">{html.escape(short_key(p, params))}</th>'
                    for p in params)
    head += f"<th>{html.escape(field)}</th>"
    head += "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        css = "failed" if row.get("error") else ("best" if row.get("rank") == 1 else "")
        name = html.escape(row["name"])
        link = (f'<a href="{html.escape(row["report"].replace("report.json", "report.html"))}">'
                f"{name}</a>" if row.get("report") else name)
        cells = [_cell(row.get(first)), f'<td class="name">{link}</td>']
        cells += [_cell(row["params"].get(p)) for p in params]
        cells.append(_cell(row.get("value")))
        if row.get("error"):
            cells.append(f'<td class="error" colspan="{len(columns)}">'
                         f'{html.escape(row["error"])}</td>')
        else:
            cells += [_cell(row["figures"].get(c)) for c in columns]
        body.append(f'<tr class="{css}">' + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_sweep(table: Mapping[str, Any]) -> str:
    rank = table["rank"]
    field = f"{rank['field']} ({rank['direction']})"
    body = (f"<h1>Sweep: {len(table['variants'])} variants ranked by {html.escape(field)}</h1>"
            + _meta({"config": table["config"], "overrides": " ".join(table["overrides"]),
                     "span (s of market time)": table.get("span"),
                     "executor": table["executor"]})
            + _rows_table(table["variants"], list(table["axes"]), field, table["columns"],
                          "rank"))
    return _page("Troupe sweep", body)


def render_optimize(result: Mapping[str, Any]) -> str:
    objective = result["objective"]
    field = f"{objective['field']} ({objective['direction']})"
    best = result.get("best") or {}
    parts = [f"<h1>Optimisation of {html.escape(field)}: {len(result['trials'])} trials</h1>",
             _meta({"config": result["config"], "overrides": " ".join(result["overrides"]),
                    "sampler": result["sampler"], "executor": result["executor"],
                    "in-sample span (s)": result.get("in_sample_span")}),
             "<h2>Best parameters (in sample)</h2>",
             _meta({**best.get("params", {}), "value": best.get("value"),
                    "trial": best.get("trial")})]
    outside = result.get("out_of_sample")
    if outside:
        chosen = [t for t in result["trials"] if t["trial"] == best.get("trial")]
        rows = [{**t, "span": f"{result['in_sample_span']} in sample"} for t in chosen]
        rows.append({**outside["row"], "span": f"{outside['span']} out of sample"})
        parts += [f"<h2>Out of sample: span {html.escape(outside['span'])} s, "
                  "not used by the search</h2>",
                  _rows_table(rows, list(result["space"]), field, result["columns"], "span")]
    parts += ["<h2>Trials</h2>",
              _rows_table(result["trials"], list(result["space"]), field, result["columns"],
                          "trial")]
    return _page("Troupe optimisation", "".join(parts))


def format_table(rows: Sequence[Mapping[str, Any]], params: Sequence[str], field: str,
                 columns: Sequence[str], first: str = "rank") -> str:
    """The rows as an aligned text table (the first column, params, the field, columns)."""
    header = [first, "variant", *(short_key(p, params) for p in params), field, *columns]
    lines = [[_text(row.get(first)), row["name"], *(_text(row["params"].get(p)) for p in params),
              _text(row.get("value")),
              *(("error: " + row["error"],) if row.get("error") else
                (_text(row["figures"].get(c)) for c in columns))]
             for row in rows]
    widths = [max([len(h), *(len(line[i]) for line in lines if i < len(line))])
              for i, h in enumerate(header)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip()
                     for line in [header, *lines])
