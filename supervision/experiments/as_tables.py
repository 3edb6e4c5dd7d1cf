"""All of the Avellaneda-Stoikov tables in one run: every gamma, both strategies, each variant.

The paths are independent, so they go to one process pool (`concurrent.futures`, the standard
library's) in chunks, across every table at once: a table does not wait for the one before it,
and the pool stays busy to the end. Only the symmetric strategy with a "measured" spread waits,
for its inventory strategy's average spread. Progress goes to stderr through
`supervision.node.progress.Progress` (a bar with an ETA on a terminal, plain lines otherwise).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, wait
from typing import Any

import attrs

from supervision.config.experiment import ExperimentVariant
from supervision.experiments.avellaneda_stoikov import (
    ASParams,
    PathResult,
    StrategySummary,
    closed_form_spread,
    paper_spread,
    run_path,
    summarize,
)
from supervision.node.progress import Progress

__all__ = ["Table", "TablesResult", "run_tables"]

_CHUNK = 10  # paths per task: small enough for a smooth bar and an even end, large enough to
# make the pool's overhead (a pickled result per task) negligible


@attrs.frozen(slots=True)
class Table:
    """One of the paper's tables: one gamma, one variant, both strategies."""

    params: ASParams
    inventory: StrategySummary
    symmetric: StrategySummary
    inventory_profits: tuple[float, ...]
    symmetric_profits: tuple[float, ...]
    sample_path: PathResult | None = None

    def summary(self, strategy: str) -> StrategySummary:
        return self.inventory if strategy == "inventory" else self.symmetric

    def as_dict(self) -> dict[str, Any]:
        return {"gamma": self.params.gamma, "variant": self.params.variant.value,
                "inventory": self.inventory.as_dict(), "symmetric": self.symmetric.as_dict(),
                "closed_form_spread": closed_form_spread(self.params),
                "paper_spread": paper_spread(self.params)}


@attrs.frozen(slots=True)
class TablesResult:
    tables: tuple[Table, ...]
    elapsed_s: float
    workers: int
    paths_run: int  # a shared symmetric strategy counts once

    def table(self, gamma: float, variant: ExperimentVariant) -> Table:
        return next(t for t in self.tables
                    if t.params.gamma == gamma and t.params.variant is variant)


def _chunk(args: tuple[ASParams, str, Sequence[int], float | None]) -> list[PathResult]:
    p, strategy, indices, spread_ticks = args
    return [run_path(p, strategy, i, spread_ticks=spread_ticks) for i in indices]


def _twin(bases: Sequence[ASParams], n: int) -> int | None:
    """The paper-variant table whose symmetric strategy a post-only table can share: with the
    paper's fixed spread the symmetric quotes sit 0.57 or more from the mid, so no bound ever
    moves them and both variants fill them alike, path for path (a test checks it)."""
    p = bases[n]
    if p.variant is not ExperimentVariant.POST_ONLY or p.symmetric_spread != "paper":
        return None
    twin = attrs.evolve(p, variant=ExperimentVariant.PAPER)
    return next((m for m, other in enumerate(bases) if other == twin), None)


def _leave_stop_to_the_parent() -> None:
    """In a worker: the terminal's Ctrl-C reaches the whole process group; the parent decides
    (it terminates the workers), so the workers neither print nor stop on their own."""
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_tables(bases: Iterable[ASParams], *, workers: int = 1, trace: bool = True,
               progress: Progress | None = None) -> TablesResult:
    """Run each `ASParams` (one gamma and variant each) for both strategies, `paths` paths."""
    started = time.monotonic()
    bases = list(bases)
    twins = {n: _twin(bases, n) for n in range(len(bases))}
    tick = [float(p.tick) for p in bases]
    first: list[tuple[int, str, float | None]] = [(n, "inventory", None) for n in range(len(bases))]
    first += [(n, "symmetric", paper_spread(p) / tick[n]) for n, p in enumerate(bases)
              if p.symmetric_spread == "paper" and twins[n] is None]
    later = [n for n, p in enumerate(bases) if p.symmetric_spread != "paper"]
    total = sum(bases[n].paths for n, _, _ in first) + sum(bases[n].paths for n in later)
    done = 0
    results: dict[tuple[int, str], list[PathResult]] = {}

    def tasks(jobs: list[tuple[int, str, float | None]]) -> list[tuple[tuple[int, str], Any]]:
        return [((n, strategy), (bases[n], strategy,
                                 range(start, min(start + _CHUNK, bases[n].paths)), spread))
                for n, strategy, spread in jobs for start in range(0, bases[n].paths, _CHUNK)]

    def collect(key: tuple[int, str], chunk: list[PathResult]) -> None:
        nonlocal done
        results.setdefault(key, []).extend(chunk)
        done += len(chunk)
        if progress is not None:
            progress.update(done / total, f"{done}/{total} paths")

    def run(pool: Executor | None, jobs: list[tuple[int, str, float | None]]) -> None:
        nonlocal done
        work = tasks(jobs)
        if pool is None:
            for key, args in work:
                collect(key, _chunk(args))
            return
        futures: list[Future[list[PathResult]]] = [pool.submit(_chunk, args) for _, args in work]
        pending, base = set(futures), done
        while pending:
            _, pending = wait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
            if progress is not None:
                finished = sum(len(args[2]) for f, (_, args) in zip(futures, work, strict=True)
                               if f.done())
                progress.update((base + finished) / total, f"{base + finished}/{total} paths")
        for future, (key, _) in zip(futures, work, strict=True):  # in path order
            results.setdefault(key, []).extend(future.result())
        done = base + sum(len(args[2]) for _, args in work)

    pool = ProcessPoolExecutor(max_workers=workers, initializer=_leave_stop_to_the_parent) \
        if workers > 1 else None
    try:
        run(pool, first)
        run(pool, [(n, "symmetric", summarize(results[n, "inventory"]).spread_mean / tick[n])
                   for n in later])
    except BaseException:  # Ctrl-C above all: the paths running now are not waited for
        if pool is not None:
            for process in list(pool._processes.values()):  # Python 3.14: terminate_workers()
                process.terminate()
        raise
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    for n, twin in twins.items():
        if twin is not None:
            results[n, "symmetric"] = results[twin, "symmetric"]
    if progress is not None:
        progress.done(f"{done} paths")
    tables = tuple(
        Table(p, summarize(results[n, "inventory"]), summarize(results[n, "symmetric"]),
              tuple(r.profit for r in results[n, "inventory"]),
              tuple(r.profit for r in results[n, "symmetric"]),
              run_path(p, "inventory", 0, trace=True) if trace else None)
        for n, p in enumerate(bases))
    return TablesResult(tables, time.monotonic() - started, workers, done)
