"""Sweeps: every combination of some config values, each an independent backtest, in one table.

    python -m supervision.main config/backtest.toml --report out/sweep \\
        --sweep strategies.0.params.gamma=1e-10,4e-10 --sweep strategies.0.params.k=0.01,0.04

Each `--sweep KEY=V1,V2,...` is an axis; the variants are their product, in order (the last
axis varies fastest), named `01_gamma=1e-10_k=0.01` and so on. A variant is the config with
those values as `--set` overrides, so every key and value gets the checks `--set` gets, for
every variant, before the first one runs: one error listing every problem.

The variants run on an executor (`supervision.experiments.executors`: local processes, or a
Dask cluster with `--scheduler`). As each finishes, its report lands in its own directory
(`out/sweep/01_gamma=1e-10_k=0.01/report.json`, .html, Parquet tables) and a progress line
goes to stderr. At the end `sweep.json` and `sweep.html` rank them by one report.json field
(`--rank`, default `pnl.total`, most first: `supervision.experiments.ranking`).

sweep.json: `config`, `overrides` (the `--set` of every variant), `axes` (key -> values),
`span`, `executor`, `rank` (`field`, `direction`), `columns`, and `variants`, best first:
`rank` (1..; null for a variant whose field is null or that failed), `name`, `params`,
`value` (the ranked field), `figures` (`columns`' values as report.json has them),
`report` (its report.json, relative), `error`, `wall_s`.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from protocols.errors import TroupeError
from supervision.experiments.executors import Executor
from supervision.experiments.jobs import Base
from supervision.experiments.ranking import COLUMNS, Objective, figure
from supervision.experiments.sweep_html import render_sweep, short_key
from supervision.experiments.variants import Outcome

__all__ = ["Axis", "SweepError", "check_values", "columns_for", "combinations", "parse_axis",
           "rank_outcomes", "row_of", "run_sweep", "variant_names", "write_table"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")


class SweepError(ValueError, TroupeError):
    """A sweep that cannot start: a malformed axis, or values the config refuses."""


@attrs.frozen(slots=True)
class Axis:
    key: str
    values: tuple[str, ...]


def parse_axis(text: str) -> Axis:
    """`KEY=V1,V2,...` as an Axis; SweepError if it is not one."""
    key, sep, values = text.partition("=")
    items = tuple(v.strip() for v in values.split(","))
    if not sep or not key.strip() or not all(items):
        raise SweepError(f"--sweep {text}: expected KEY=V1,V2,... e.g. "
                         "strategies.0.params.gamma=1e-10,2e-10")
    if len(set(items)) != len(items):
        raise SweepError(f"--sweep {text}: a value is given twice")
    return Axis(key.strip(), items)


def variant_names(combos: Sequence[Sequence[tuple[str, str]]]) -> list[str]:
    """Directory names, in order: `01_gamma=1e-10_k=0.01` (the key's last part when that is
    unique among the axes; characters a path should not hold become `-`)."""
    keys = [key for key, _ in combos[0]] if combos else []
    width = max(len(str(len(combos))), 2)
    return [f"{i:0{width}d}_" + "_".join(_UNSAFE.sub("-", f"{short_key(k, keys)}={v}")
                                          for k, v in combo)
            for i, combo in enumerate(combos, 1)]


def combinations(axes: Sequence[Axis]) -> list[tuple[tuple[str, str], ...]]:
    keys = [a.key for a in axes]
    if len(set(keys)) != len(keys):
        raise SweepError("--sweep: a key is swept twice")
    return [tuple(zip(keys, values, strict=True))
            for values in itertools.product(*(a.values for a in axes))]


def check_values(base: Base, combos: Sequence[Sequence[tuple[str, str]]]) -> None:
    """SweepError listing every problem of every variant's values (each once)."""
    problems: list[str] = []
    for combo in combos:
        for problem in base.problems(combo):
            if problem not in problems:
                problems.append(problem)
    if problems:
        raise SweepError("invalid sweep:\n" + "\n".join(f"  {p}" for p in problems))


def row_of(outcome: Outcome, objective: Objective, columns: Sequence[str]) -> dict[str, Any]:
    """A variant's row of a table: its name, params, ranked value, figures, report, error."""
    figures = outcome.figures or {}
    return {
        "name": outcome.name,
        "params": dict(outcome.params),
        "value": figure(figures, objective.field) if outcome.figures else None,
        "figures": {c: figure(figures, c) for c in columns},
        "report": f"{outcome.name}/report.json" if outcome.figures else None,
        "error": outcome.error,
        "wall_s": round(outcome.wall_s, 3),
    }


def rank_outcomes(outcomes: Sequence[Outcome], objective: Objective) -> list[dict[str, Any]]:
    """The table's rows, best first (ties and nulls keep the variants' order)."""
    values = [objective.value(o.figures) for o in outcomes]
    order = sorted(range(len(outcomes)), key=lambda i: (*objective.sort_key(values[i]), i))
    columns = columns_for(objective)
    return [{"rank": place if values[i] is not None else None,
             **row_of(outcomes[i], objective, columns)} for place, i in enumerate(order, 1)]


def columns_for(objective: Objective) -> list[str]:
    return [c for c in COLUMNS if c != objective.field]


def run_sweep(base: Base, axes: Sequence[Axis], objective: Objective, executor: Executor,
              directory: Path, *, span: str | None = None,
              progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run every variant, write each one's report, then sweep.json and sweep.html; returns the
    table (sweep.json's content). SweepError before anything runs if a value is refused."""
    combos = combinations(axes)
    check_values(base, combos)
    names = variant_names(combos)
    jobs = [base.job(name, combo) for name, combo in zip(names, combos, strict=True)]
    directory.mkdir(parents=True, exist_ok=True)
    progress(f"sweep: {len(jobs)} variants on {executor.description}")
    finished = 0

    def on_done(_: int, outcome: Outcome) -> None:
        nonlocal finished
        finished += 1
        outcome.write(directory / outcome.name)
        shown = (f"error: {outcome.error}" if outcome.error is not None else
                 f"{objective.field} {figure(outcome.figures or {}, objective.field)}")
        progress(f"sweep: {finished}/{len(jobs)} done: {outcome.name}: {shown} "
                 f"({outcome.wall_s:.1f}s)")

    outcomes = executor.run(jobs, on_done)
    table = {
        "config": base.config_path,
        "overrides": list(base.overrides),
        "axes": {a.key: list(a.values) for a in axes},
        "span": span,
        "executor": executor.description,
        "rank": {"field": objective.field, "direction": objective.direction},
        "columns": columns_for(objective),
        "variants": rank_outcomes(outcomes, objective),
    }
    write_table(table, directory)
    return table


def write_table(table: Mapping[str, Any], directory: Path) -> None:
    (directory / "sweep.json").write_text(json.dumps(table, indent=2) + "\n")
    (directory / "sweep.html").write_text(render_sweep(table))
