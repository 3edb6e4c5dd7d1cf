"""The ActionBudget's pure core, and the identities it stamps on what leaves: nonces, order ids.

The public surface of the budget lives here; the machinery is in two private-ish modules:
`actors.execution.token_bucket` (rate-limit accounting and backoff) and
`actors.execution.action_queue` (priority,
coalescing, staleness, batching). The actor wrapper owns one `ActionQueue` per venue account,
calls `put` for each intent, `dispatch(now)` on every intent and on the wake-up it asked for, and
feeds back `on_rate_limited` / `on_success` from the venue connection.

Identities must survive restarts and timeouts, because the two classic ways to lose money with
ids are (a) a restarted process reusing an id a venue still remembers (hftbacktest users hit
colliding random ids, issue 87) and (b) a resend after a timeout under a *new* id, which places
the order twice when the first attempt did land (Hummingbot, issue 493). So ids here are counters
restored from a persisted high-water mark, never random, and the id belongs to the order, not to
the attempt: a resend goes out under the same id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from actors.execution.action_queue import ActionQueue, priority_of
from actors.execution.token_bucket import (
    BatchPolicy,
    RateBudget,
    RateLimit,
    RateLimitBackoff,
    TokenBucket,
    VenueLimits,
)
from protocols.journal import IdsReserved

__all__ = [
    "ActionQueue",
    "BatchPolicy",
    "ClientOrderIds",
    "NonceManager",
    "RateBudget",
    "RateLimit",
    "RateLimitBackoff",
    "TokenBucket",
    "VenueLimits",
    "encode_cloid",
    "priority_of",
]

MAX_CLIENT_ID_LEN = 36
"""Binance's `newClientOrderId` limit; the tightest of the venues we target."""

COUNTER_DIGITS = 12
"""Room reserved for the counter when checking lengths: 10**12 orders per (prefix, strategy)."""

_PART = re.compile(r"[A-Za-z0-9_]+")
_ID = re.compile(r"([A-Za-z0-9_]+)-([A-Za-z0-9_]+)-([0-9]+)")


class NonceManager:
    """Nonces for one signer: millisecond timestamps, strictly increasing, never reused.

    Hyperliquid wants a nonce close to the current time in ms and unique per signer. We use the
    time passed in when it is ahead of the last nonce, and last + 1 otherwise, so a clock that
    steps backwards (NTP, VM migration) or two actions in the same millisecond still get distinct,
    increasing nonces. The drift ahead of the clock is at most one ms per nonce issued while the
    clock lags, and it vanishes once the clock catches up. `high_water` is what to persist;
    restoring it with `last_used` keeps the guarantee across restarts.
    """

    __slots__ = ("_last",)

    def __init__(self, now_ms: int, last_used: int = 0) -> None:
        self._last = max(now_ms - 1, last_used)

    def next(self, now_ms: int) -> int:
        nonce = now_ms if now_ms > self._last else self._last + 1
        self._last = nonce
        return nonce

    @property
    def high_water(self) -> int:
        return self._last


class ClientOrderIds:
    """Deterministic client order ids: `<prefix>-<strategy>-<counter>`.

    `high_water` is the last counter issued. Ids fit Binance's rule (at most 36 of
    `[A-Za-z0-9_-]`), which is checked once at construction with room for a 12-digit counter.

    Ids are never reused, also across a crash, because of two rules:
    - one instance per (prefix, strategy) for the life of the process, handed to every
      incarnation of the strategy (the node owns it), so a restarted strategy continues the count;
    - with `reserve` given, counters are reserved in blocks of `block` *ahead of use*: `reserve`
      is called with an `IdsReserved` record (the node journals it) for the next block while at
      least half of the current one is still unissued, so any id that reaches the wire was
      journaled as reserved long before (the journal is written in order, with one `os.write` per
      record, which a kill -9 does not undo). Recovery takes the highest reservation as the high
      water mark, so the next process starts above every id the dead one could have sent. The
      price is a gap of at most one block and a half per restart.
    """

    __slots__ = ("_block", "_counter", "_reserve", "_reserved", "prefix", "strategy")

    def __init__(self, prefix: str, strategy: str, high_water: int = 0, *, block: int = 1000,
                 reserve: Callable[[IdsReserved], Any] | None = None) -> None:
        for name, part in (("prefix", prefix), ("strategy", strategy)):
            if not _PART.fullmatch(part):
                raise ValueError(f"{name} must be non-empty [A-Za-z0-9_], got {part!r}")
        if len(prefix) + len(strategy) + 2 + COUNTER_DIGITS > MAX_CLIENT_ID_LEN:
            raise ValueError(
                f"prefix and strategy too long: {len(prefix) + len(strategy)} chars, at most "
                f"{MAX_CLIENT_ID_LEN - 2 - COUNTER_DIGITS}"
            )
        if type(high_water) is not int or high_water < 0:
            raise ValueError(f"high_water must be a non-negative int, got {high_water!r}")
        if type(block) is not int or block < 2:
            raise ValueError(f"block must be an int >= 2, got {block!r}")
        self.prefix = prefix
        self.strategy = strategy
        self._counter = high_water
        self._block = block
        self._reserve = reserve
        self._reserved = high_water
        self._top_up()

    def next(self) -> str:
        self._counter += 1
        self._top_up()
        return self.format(self._counter)

    def _top_up(self) -> None:
        if self._reserve is not None and self._reserved - self._counter < self._block // 2 + 1:
            self._reserved = max(self._reserved, self._counter) + self._block
            self._reserve(IdsReserved(self.prefix, self.strategy, self._reserved))

    def format(self, counter: int) -> str:
        return f"{self.prefix}-{self.strategy}-{counter}"

    @property
    def high_water(self) -> int:
        return self._counter

    @property
    def reserved(self) -> int:
        """The highest counter reserved so far (equal to `high_water` without `reserve`)."""
        return self._reserved


def parse_client_order_id(client_order_id: str) -> tuple[str, str, int] | None:
    """`(prefix, strategy, counter)` for one of our ids, None for anything else."""
    m = _ID.fullmatch(client_order_id)
    return (m.group(1), m.group(2), int(m.group(3))) if m else None


def encode_cloid(client_order_id: str) -> str:
    """A Hyperliquid cloid (0x + 32 hex digits, 128 bits) derived deterministically from an id.

    For our own ids the high 64 bits are a hash of `<prefix>-<strategy>` and the low 64 bits the
    counter itself, so ids of one strategy can never collide with each other and the counter is
    readable back from the cloid. Any other id is hashed whole (BLAKE2b, 128 bits).
    """
    parsed = parse_client_order_id(client_order_id)
    if parsed is None or parsed[2] >= 1 << 64:
        return "0x" + hashlib.blake2b(client_order_id.encode(), digest_size=16).hexdigest()
    prefix, strategy, counter = parsed
    head = hashlib.blake2b(f"{prefix}-{strategy}".encode(), digest_size=8).hexdigest()
    return f"0x{head}{counter:016x}"
