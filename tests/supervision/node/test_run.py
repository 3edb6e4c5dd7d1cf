"""The run loop's start-up step: the heap the node built is frozen once it is ready to trade."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from supervision.node.run import freeze_when_ready


class _Host:
    def __init__(self) -> None:
        self.frozen = 0

    def freeze_heap(self) -> int:
        self.frozen += 1
        return self.frozen


class _Node:
    def __init__(self) -> None:
        self.host = _Host()
        self.ready = False

    def readiness(self) -> Any:
        return SimpleNamespace(ready_trading=self.ready)


def test_the_heap_is_frozen_when_the_node_is_first_ready_for_trading_not_before() -> None:
    node = _Node()
    assert not freeze_when_ready(node)  # type: ignore[arg-type]
    assert node.host.frozen == 0  # books still syncing: what it builds next is start-up too
    node.ready = True
    assert freeze_when_ready(node)  # type: ignore[arg-type]
    assert node.host.frozen == 1
