"""report.html: the trading report as one self-contained page a trader opens offline.

Every plot is a PNG drawn with matplotlib's Agg backend and embedded as a base64 `data:` URI;
there is no script, stylesheet or font to fetch, so the file works from an e-mail attachment
or an air-gapped machine. The page shows, from `report.json` and the tables behind it: the
headline figures and the go/no-go table; equity and inventory over time; markout curves by
side with their counts; the PnL decomposition as bars; fill-sanity histograms (fill against
the trade, quote age, fill size against the quote); the ack latency histograms; the config
used. docs/analytics.md explains each figure.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

__all__ = ["render_html"]

SECOND = 1e9
_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;
text-align:right}th{background:#f3f3f3}.pass{color:#070;font-weight:bold}
.fail{color:#b00;font-weight:bold}img{max-width:100%;display:block;margin:1em 0}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}"""


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode()
    alt = html.escape(fig.get_label() or "plot")
    return f'<img alt="{alt}" src="data:image/png;base64,{data}">'


def _figure(label: str, ncols: int = 1) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 3.2))
    fig.set_label(label)
    return fig, axes


def _equity_inventory(tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    fig, (left, right) = _figure("equity and inventory", 2)
    equity = tables.get("equity", [])
    if equity:
        t0 = equity[0]["ns"]
        left.plot([(r["ns"] - t0) / SECOND for r in equity], [float(r["equity"]) for r in equity])
    left.set(title="equity", xlabel="seconds", ylabel="quote")
    for name in sorted({r["instrument"] for r in tables.get("inventory", [])}):
        rows = [r for r in tables["inventory"] if r["instrument"] == name]
        t0 = rows[0]["ns"]
        right.step([(r["ns"] - t0) / SECOND for r in rows], [r["lots"] for r in rows],
                   where="post", label=name)
        right.legend()
    right.set(title="inventory", xlabel="seconds", ylabel="lots")
    return _png(fig)


def _markouts(markout: Mapping[str, Any]) -> str:
    horizons = list(markout)
    if not any(markout[h]["all"]["count"] for h in horizons):
        return "<p>no fill has reached a markout horizon yet</p>"
    fig, ax = _figure("markout curves by side")
    for side in ("all", "buy", "sell"):
        points = [(h, markout[h][side]) for h in horizons if markout[h][side]["count"]]
        xs = [float(h.rstrip("s")) for h, _ in points]
        ax.plot(xs, [m["mean_bps"] for _, m in points], marker="o", label=side)
        if side != "all":
            for x, (_, m) in zip(xs, points, strict=True):
                ax.annotate(f"n={m['count']}", (x, m["mean_bps"]), fontsize=7)
    ax.axhline(0, color="#999", linewidth=0.8)
    ax.set_xscale("log")
    ax.set(title="markout after the fill (mean bps)", xlabel="seconds after fill", ylabel="bps")
    ax.legend()
    return _png(fig)


def _decomposition(d: Mapping[str, Any]) -> str:
    fig, ax = _figure("PnL decomposition")
    names = ["spread_capture", "adverse_selection", "inventory_mark_to_market", "fees", "total"]
    values = [float(Decimal(d[n])) for n in names]
    ax.bar([n.replace("_", "\n") for n in names], values,
           color=["#2a7" if v >= 0 else "#c44" for v in values])
    ax.axhline(0, color="#999", linewidth=0.8)
    ax.set(title=f"PnL decomposition (adverse selection at {d['horizon_s']} s)", ylabel="quote")
    return _png(fig)


def _histograms(fills: Sequence[Mapping[str, Any]], latency: Sequence[Mapping[str, Any]]
                ) -> list[str]:
    vs_trade: dict[str, list[float]] = {"buy": [], "sell": []}
    for f in fills:
        if f.get("trade_price_ticks") is not None:
            sign = 1 if f["side"] == "buy" else -1
            vs_trade[f["side"]].append(
                sign * (f["trade_price_ticks"] - f["price_ticks"]) / f["price_ticks"] * 1e4)
    fig, (a, b, c) = _figure("fill sanity", 3)
    a.hist([vs_trade["buy"], vs_trade["sell"]], bins=20, label=["buy", "sell"])
    a.set(title="trade vs fill (bps, <= 0 sane)", ylabel="fills")
    a.legend()
    b.hist([f["quote_age_s"] for f in fills if f.get("quote_age_s") is not None], bins=30)
    b.set(title="quote age at fill (s)")
    c.hist([f["size_vs_quote"] for f in fills if f.get("size_vs_quote") is not None], bins=20)
    c.set(title="fill size / quote size")
    out = [_png(fig)]
    fig, axes = _figure("latency", 2)
    for ax, kind in zip(axes, ("order_ack", "cancel_ack"), strict=True):
        ax.hist([r["ms"] for r in latency if r["kind"] == kind], bins=30)
        ax.set(title=f"{kind.replace('_', ' ')} latency (ms)", ylabel="count")
    out.append(_png(fig))
    return out


def _table(rows: Sequence[Sequence[Any]], head: Sequence[str]) -> str:
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{cells}</tr>{body}</table>"


def render_html(data: Mapping[str, Any], tables: Mapping[str, Sequence[Mapping[str, Any]]],
                config_text: str, title: str = "Troupe trading report") -> str:
    """The page, as a string."""
    esc = html.escape
    pnl = data["pnl"]
    headline = _table([[esc(str(v)) for v in (
        data["orders"]["sent"], data["fills"], data["fill_ratio"], data["reject_ratio"],
        f"{pnl['total']} {pnl['currency']}", pnl["fees"], data["max_drawdown"],
        data["expectancy"])]],
        ["orders sent", "fills", "fill ratio", "reject ratio", "total PnL", "fees",
         "max drawdown", "expectancy"])
    verdicts = _table([[esc(v["metric"]), esc(f"{v['op']} {v['threshold']}"),
                        esc(str(v["value"])),
                        f'<span class="{"pass" if v["pass"] else "fail"}">'
                        f'{"PASS" if v["pass"] else "FAIL"}</span>'] for v in data["go_no_go"]],
                      ["criterion", "threshold", "value", "result"])
    markout_rows = [[esc(h), *(f"{m[s]['mean_bps']} ({m[s]['count']})" for s in
                               ("all", "buy", "sell"))] for h, m in data["markout"].items()]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{esc(title)}</h1>",
        headline, "<h2>Go / no-go</h2>", verdicts,
        "<h2>Equity and inventory</h2>", _equity_inventory(tables),
        "<h2>Markouts</h2>", _markouts(data["markout"]),
        _table(markout_rows, ["horizon", "all bps (n)", "buy bps (n)", "sell bps (n)"]),
        "<h2>PnL decomposition</h2>", _decomposition(data["decomposition"]),
        "<h2>Fill sanity and latency</h2>",
        *_histograms(tables.get("fills", []), tables.get("latency", [])),
        "<h2>Why not trading</h2>",
        _table([[esc(k), v] for k, v in data["why"].items()], ["reason", "count"]),
        "<h2>Config used</h2>", f"<pre>{esc(config_text)}</pre>", "</body></html>\n",
    ]
    return "\n".join(parts)
