"""`python -m supervision.main config/avellaneda_stoikov.toml [--report DIR]`: the experiment
from its configuration, with progress on stderr and the tables on stdout."""

from __future__ import annotations

import sys
from pathlib import Path

from supervision.config.schema import ExperimentConfig
from supervision.experiments.as_report import format_tables, write_report
from supervision.experiments.as_tables import run_tables
from supervision.experiments.avellaneda_stoikov import ASParams
from supervision.node.progress import Progress

__all__ = ["experiment_params", "main_experiment"]


def experiment_params(config: ExperimentConfig) -> list[ASParams]:
    """One `ASParams` per gamma and variant, in the configuration's order."""
    e = config.experiment
    return [ASParams(s0=float(e.s0), T=e.T, sigma=e.sigma, dt=e.dt, q0=e.q0, k=e.k, A=e.A,
                     gamma=gamma, tick=e.tick, arrivals=e.arrivals.value, paths=e.paths,
                     seed=e.seed, variant=variant, display_offset=e.display_offset,
                     market_orders=e.market_orders.value,
                     symmetric_spread=e.symmetric_spread.value)
            for gamma in config.strategy.gamma_list for variant in e.variants]


def main_experiment(config: ExperimentConfig, report_dir: str | None) -> int:
    bases = experiment_params(config)
    workers = config.experiment.workers
    sys.stderr.write(f"Avellaneda-Stoikov: {len(bases)} tables x {config.experiment.paths} "
                     f"paths a strategy on {workers} worker(s)\n")
    result = run_tables(bases, workers=workers, progress=Progress("A-S paths"))
    sys.stdout.write(format_tables(result) + "\n")
    if report_dir is not None:
        try:
            written = write_report(result, Path(report_dir))
        except OSError as exc:
            sys.stderr.write(f"error: cannot write the report to {report_dir}: {exc}\n")
            return 2
        sys.stdout.write("wrote " + ", ".join(str(path) for path in written) + "\n")
    return 0
