"""One variant of an experiment as a task: a `Job` in, an `Outcome` out, nothing else touched.

A sweep or an optimiser runs many backtests that differ only in a few config values. Each is a
`Job` (a name, its parameters, the effective config) handed to an executor, which may run it in
a local process or on any worker of a Dask cluster, and may run it twice: Dask reschedules the
tasks of a worker that died, and the first run may have got half way. So the task is pure and
idempotent: `execute(job)` reads the data, runs the backtest on the deterministic host, builds
the report in a private temporary directory, and returns the report's figures and files as
bytes. It writes nothing the client can see; the client writes each variant's directory when
its outcome arrives, so a retried or duplicated run can only ever write the same report again.

A user mistake inside one variant (data that does not fit the config, say) is that variant's
`error`: the others still run, and the table says which one failed and why.

`Job.runner` names the function that runs it, `module:function`, resolved on the worker:
`run_backtest_job` for every sweep of the command line. A test may name a synthetic objective
of its own, which then goes through the very same executors, sweep and optimiser.
"""

from __future__ import annotations

import importlib
import json
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

__all__ = ["BACKTEST_RUNNER", "Job", "Outcome", "execute", "run_backtest_job"]

BACKTEST_RUNNER = "supervision.experiments.variants:run_backtest_job"


@attrs.frozen(slots=True)
class Job:
    """A variant to run: `name` (its directory), `params` (key -> value as the user wrote it),
    `config` (for the backtest runner: the effective `NodeConfig`, its data path absolute)."""

    name: str
    params: tuple[tuple[str, str], ...]
    config: Any
    runner: str = BACKTEST_RUNNER

    @property
    def overrides(self) -> list[str]:
        return [f"{key}={value}" for key, value in self.params]


@attrs.frozen(slots=True)
class Outcome:
    """What a variant produced: `figures` (report.json's data, None if it failed), the report's
    files by name, the backtest's one-paragraph summary, or the `error` that stopped it."""

    name: str
    params: tuple[tuple[str, str], ...]
    figures: Mapping[str, Any] | None
    files: Mapping[str, bytes] = attrs.field(factory=dict, repr=False)
    summary: str = ""
    error: str | None = None
    wall_s: float = 0.0

    def write(self, directory: Path) -> Path | None:
        """The variant's files into `directory` (made if missing); the report.json path."""
        if not self.files:
            return None
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in self.files.items():
            (directory / name).write_bytes(data)
        return directory / "report.json" if "report.json" in self.files else None


def _runner(path: str) -> Callable[[Job], Outcome]:
    module, _, name = path.partition(":")
    function = getattr(importlib.import_module(module), name)
    if not callable(function):
        raise TypeError(f"{path} is not callable")
    return function


def execute(job: Job) -> Outcome:
    """Run a job with its runner: the function every executor ships to its workers."""
    return _runner(job.runner)(job)


def run_backtest_job(job: Job) -> Outcome:
    """A backtest of `job.config` and its report (report.json, report.html, Parquet tables,
    config.toml), returned as bytes. A user mistake comes back as the outcome's `error`."""
    from supervision.config.load import redacted
    from supervision.node.backtest import run_backtest
    from supervision.report import report_from_records, settings_for

    started = time.perf_counter()
    config = job.config
    try:
        result = run_backtest(config)
        with tempfile.TemporaryDirectory(prefix="troupe-variant-") as tmp:
            out = report_from_records(result.journal, settings_for(config), Path(tmp),
                                      started=started, config_text=redacted(config))
            files = {p.name: p.read_bytes() for p in sorted(out.parent.iterdir())
                     if p.is_file()}
    except (ValueError, OSError) as exc:
        return Outcome(job.name, job.params, None, error=str(exc),
                       wall_s=time.perf_counter() - started)
    figures = json.loads(files["report.json"])
    return Outcome(job.name, job.params, figures, files, summary=result.summary(),
                   wall_s=time.perf_counter() - started)
