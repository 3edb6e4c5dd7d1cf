"""The Avellaneda-Stoikov experiment's outputs: `report.json`, `tables.md`, a plot, and the same
tables on the console.

Each gamma gets one table: per strategy, our figures in the paper's model, the paper's, the
difference in standard errors of the difference (z, see `as_paper`), and Troupe's post-only
variant where it was run. The plot shows, per gamma, one sample path of the inventory strategy
(mid, quotes, inventory) and both strategies' profit histograms, the figures of the paper's
section 3.3; matplotlib draws it with the Agg backend (no display needed).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from supervision.config.experiment import ExperimentVariant
from supervision.experiments.as_paper import PAPER_TABLES, Figure, Z, compare
from supervision.experiments.as_tables import Table, TablesResult
from supervision.experiments.avellaneda_stoikov import STRATEGIES

__all__ = ["comparisons", "format_tables", "misses", "report", "write_report"]

_COLUMNS = ("spread_mean", "profit_mean", "profit_std", "final_q_mean", "final_q_std")
_PAPER_COLUMNS = ("spread", *_COLUMNS[1:])
_HEADER = "| strategy | row | spread | profit | std(profit) | final q | std(final q) |"


def comparisons(table: Table, paper_gamma: float | None = None) -> dict[str, list[Figure]]:
    """Each strategy's figures against the paper's row for its gamma (or `paper_gamma`'s), for
    a gamma the paper has a table of."""
    paper = PAPER_TABLES.get(table.params.gamma if paper_gamma is None else paper_gamma)
    if paper is None:
        return {}
    quoted = table.symmetric.spread_mean  # the spread both of the paper's strategies share
    return {s: compare(table.summary(s), paper[s], spread=quoted) for s in STRATEGIES}


def misses(table: Table, paper_gamma: float | None = None) -> list[str]:
    """The figures of a table outside the paper's sampling error, as "strategy column" names."""
    found = comparisons(table, paper_gamma)
    return [f"{strategy} {f.column}" for strategy, figures in found.items()
            for f in figures if not f.within]


def report(result: TablesResult) -> dict[str, Any]:
    out: dict[str, Any] = {"elapsed_s": result.elapsed_s, "workers": result.workers,
                           "paths_run": result.paths_run, "z": Z, "tables": []}
    for table in result.tables:
        entry = table.as_dict()
        entry["vs_paper"] = {
            s: {f.column: {"ours": f.ours, "paper": f.paper, "se": f.se,
                           "z": None if math.isnan(f.z) else f.z, "within": f.within}
                for f in figures}
            for s, figures in comparisons(table).items()}
        out["tables"].append(entry)
    return out


def _cells(values: list[float]) -> str:
    spread, profit, profit_std, q, q_std = values
    return f"{spread:.2f} | {profit:.2f} | {profit_std:.2f} | {q:.3f} | {q_std:.2f}"


def format_tables(result: TablesResult) -> str:
    """Markdown: one table per gamma, ours (paper model) / paper / z / post-only per strategy."""
    gammas = list(dict.fromkeys(t.params.gamma for t in result.tables))
    parts = []
    for gamma in gammas:
        mine = [t for t in result.tables if t.params.gamma == gamma]
        model = next((t for t in mine if t.params.variant is ExperimentVariant.PAPER), mine[0])
        post = next((t for t in mine if t.params.variant is ExperimentVariant.POST_ONLY), None)
        figures = comparisons(model)
        n = model.inventory.paths
        lines = [f"gamma = {gamma} ({n} paths a strategy; z = (ours - paper) / standard error "
                 f"of the difference, * where |z| > {Z:g})", "", _HEADER,
                 "|---|---|---|---|---|---|---|"]
        for strategy in STRATEGIES:
            s = model.summary(strategy)
            lines.append(f"| {strategy} | ours ({model.params.variant}) | "
                         + _cells([getattr(s, c) for c in _COLUMNS]) + " |")
            if strategy in figures:
                row = PAPER_TABLES[gamma][strategy]
                lines.append(f"| {strategy} | paper | "
                             + _cells([getattr(row, c) for c in _PAPER_COLUMNS]) + " |")
                zs = [f"{f.z:+.1f}{'' if f.within else '*'}" if not math.isnan(f.z)
                      else ("=" if f.within else "*") for f in figures[strategy]]
                lines.append(f"| {strategy} | z | " + " | ".join(zs) + " |")
            if post is not None:
                p = post.summary(strategy)
                lines.append(f"| {strategy} | Troupe post-only | "
                             + _cells([getattr(p, c) for c in _COLUMNS]) + " |")
        lines.append("")
        lines.append(f"(inventory strategy's own average quoted spread: "
                     f"{model.inventory.spread_mean:.3f}; the paper's spread column is "
                     f"(2/gamma) ln(1 + gamma/k), the symmetric strategy's)")
        parts.append("\n".join(lines))
    parts.append(f"{result.paths_run} paths run in {result.elapsed_s:.0f} s on {result.workers} "
                 f"worker(s)")
    return "\n\n".join(parts)


def write_report(result: TablesResult, directory: str | Path) -> tuple[Path, Path, Path]:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    report_path = out / "report.json"
    report_path.write_text(json.dumps(report(result), indent=2) + "\n", encoding="utf-8")
    tables = out / "tables.md"
    tables.write_text(format_tables(result) + "\n", encoding="utf-8")
    plot = out / "avellaneda_stoikov.png"
    _plot(result, plot)
    return report_path, tables, plot


def _plot(result: TablesResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = ([t for t in result.tables if t.params.variant is ExperimentVariant.PAPER]
             or list(result.tables))
    fig, axes = plt.subplots(2, len(shown), figsize=(6 * len(shown), 8), squeeze=False)
    for column, table in enumerate(shown):
        ax_path, ax_hist = axes[0][column], axes[1][column]
        rows = table.sample_path.trace if table.sample_path is not None else ()
        t = [r[0] for r in rows]
        ax_path.plot(t, [r[1] for r in rows], color="black", lw=1.0, label="mid")
        ax_path.plot(t, [r[2] for r in rows], color="tab:green", lw=0.8, label="bid quote")
        ax_path.plot(t, [r[3] for r in rows], color="tab:red", lw=0.8, label="ask quote")
        ax_path.set_xlabel("time")
        ax_path.set_ylabel("price")
        ax_q = ax_path.twinx()
        ax_q.step(t, [r[4] for r in rows], color="tab:blue", lw=0.8, where="post", alpha=0.6)
        ax_q.set_ylabel("inventory (shares)")
        ax_path.legend(loc="upper left", fontsize=8)
        ax_path.set_title(f"sample path, inventory strategy, gamma={table.params.gamma}")
        ax_hist.hist(table.inventory_profits, bins=40, alpha=0.6, label="inventory")
        ax_hist.hist(table.symmetric_profits, bins=40, alpha=0.6, label="symmetric")
        ax_hist.set_xlabel("profit at T")
        ax_hist.set_ylabel("paths")
        ax_hist.legend(fontsize=8)
        ax_hist.set_title(f"profit over {table.inventory.paths} paths, gamma={table.params.gamma}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
