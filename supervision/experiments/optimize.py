"""Optimisation: Optuna's TPE sampler searches a space of config values for the best report field.

    python -m supervision.main config/backtest.toml --report out/opt --optimize pnl.total \\
        --trials 30 --space strategies.0.params.gamma=1e-11:1e-9:log \\
        --space strategies.0.params.k=0.005:0.05 --walk-forward 0.7

The space is declared on the command line, one `--space` per dimension:

| form | dimension |
|---|---|
| `KEY=LOW:HIGH` | a float between LOW and HIGH |
| `KEY=LOW:HIGH:log` | the same, sampled on a log scale (a scale parameter like gamma) |
| `KEY=LOW:HIGH:int` | an integer (`:int:log` too) |
| `KEY=A,B,C` | one of these values, as `--set` would read them |

Every value is a `--set` override, checked (LOW, HIGH and each choice) before anything runs; a
float is rounded to 6 significant digits.

Trials run on the sweep's executors (local processes, or a Dask cluster) in batches: the
sampler asks for `batch` trials (`--workers`, else the executor's slots), they run at once,
and their values are told back in trial order before the next batch is asked for. So the same
seed, space, data and batch size give the same trials, however the cluster schedules them.
A trial whose report has no value for the field (or that failed) is a failed trial, which TPE
leaves out.

Walk-forward (`--walk-forward SPLIT`): the search runs on the data before SPLIT (a fraction of
the span, `0.7`, or seconds of market time from the recording's start, `200s`); the best
parameters then run once on the data after SPLIT, which no trial saw. Both figures are in the
output, labelled in sample and out of sample.

Written to DIR: `trials/trial_000/...` (each trial's report), `out_of_sample/` (the best
parameters' report on the later span), `optimize.json` and `optimize.html`. optimize.json:
`config`, `overrides`, `objective` (`field`, `direction`), `sampler`, `executor`, `space`
(key -> as declared), `in_sample_span`, `columns`, `trials` (in order: `trial`, `name`,
`params`, `value`, `figures`, `report`, `error`, `state`), `best` (`trial`, `params`, `value`),
`out_of_sample` (`span`, `row`: the same fields as a trial's; null without --walk-forward).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from supervision.experiments.executors import Executor, open_executor
from supervision.experiments.jobs import Base
from supervision.experiments.ranking import Objective, parse_objective
from supervision.experiments.spans import Span, SpanError, market_seconds, parse_span
from supervision.experiments.sweep import SweepError, check_values, columns_for, row_of
from supervision.experiments.variants import Outcome
from supervision.node.backtest import backtest_data

__all__ = ["Dimension", "main_optimize", "parse_dimension", "run_optimize", "walk_forward"]


@attrs.frozen(slots=True)
class Dimension:
    key: str
    text: str  # as declared
    low: float = 0.0
    high: float = 0.0
    integer: bool = False
    log: bool = False
    choices: tuple[str, ...] = ()

    def values_to_check(self) -> list[str]:
        return list(self.choices) or [_format(self.low, self.integer),
                                      _format(self.high, self.integer)]

    def suggest(self, trial: Any) -> str:
        if self.choices:
            return str(trial.suggest_categorical(self.key, list(self.choices)))
        if self.integer:
            return str(trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log))
        return _format(trial.suggest_float(self.key, self.low, self.high, log=self.log), False)


def _format(value: float, integer: bool) -> str:
    """A value as `--set` text; a float to 6 significant digits (a table a person can read, and
    finer than any strategy parameter needs)."""
    return str(int(value)) if integer else repr(float(f"{value:.6g}"))


def parse_dimension(text: str) -> Dimension:
    """One `--space` as a Dimension; SweepError if it is not one."""
    key, sep, spec = text.partition("=")
    key = key.strip()
    if not sep or not key or not spec.strip():
        raise SweepError(f"--space {text}: expected KEY=LOW:HIGH[:int][:log] or KEY=A,B,...")
    if ":" not in spec:
        choices = tuple(c.strip() for c in spec.split(","))
        if not all(choices) or len(set(choices)) != len(choices):
            raise SweepError(f"--space {text}: choices must be distinct and non-empty")
        return Dimension(key, spec, choices=choices)
    low_text, _, rest = spec.partition(":")
    high_text, *flags = rest.split(":")
    if any(f not in ("int", "log") for f in flags):
        raise SweepError(f"--space {text}: after LOW:HIGH only :int and :log may follow")
    integer, log = "int" in flags, "log" in flags
    try:
        low, high = (int(low_text), int(high_text)) if integer else \
            (float(low_text), float(high_text))
    except ValueError:
        raise SweepError(f"--space {text}: LOW and HIGH must be "
                         f"{'integers' if integer else 'numbers'}") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high or (log and low <= 0):
        raise SweepError(f"--space {text}: need LOW < HIGH (and LOW > 0 on a log scale)")
    return Dimension(key, spec, low, high, integer, log)


def walk_forward(split: str, span: Span, recording: Path) -> tuple[Span, Span]:
    """The in-sample and out-of-sample spans of `span` split at SPLIT (`0.7` or `200s`)."""
    end = span.end if span.end is not None else market_seconds(recording)
    at = math.nan
    try:
        if split.endswith("s"):
            at = float(split[:-1])
        elif 0 < float(split) < 1:
            at = span.start + float(split) * (end - span.start)
    except ValueError:
        pass
    if not span.start < at < end:  # also false for nan
        raise SpanError(f"--walk-forward {split}: expected a fraction between 0 and 1 (0.7) or "
                        f"seconds of market time inside {span.start:g}..{end:g} (200s)")
    return Span(span.start, round(at, 3)), Span(round(at, 3), span.end)


def run_optimize(base: Base, dimensions: Sequence[Dimension], objective: Objective,
                 executor: Executor, directory: Path, *, trials: int, seed: int = 0,
                 batch: int | None = None,
                 progress: Callable[[str], None] = lambda _: None) -> tuple[dict[str, Any], Any]:
    """The search: (the table of trials, as optimize.json has it, and the best trial or None)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if objective.maximize else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    size = max(batch or executor.slots, 1)
    columns = columns_for(objective)
    rows: list[dict[str, Any]] = []
    progress(f"optimize: {trials} trials of {objective.label()}, {size} at a time, on "
             f"{executor.description}")
    while len(rows) < trials:
        asked = [study.ask() for _ in range(min(size, trials - len(rows)))]
        jobs = [base.job(f"trial_{t.number:03d}", [(d.key, d.suggest(t)) for d in dimensions])
                for t in asked]

        def on_done(_: int, outcome: Outcome) -> None:
            outcome.write(directory / "trials" / outcome.name)
            value = objective.value(outcome.figures)
            progress(f"optimize: {outcome.name} {dict(outcome.params)}: "
                     f"{outcome.error or f'{objective.field} {value}'}")

        for trial, outcome in zip(asked, executor.run(jobs, on_done), strict=True):
            value = objective.value(outcome.figures)
            if value is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, value)
            row = row_of(outcome, objective, columns)
            row["report"] = row["report"] and f"trials/{row['report']}"
            rows.append({"trial": trial.number, **row, "state": "complete" if value is not None
                         else "failed"})
        best = _best(study)
        progress(f"optimize: {len(rows)}/{trials} trials, best so far "
                 f"{'-' if best is None else f'{best.value:.6g} (trial {best.number})'}")
    best = _best(study)
    table = {"objective": {"field": objective.field, "direction": objective.direction},
             "sampler": f"Optuna TPE (seed {seed}, batches of {size})",
             "executor": executor.description, "space": {d.key: d.text for d in dimensions},
             "columns": columns, "trials": rows,
             "best": None if best is None else {
                 "trial": best.number, "value": best.value,
                 "params": dict(rows[best.number]["params"])}}
    return table, best


