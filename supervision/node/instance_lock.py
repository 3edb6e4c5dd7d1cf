"""One node per journal and per venue account: exclusive OS locks held for the node's life.

Two nodes on one journal interleave their records and reuse each other's client order ids; two
nodes on one venue account fight over its orders, its rate limit and its position. So before a
node reads its journal it takes, with `fcntl.flock(LOCK_EX | LOCK_NB)`:

- `<journal>.lock`, beside the journal, and
- `<lock_dir>/<venue kind>-<account>.lock` for a real venue account. The embedded simulated venue
  has no shared account (each process simulates its own), so a paper node takes none.

A lock the kernel holds is released by the kernel when its holder dies, however it dies (kill -9
included): no stale lock file to clean up by hand, no pid file to second-guess. The file stays
on disk and is reused; the holder writes its pid into it so that a second node can name it in
its one-line refusal (the pid is a courtesy for the operator, the lock is the flock).

The lock file is never unlinked: deleting a lock file while another process waits to open it
would let two processes lock two different files of the same name.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path

from protocols.errors import TroupeError

__all__ = [
    "InstanceLock",
    "InstanceLockError",
    "account_lock_path",
    "acquire_all",
    "journal_lock_path",
    "node_locks",
    "release_all",
]


class InstanceLockError(TroupeError):
    """The lock is held by another process, or its file cannot be created or locked: the node
    exits 2 with this one line."""


def journal_lock_path(journal: str | os.PathLike[str]) -> Path:
    path = Path(journal)
    return path.with_name(path.name + ".lock")


def account_lock_path(lock_dir: str | os.PathLike[str], venue_kind: str, account: str) -> Path:
    """The lock of one venue account; the name keeps only characters safe in a file name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{venue_kind}-{account}")
    return Path(lock_dir).expanduser() / f"{safe}.lock"


class InstanceLock:
    """An exclusive lock on `path`, described as `what` ("journal var/j.jsonl") in errors.

    `acquire()` raises `InstanceLockError` naming the holder's pid when another process holds
    it; `release()` (or the process's death) frees it."""

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> InstanceLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise InstanceLockError(
                f"cannot create the lock file {self.path} for the {self.what}: "
                f"{exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"pid {holder}" if holder else "another process"
            raise InstanceLockError(
                f"the {self.what} is in use by {who} (lock {self.path}): one node per journal "
                f"and venue account; stop that node first") from None
        except OSError as exc:
            os.close(fd)
            raise InstanceLockError(f"cannot lock {self.path} for the {self.what}: "
                                    f"{exc.strerror or exc}") from None
        with contextlib.suppress(OSError):  # the pid is a courtesy; the flock is the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor drops the flock


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def node_locks(journal: str | os.PathLike[str], *, venue_kind: str, account: str,
               lock_dir: str | os.PathLike[str]) -> list[InstanceLock]:
    """The locks a node holds: its journal's, and its venue account's unless the venue is the
    embedded simulation (whose account exists only inside the process)."""
    locks = [InstanceLock(journal_lock_path(journal), f"journal {journal}")]
    if venue_kind != "sim":
        locks.append(InstanceLock(account_lock_path(lock_dir, venue_kind, account),
                                  f"venue account {venue_kind}:{account}"))
    return locks


def acquire_all(locks: list[InstanceLock]) -> list[InstanceLock]:
    """Acquire every lock in order, or none: on a refusal the ones taken are released."""
    taken: list[InstanceLock] = []
    try:
        for lock in locks:
            taken.append(lock.acquire())
    except InstanceLockError:
        release_all(taken)
        raise
    return taken


def release_all(locks: list[InstanceLock]) -> None:
    for lock in reversed(locks):
        lock.release()
