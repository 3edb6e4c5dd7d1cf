"""The Avellaneda-Stoikov experiment's outputs: `report.json`, a plot, and a console table.

The plot has two panels: one sample path of the inventory strategy (mid, bid and ask quotes,
inventory on a second axis) and the profit histograms of both strategies, the figures of the
paper's section 3.3. matplotlib draws it with the Agg backend (no display needed).
"""

from __future__ import annotations

import json
from pathlib import Path

from supervision.experiments.avellaneda_stoikov import ExperimentResult, closed_form_spread

__all__ = ["format_table", "write_report"]

# Avellaneda & Stoikov (2008), section 3.3, the tables for gamma = 0.1 and 0.01 (1000 paths):
# spread, profit, std(profit), final q, std(final q).
PAPER_TABLES = {
    0.1: {"inventory": (1.29, 62.94, 5.89, 0.10, 2.80),
          "symmetric": (1.29, 67.21, 13.43, -0.018, 8.66)},
    0.01: {"inventory": (1.33, 66.78, 8.76, -0.02, 4.70),
           "symmetric": (1.33, 67.36, 13.40, -0.31, 8.65)},
}


def write_report(result: ExperimentResult, directory: str | Path) -> tuple[Path, Path]:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.json"
    report.write_text(json.dumps(result.report(), indent=2) + "\n", encoding="utf-8")
    plot = out / "avellaneda_stoikov.png"
    _plot(result, plot)
    return report, plot


def _plot(result: ExperimentResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_path, ax_hist) = plt.subplots(1, 2, figsize=(13, 4.8))
    rows = result.sample_path.trace
    t = [r[0] for r in rows]
    ax_path.plot(t, [r[1] for r in rows], color="black", lw=1.0, label="mid")
    ax_path.plot(t, [r[2] for r in rows], color="tab:green", lw=0.8, label="bid quote")
    ax_path.plot(t, [r[3] for r in rows], color="tab:red", lw=0.8, label="ask quote")
    ax_path.set_xlabel("time")
    ax_path.set_ylabel("price")
    ax_q = ax_path.twinx()
    ax_q.step(t, [r[4] for r in rows], color="tab:blue", lw=0.8, where="post", alpha=0.6,
              label="inventory")
    ax_q.set_ylabel("inventory (shares)")
    ax_path.legend(loc="upper left", fontsize=8)
    ax_path.set_title(f"sample path, inventory strategy, gamma={result.params.gamma}")
    ax_hist.hist(result.inventory_profits, bins=40, alpha=0.6, label="inventory")
    ax_hist.hist(result.symmetric_profits, bins=40, alpha=0.6, label="symmetric")
    ax_hist.set_xlabel("profit at T")
    ax_hist.set_ylabel("paths")
    ax_hist.legend(fontsize=8)
    ax_hist.set_title(f"profit over {result.inventory.paths} paths")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_table(result: ExperimentResult) -> str:
    header = (f"{'strategy':<10} {'spread':>8} {'profit':>9} {'std(profit)':>12} "
              f"{'final q':>9} {'std(q)':>8}")
    lines = [f"Avellaneda-Stoikov, gamma={result.params.gamma}, {result.inventory.paths} paths "
             f"(closed-form mean spread {closed_form_spread(result.params):.3f})", header]
    for name, s in (("inventory", result.inventory), ("symmetric", result.symmetric)):
        lines.append(f"{name:<10} {s.spread_mean:>8.3f} {s.profit_mean:>9.2f} "
                     f"{s.profit_std:>12.2f} {s.final_q_mean:>9.3f} {s.final_q_std:>8.2f}")
    paper = PAPER_TABLES.get(result.params.gamma)
    if paper is not None:
        lines.append("paper (2008), same columns:")
        for name, row in paper.items():
            lines.append(f"{name:<10} " + " ".join(
                f"{v:>{w}}" for v, w in zip(row, (8, 9, 12, 9, 8), strict=True)))
    return "\n".join(lines)
