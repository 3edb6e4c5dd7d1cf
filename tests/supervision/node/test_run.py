"""The live node's host: the heap it built is frozen once it is ready to trade, and the actors
off the order path run on the dispatcher's background lane."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from supervision.node.run import OFF_THE_ORDER_PATH, freeze_when_ready
from tests.supervision.node.node_kit import paper_node_on_host


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


def test_the_actors_named_off_the_order_path_are_the_node_s_own(tmp_path: Path) -> None:
    # A renamed portfolio or monitor would silently move back onto the order path's lane.
    host, _node = paper_node_on_host(tmp_path / "journal.jsonl")
    host.advance(1.0)  # the tree starts its children
    names = [a.name for a in host.actors()]
    for prefix in OFF_THE_ORDER_PATH:
        assert any(name.startswith(prefix) for name in names), (prefix, names)
    assert not any(name.startswith(OFF_THE_ORDER_PATH) for name in names
                   if name.split("/")[-1] in ("gate", "budget", "connection"))
