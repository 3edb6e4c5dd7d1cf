"""The cycle collector run when the loop has nothing else to do, not inside a chain.

CPython collects the young generation when allocations outrun deallocations by its threshold
(700 objects), wherever the interpreter happens to be. On a trading loop that is inside a
chain, since chains are what allocate, and the order the chain was making waits for the
collection: 0.3-2 ms a time under the tick-to-trade load (docs/benchmarks.md, point 36). While
a live host serves, `IdleCollector` turns the automatic collector off and makes the same
collections itself at the loop's quiet points: in trio's round after a chain a frame began
(once the task that read the frame has yielded: the frames read with it come first) and when
the dispatcher is about to sleep.

It keeps CPython's own schedule: the young generation once its count passes the threshold, the
middle one every `threshold[1]` of those, a full collection every `threshold[2]` of the middle
ones and only while the old generation has grown by a quarter since the last full one (CPython's
"long-lived pending" rule, which keeps full collections from making a growing heap quadratic).
A loop that never goes quiet still collects: past `overdue_factor` times the threshold, at the
next turn between two cells (`overdue`). Collections are counted per generation
(`collections`).
"""

from __future__ import annotations

import gc

__all__ = ["IdleCollector"]


class IdleCollector:
    def __init__(self, overdue_factor: int = 8) -> None:
        self.overdue_factor = overdue_factor
        self._thresholds = gc.get_threshold()
        self._overdue = self._thresholds[0] * overdue_factor
        self._old_after_full = 0
        self._was_enabled = False
        self.active = False
        self.collections = [0, 0, 0]

    def start(self) -> None:
        """Take over from the automatic collector (nothing if its threshold is 0: off)."""
        self._thresholds = gc.get_threshold()
        if self.active or self._thresholds[0] <= 0:
            return
        self._overdue = self._thresholds[0] * self.overdue_factor
        self._old_after_full = len(gc.get_objects(generation=2))
        self._was_enabled = gc.isenabled()
        gc.disable()
        self.active = True

    def stop(self) -> None:
        if self.active:
            self.active = False
            if self._was_enabled:
                gc.enable()

    def overdue(self) -> bool:
        return self.active and gc.get_count()[0] > self._overdue

    def due(self) -> bool:
        """A young collection is due (`collect_if_due` would make one)."""
        return self.active and gc.get_count()[0] > self._thresholds[0]

    def collect_if_due(self) -> bool:
        """The collection CPython would have made by now, if any. True if one ran."""
        if not self.active:
            return False
        young, middle, old = gc.get_count()
        first, second, third = self._thresholds
        if young <= first:
            return False
        generation = 0
        if middle > second:
            generation = 1
            if old > third and len(gc.get_objects(generation=2)) > self._old_after_full * 5 // 4:
                generation = 2
        gc.collect(generation)
        if generation == 2:
            self._old_after_full = len(gc.get_objects(generation=2))
        self.collections[generation] += 1
        return True
