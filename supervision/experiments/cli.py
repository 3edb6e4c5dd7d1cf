"""The command line of sweeps and optimisation: flags of `python -m supervision.main`.

    python -m supervision.main config/backtest.toml --report out/sweep \\
        --sweep strategies.0.params.gamma=1e-10,4e-10 --sweep strategies.0.params.k=0.01,0.04
    python -m supervision.main config/backtest.toml --report out/opt --optimize pnl.total \\
        --trials 30 --space strategies.0.params.gamma=1e-11:1e-9:log --walk-forward 0.7
    ... --scheduler tcp://10.0.0.5:8786        # the same, on a Dask cluster

Only the standard library is imported until the flags are used (`supervision.main` keeps its
start-up light). Every user mistake (a key, a value, a field, a span, a scheduler that does not
answer) is one line on stderr and exit code 2, before any variant runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_arguments", "given", "run", "used"]

_FLAGS = ("sweep", "optimize", "space", "walk_forward", "span", "scheduler", "workers",
          "trials", "rank", "seed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "sweeps and optimisation (backtests; docs/backtest.md)")
    g.add_argument("--sweep", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="run every combination of these values (repeatable); writes "
                        "sweep.json and sweep.html in --report DIR")
    g.add_argument("--rank", default="pnl.total", metavar="FIELD[:max|:min]",
                   help="the report.json field the sweep ranks by (default: pnl.total)")
    g.add_argument("--optimize", default=None, metavar="FIELD[:max|:min]",
                   help="search --space for the best value of this report.json field (Optuna "
                        "TPE); writes optimize.json and optimize.html")
    g.add_argument("--trials", type=int, default=20, metavar="N",
                   help="trials of --optimize (default: 20)")
    g.add_argument("--space", action="append", default=[],
                   metavar="KEY=LOW:HIGH[:int][:log] | KEY=A,B,...",
                   help="a dimension of the search (repeatable)")
    g.add_argument("--seed", type=int, default=0, help="the sampler's seed (default: 0)")
    g.add_argument("--walk-forward", default=None, metavar="SPLIT",
                   help="optimise on the data before SPLIT and report the best parameters on "
                        "the data after it: a fraction (0.7) or seconds of market time (200s)")
    g.add_argument("--span", default=None, metavar="START:END",
                   help="replay only these seconds of market time of the recording (0:120)")
    g.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run the variants on this Dask cluster (default: local processes)")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local processes (default: CPU count); with --optimize, also the "
                        "trials asked at once")


def given(args: argparse.Namespace) -> list[str]:
    """The flags of this group that were given, as typed (`--walk-forward`)."""
    defaults = {"sweep": [], "space": [], "trials": 20, "rank": "pnl.total", "seed": 0}
    return ["--" + f.replace("_", "-") for f in _FLAGS if getattr(args, f) != defaults.get(f)]


def used(args: argparse.Namespace) -> bool:
    """Whether any flag of this group was given (then `run` handles the command)."""
    return bool(given(args))


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return 2


def _progress(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def run(args: argparse.Namespace, config: Any) -> int:
    """Run the sweep or the optimisation the flags ask for; the exit code."""
    if not args.sweep and args.optimize is None:
        return _fail("--scheduler, --workers, --span, --rank, --space, --trials, --seed and "
                     "--walk-forward go with --sweep or --optimize")
    if args.sweep and args.optimize is not None:
        return _fail("--sweep and --optimize are two commands: give one")
    if getattr(config, "profile", None) is None or config.profile.value != "backtest":
        return _fail("--sweep and --optimize run backtests: the config's profile must be "
                     "\"backtest\"")
    if args.report is None:
        return _fail("--sweep and --optimize write their tables in --report DIR: give one")
    from supervision.config.load import ConfigError
    from supervision.experiments.executors import ExecutorError
    from supervision.experiments.ranking import ObjectiveError
    from supervision.experiments.spans import SpanError
    from supervision.experiments.sweep import SweepError

    try:
        if args.sweep:
            return _sweep(args, config)
        return _optimize(args, config)
    except (SweepError, ObjectiveError, SpanError, ExecutorError) as exc:
        return _fail(str(exc))
    except ConfigError as exc:
        return _fail("; ".join(exc.problems))
    except (ValueError, OSError) as exc:
        return _fail(str(exc))


def _base(args: argparse.Namespace, config: Any, directory: Path, span: Any) -> Any:
    from supervision.experiments.jobs import Base, prepare_data

    data = prepare_data(config, span, directory / "data")
    return Base(args.config, tuple(args.overrides), data)


def _sample_figures(config: Any) -> dict[str, Any]:
    from actors.analytics import build_report
    from supervision.report import settings_for

    return dict(build_report([], settings_for(config)).data)


def _sweep(args: argparse.Namespace, config: Any) -> int:
    from supervision.experiments.executors import open_executor
    from supervision.experiments.jobs import Base
    from supervision.experiments.ranking import parse_objective
    from supervision.experiments.spans import Span, parse_span
    from supervision.experiments.sweep import (
        check_values,
        combinations,
        parse_axis,
        run_sweep,
    )
    from supervision.experiments.sweep_html import format_table

    objective = parse_objective(args.rank)
    objective.check(_sample_figures(config))
    axes = [parse_axis(text) for text in args.sweep]
    span = parse_span(args.span) if args.span else Span()
    check_values(Base(args.config, tuple(args.overrides)), combinations(axes))
    directory = Path(args.report)
    base = _base(args, config, directory, span)
    with open_executor(args.scheduler, workers=args.workers) as executor:
        table = run_sweep(base, axes, objective, executor, directory,
                          span=None if span.whole else span.label(), progress=_progress)
    print(format_table(table["variants"], list(table["axes"]), objective.label(),
                       table["columns"]))
    print(f"wrote {directory / 'sweep.json'} and {directory / 'sweep.html'}")
    return 0


def _optimize(args: argparse.Namespace, config: Any) -> int:
    from supervision.experiments.optimize import main_optimize

    return main_optimize(args, config, sample=_sample_figures(config), base_for=_base,
                         progress=_progress, say=print)
