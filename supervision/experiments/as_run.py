"""`python -m supervision.main config/avellaneda_stoikov.toml [--report DIR]`: the experiment
from its configuration, with progress on stderr and the tables on stdout.

An experiment is no node: the node's flags (`--duration`, `--execute`, `--repl`, sweeps) are
refused, each with what the experiment takes instead. Ctrl-C (or SIGTERM, SIGHUP) stops it: the
worker processes ignore the signal the terminal sends them too, are terminated by this one,
and the one line says what was written (nothing: the report comes at the end); exit 130.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from supervision.config.experiment import ExperimentConfig
from supervision.experiments.as_report import format_tables, write_report
from supervision.experiments.as_tables import run_tables
from supervision.experiments.avellaneda_stoikov import ASParams
from supervision.node.process import STOP, STOP_SIGNALS
from supervision.node.progress import Progress

__all__ = ["experiment_params", "main_experiment", "refused_flag"]

INTERRUPTED = 130

_INSTEAD = {
    "--duration": "it stops after experiment.paths paths a strategy: for a shorter run give "
                  "--set experiment.paths=N",
    "--execute": "it simulates its paths and sends no order",
    "--confirm-live": "it simulates its paths and sends no order",
    "--repl": "it simulates its paths in worker processes, with no node to attach to",
}


def refused_flag(flag: str) -> str:
    """The one line refusing `flag`, a node's or a backtest's, given with an experiment."""
    instead = _INSTEAD.get(flag, "it runs the values of its config: vary them with "
                                 "--set experiment.KEY=VALUE or --set strategy.gamma=G")
    return f"{flag} does not apply to an experiment: {instead}"


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
    try:
        with _interruptible():
            result = run_tables(bases, workers=workers, progress=Progress("A-S paths"))
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted: the experiment stopped before its tables; "
                         "nothing written\n")
        return INTERRUPTED
    sys.stdout.write(format_tables(result) + "\n")
    if report_dir is not None:
        try:
            written = write_report(result, Path(report_dir))
        except OSError as exc:
            sys.stderr.write(f"error: cannot write the report to {report_dir}: {exc}\n")
            return 2
        sys.stdout.write("wrote " + ", ".join(str(path) for path in written) + "\n")
    return 0


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """A stop signal raises KeyboardInterrupt here, so the workers can be ended and one line
    said: `STOP` ends the process at once before a node starts, from every process that
    inherited it, the forked workers too (the line came once per process, and they lived on)."""
    if not STOP.installed:  # called in-process (tests): Python's own Ctrl-C
        yield
        return
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.default_int_handler)
    try:
        yield
    finally:
        STOP.install()
