"""Every config knob changes what the node does: the budget section's book mailbox capacity and
cancelled-id memory, and `metrics.hdr_per_actor` as an operator meets it on /metrics."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

from actors.behaviour import Behaviour
from protocols.decisions import Proposal
from protocols.orders import CancelIntent, Dropped, ReplaceIntent
from supervision.config.load import NodeConfig, load_config
from supervision.node.assembly import Node
from supervision.node.live_guard import Mode
from supervision.runtime.deterministic import DeterministicHost
from tests.supervision.node.node_kit import PaperProcess


class Inbox(Behaviour):
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def receive(self, message: Any, ctx: Any) -> None:
        self.seen.append(message)


def node_with(tmp_path: Path, *overrides: str) -> tuple[DeterministicHost, Node]:
    config = load_config("config/paper.toml", [f"journal.path={tmp_path / 'j.jsonl'}",
                                               *overrides], environ={})
    assert isinstance(config, NodeConfig)
    host = DeterministicHost(seed=1)
    node = Node(config, Mode.PAPER, host)
    node.start(None, None)
    host.settle()
    return host, node


def test_book_mailbox_capacity_bounds_each_order_books_mailbox(tmp_path: Path) -> None:
    host, _node = node_with(tmp_path, "budget.book_mailbox_capacity=7",
                            "budget.venue_mailbox_capacity=9000")
    assert host.actor("node/venue/book:BTCUSDT").mailbox.capacity == 7
    assert host.actor("node/venue/connection").mailbox.capacity == 9000


def replace_after_two_cancels(tmp_path: Path, remember: int) -> list[str]:
    """Cancel a, cancel b, then replace a: the reasons the budget drops anything for."""
    host, node = node_with(tmp_path, f"budget.remember_cancelled={remember}")
    inbox = host.spawn("inbox", Inbox)
    for intent in (CancelIntent("tr-mm1-1", "BTCUSDT"), CancelIntent("tr-mm1-2", "BTCUSDT"),
                   ReplaceIntent("tr-mm1-1", "BTCUSDT", 5, 100)):
        host.tell(node.budget, Proposal("mm1", intent, inbox, 0))
    host.run_until_idle(max_seconds=1)
    seen = host.existing_cell("inbox").behaviour.seen  # type: ignore[union-attr]
    return [m.reason for m in seen if isinstance(m, Dropped)]


def test_remember_cancelled_is_how_many_cancelled_ids_the_budget_keeps(tmp_path: Path) -> None:
    assert replace_after_two_cancels(tmp_path / "a", 2) == ["cancel_pending"]
    assert replace_after_two_cancels(tmp_path / "b", 1) == []  # a was forgotten


def handling_families(node: PaperProcess) -> list[str]:
    with urllib.request.urlopen(node.base + "/metrics", timeout=5) as response:
        text = response.read().decode()
    return [line for line in text.splitlines()
            if line.startswith("troupe_actor_handling_seconds")]


def test_hdr_per_actor_decides_whether_handling_times_are_exported(tmp_path: Path) -> None:
    for setting, exported in (("true", True), ("false", False)):
        node = PaperProcess(tmp_path / setting / "journal.jsonl",
                            f"metrics.hdr_per_actor={setting}")
        try:
            node.wait_for(lambda n=node: n.readyz()[1]["ready_md"], "market data")
            assert bool(handling_families(node)) is exported, setting
        finally:
            assert node.stop() == 0
