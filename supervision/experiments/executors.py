"""Where the variants run: local processes, or a Dask cluster. Both run `variants.execute`.

    with open_executor(None, workers=2) as executor:                  # this machine
        outcomes = executor.run(jobs, on_done)
    with open_executor("tcp://10.0.0.5:8786") as executor:            # a Dask cluster
        ...

`LocalExecutor` is a `concurrent.futures.ProcessPoolExecutor` (spawned processes: a fresh
interpreter each, none of the parent's signal handlers or threads). `DaskExecutor` is a
`dask.distributed.Client` on the scheduler's address: one task per variant, results as they
complete. We distribute no work ourselves. What Dask gives us, and the task relies on:

- a worker that dies mid-task (killed, out of memory, its machine gone) is noticed by the
  scheduler, which runs its tasks again on the workers left (up to
  `distributed.scheduler.allowed-failures` deaths per task, 3 by default). A task is pure and
  idempotent (`supervision.experiments.variants`), so running it twice is safe;
- a task key made of the variant's name and a hash of the job (`pure` tasks), so the client
  can tell results apart and a resubmitted identical job is the same task.

The workers need this code (the same version) and the data at the same absolute path, as any
Dask cluster needs its code and a shared filesystem or object store: start each worker where
`import supervision` works (`PYTHONPATH=/path/to/troupe dask worker tcp://HOST:PORT`).

`run` calls `on_done(index, outcome)` in the client, in completion order, and returns the
outcomes in the jobs' order.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any, Protocol

from protocols.errors import TroupeError
from supervision.experiments.variants import Job, Outcome, execute

__all__ = ["DaskExecutor", "Executor", "ExecutorError", "LocalExecutor", "open_executor"]

OnDone = Callable[[int, Outcome], None]
_CONNECT_TIMEOUT_S = 5  # a scheduler answers in milliseconds; a typo should not wait


class ExecutorError(RuntimeError, TroupeError):
    """The executor could not be reached or lost a task for good (one line, no traceback)."""


class Executor(Protocol):
    description: str
    slots: int  # how many variants run at once

    def run(self, jobs: Sequence[Job], on_done: OnDone) -> list[Outcome]: ...

    def close(self) -> None: ...


class _Closing:
    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _in_order(jobs: Sequence[Job], done: dict[int, Outcome]) -> list[Outcome]:
    return [done[i] for i in range(len(jobs))]


class LocalExecutor(_Closing):
    """Variants in `workers` spawned local processes."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ExecutorError(f"--workers must be at least 1, got {workers}")
        self.slots = workers
        self.description = f"local processes ({workers})"
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    def run(self, jobs: Sequence[Job], on_done: OnDone) -> list[Outcome]:
        futures = {self._pool.submit(execute, job): i for i, job in enumerate(jobs)}
        done: dict[int, Outcome] = {}
        for future in as_completed(futures):
            index = futures[future]
            try:
                done[index] = future.result()
            except BrokenProcessPool as exc:
                raise ExecutorError(f"a local worker process died running {jobs[index].name}: "
                                    f"{exc}") from None
            on_done(index, done[index])
        return _in_order(jobs, done)

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


class DaskExecutor(_Closing):
    """Variants as tasks on the Dask cluster whose scheduler is at `address`."""

    def __init__(self, address: str) -> None:
        from distributed import Client

        # Made in two steps so that a client whose connection failed can be closed here: left
        # to `Client.__del__` at exit, it waits 30 s and prints a TimeoutError traceback.
        client = Client.__new__(Client)
        try:
            Client.__init__(client, address, timeout=_CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            client.close(timeout=_CONNECT_TIMEOUT_S)
            raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        self._client = client
        threads = sum(self._client.nthreads().values())
        self.slots = max(threads, 1)
        self.description = f"Dask cluster {address} ({threads} worker threads)"

    def run(self, jobs: Sequence[Job], on_done: OnDone) -> list[Outcome]:
        from dask.base import tokenize
        from distributed import as_completed as dask_completed

        futures = {self._client.submit(execute, job, key=f"troupe-{job.name}-{tokenize(job)}",
                                       pure=True): i for i, job in enumerate(jobs)}
        done: dict[int, Outcome] = {}
        for future in dask_completed(list(futures), loop=self._client.loop):
            index = futures[future]
            try:
                done[index] = future.result()
            except Exception as exc:  # a task the cluster gave up on (its workers kept dying)
                raise ExecutorError(f"variant {jobs[index].name} failed on the cluster: "
                                    f"{type(exc).__name__}: {exc}") from None
            on_done(index, done[index])
            future.release()
        return _in_order(jobs, done)

    def close(self) -> None:
        self._client.close()


def open_executor(scheduler: str | None, *,
                  workers: int | None = None) -> LocalExecutor | DaskExecutor:
    """A `DaskExecutor` on `scheduler` if given, else a `LocalExecutor` of `workers` processes
    (default: the machine's CPU count)."""
    if scheduler is not None:
        return DaskExecutor(scheduler)
    return LocalExecutor(workers if workers is not None else multiprocessing.cpu_count())