def _best(study: Any) -> Any:
    try:
        return study.best_trial
    except ValueError:  # no trial completed
        return None


def main_optimize(args: argparse.Namespace, config: Any, *, sample: dict[str, Any],
                  base_for: Callable[[argparse.Namespace, Any, Path, Span], Base],
                  progress: Callable[[str], None], say: Callable[[str], None]) -> int:
    """`--optimize`: validate everything, search, run the walk-forward, print and write."""
    from supervision.experiments.sweep_html import format_table, render_optimize

    objective = parse_objective(args.optimize)
    objective.check(sample)
    if args.trials < 1:
        raise SweepError(f"--trials must be at least 1, got {args.trials}")
    if not args.space:
        raise SweepError("--optimize needs a search space: --space KEY=LOW:HIGH (repeatable)")
    dimensions = [parse_dimension(text) for text in args.space]
    if len({d.key for d in dimensions}) != len(dimensions):
        raise SweepError("--space: a key is declared twice")
    check_values(Base(args.config, tuple(args.overrides)),
                 [[(d.key, v)] for d in dimensions for v in d.values_to_check()])
    span = parse_span(args.span) if args.span else Span()
    inside, outside = (walk_forward(args.walk_forward, span, backtest_data(config))
                       if args.walk_forward else (span, None))
    directory = Path(args.report)
    base = base_for(args, config, directory, inside)
    base_out = None if outside is None else base_for(args, config, directory, outside)
    with open_executor(args.scheduler, workers=args.workers) as executor:
        table, best = run_optimize(base, dimensions, objective, executor, directory,
                                   trials=args.trials, seed=args.seed, batch=args.workers,
                                   progress=progress)
        table = {"config": args.config, "overrides": list(args.overrides),
                 "in_sample_span": None if inside.whole else inside.label(), **table,
                 "out_of_sample": None}
        if base_out is not None and outside is not None and best is not None:
            job = base_out.job("out_of_sample", list(table["best"]["params"].items()))
            (outcome,) = executor.run([job], lambda _i, o: o.write(directory / o.name))
            table["out_of_sample"] = {"span": outside.label(),
                                      "row": row_of(outcome, objective, table["columns"])}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "optimize.json").write_text(json.dumps(table, indent=2) + "\n")
    (directory / "optimize.html").write_text(render_optimize(table))
    params = list(table["space"])
    say(format_table(table["trials"], params, objective.label(), table["columns"], "trial"))
    if table["best"] is None:
        say("no trial produced a value")
    else:
        say(f"best (in sample{'' if inside.whole else ' ' + inside.label()}): trial "
              f"{table['best']['trial']} {table['best']['params']} -> {objective.field} "
              f"{table['best']['value']:.6g}")
    if table["out_of_sample"] is not None:
        row = table["out_of_sample"]["row"]
        say(f"out of sample ({table['out_of_sample']['span']}, not searched): "
              f"{objective.field} {row['value'] if not row['error'] else row['error']}; "
              + ", ".join(f"{c} {row['figures'].get(c)}" for c in table["columns"]))
    say(f"wrote {directory / 'optimize.json'} and {directory / 'optimize.html'}")
    return 0

