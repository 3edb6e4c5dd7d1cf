"""Hyperliquid nonces that never repeat, across bursts and restarts.

Every signed action carries a nonce, and the venue (per signer) keeps the 100 highest it has
seen: a new nonce must be larger than the smallest of those, must not be one of them, and must
lie within (server time - 2 days, server time + 1 day). A repeated nonce is refused, and so is
the whole action with it.

`actors.execution.ids.NonceManager` gives strictly increasing millisecond nonces within one
process (the clock when it is ahead, last + 1 when two actions share a millisecond or the clock
steps back). What it cannot know is what the last process used: a burst runs ahead of the
clock, so a process restarted within that lead would start at the clock and repeat. `NonceStore`
closes that gap the way `ClientOrderIds` does for order ids: it writes a high-water mark to a
file *ahead of use*, in blocks (`block_ms`, 1 s by default), before any nonce of the block is
issued (write, fsync, rename). A restart starts above the recorded mark, so it can never repeat
a nonce the dead process might have sent; the price is starting up to one block ahead of the
clock, far inside the venue's one-day window. Without a path (observe mode, tests) the store
only keeps the in-process guarantee.

`NonceStore.next` refuses (`NonceWindowError`) a nonce beyond the venue's window (a clock or a
mark more than a day ahead): signing it would only be refused by the venue.
"""

from __future__ import annotations

import os
from pathlib import Path

from actors.execution.ids import NonceManager
from protocols.errors import TroupeError

__all__ = ["AHEAD_LIMIT_MS", "NonceStore", "NonceWindowError"]

AHEAD_LIMIT_MS = 24 * 3600 * 1000  # the venue refuses a nonce more than a day ahead


class NonceWindowError(TroupeError, ValueError):
    """The next nonce would lie outside the venue's accepted window."""


class NonceStore:
    def __init__(self, now_ms: int, path: str | Path | None = None, *,
                 block_ms: int = 1000) -> None:
        if now_ms <= 0:
            raise ValueError(f"a nonce clock must be positive milliseconds, got {now_ms}")
        self.path = Path(path) if path else None
        self.block_ms = block_ms
        self.restored = self._read()
        self._manager = NonceManager(now_ms, self.restored)
        self._reserved = self.restored

    @property
    def high_water(self) -> int:
        return self._manager.high_water

    def next(self, now_ms: int) -> int:
        """The next nonce: > every nonce issued before, here or in an earlier process."""
        nonce = self._manager.next(now_ms)
        if nonce - now_ms > AHEAD_LIMIT_MS:
            raise NonceWindowError(
                f"nonce {nonce} is {nonce - now_ms} ms ahead of the clock; the venue accepts "
                "at most a day: check the clock and the nonce file "
                f"{self.path or '(none)'}")
        if self.path is not None and nonce > self._reserved - self.block_ms // 2:
            self._reserved = nonce + self.block_ms
            self._write(self._reserved)
        return nonce

    def _read(self) -> int:
        if self.path is None or not self.path.exists():
            return 0
        text = self.path.read_text().strip()
        if not text.isdigit():
            raise ValueError(f"nonce file {self.path}: expected a number, found {text[:40]!r}")
        return int(text)

    def _write(self, value: int) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, f"{value}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
