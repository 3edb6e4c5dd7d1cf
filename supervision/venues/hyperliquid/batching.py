"""Hyperliquid action batching, pure: intents gathered on a fixed period, in separate lanes.

The venue's advice for an automated client is to batch actions on a short period (0.1 s) and
to keep ALO (add-liquidity-only, our `POST_ONLY`) orders apart from IOC and GTC ones: an ALO
batch is ordered after the others within a block, so a taker order batched with maker orders
would wait for them. So every intent joins one of three lanes: `taker` (IOC and GTC orders),
`alo` (post-only orders) and `cancel` (cancels by cloid); a lane's batch goes out `period_ns`
after its first intent arrived, as one signed action. A lane never holds another lane's intent,
so an ALO order is never in the same action as an IOC one. A period of 0 sends at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocols.orders import CancelIntent, Intent, OrderIntent, TimeInForce

__all__ = ["LANES", "ActionBatcher", "lane_of"]

LANES = ("cancel", "taker", "alo")  # flushed in this order when due together
MAX_BATCH = 40  # orders per action: keeps one action's signature and answer small


def lane_of(intent: Intent) -> str:
    if isinstance(intent, CancelIntent):
        return "cancel"
    if isinstance(intent, OrderIntent) and intent.tif is TimeInForce.POST_ONLY:
        return "alo"
    return "taker"


class ActionBatcher:
    def __init__(self, period_ns: int = 100_000_000, max_batch: int = MAX_BATCH) -> None:
        self.period_ns = period_ns
        self.max_batch = max_batch
        self._lanes: dict[str, list[Intent]] = {lane: [] for lane in LANES}
        self._opened: dict[str, int] = {}  # lane -> when its first waiting intent came

    def add(self, intents: Sequence[Intent], now_ns: int) -> None:
        for intent in intents:
            lane = lane_of(intent)
            if not self._lanes[lane]:
                self._opened[lane] = now_ns
            self._lanes[lane].append(intent)

    def due(self, now_ns: int) -> list[tuple[str, tuple[Intent, ...]]]:
        """Every batch whose period has passed, lanes in `LANES` order, each at most
        `max_batch` intents (a longer lane goes out as several actions)."""
        out: list[tuple[str, tuple[Intent, ...]]] = []
        for lane in LANES:
            waiting = self._lanes[lane]
            if not waiting or now_ns < self._opened[lane] + self.period_ns:
                continue
            for start in range(0, len(waiting), self.max_batch):
                out.append((lane, tuple(waiting[start:start + self.max_batch])))
            waiting.clear()
            del self._opened[lane]
        return out

    def next_due_ns(self) -> int | None:
        return min((t + self.period_ns for t in self._opened.values()), default=None)

    def __len__(self) -> int:
        return sum(len(v) for v in self._lanes.values())
