"""The journal is part of the safety case: a paper node whose disk fills up takes no new risk,
is not ready, counts and keeps what it could not write, and trades again only when an operator
resumes after the journal writes again. Its writer is supervised like any other actor.

The node runs on the deterministic host with the recorded market flow and a real journal file;
the disk is made to fail by a writer whose `os.write` raises ENOSPC while `disk.full` is set."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

from protocols.control import ControlActionName, ControlCommand
from protocols.decisions import TradingState
from protocols.journal import Flush
from supervision.node.assembly import Node
from supervision.node.journal import iter_journal
from supervision.node.journal_writer import JournalWriter
from supervision.runtime.deterministic import DeterministicHost
from tests.supervision.node.node_kit import paper_node_on_host


class Disk:
    full = False
    bug_once = False  # the writer's next record raises (a bug, not an I/O error)


class FlakyDiskWriter(JournalWriter):
    def __init__(self, disk: Disk, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.disk = disk

    def _write(self, fd: int, data: bytes) -> int:
        if self.disk.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super()._write(fd, data)

    def receive(self, message: Any, ctx: Any) -> Any:
        if self.disk.bug_once and not isinstance(message, Flush):
            self.disk.bug_once = False
            raise RuntimeError("a bug in the writer")
        return super().receive(message, ctx)


def paper_node(tmp_path: Path, disk: Disk) -> tuple[DeterministicHost, Node, Path]:
    path = tmp_path / "journal.jsonl"
    host, node = paper_node_on_host(
        path, lambda **wiring: FlakyDiskWriter(disk, path, "always", **wiring))
    return host, node, path


def resume(node: Node) -> Any:
    return node.apply(ControlCommand(ControlActionName.RESUME, "disk cleaned", "http"))


def sent_ids(path: Path) -> list[str]:
    return [r["data"]["client_order_id"] for r in iter_journal(path) if r["kind"] == "OrderSent"]


def test_a_full_disk_stops_new_risk_until_an_operator_resumes_after_it_writes_again(
        tmp_path: Path) -> None:
    disk = Disk()
    host, node, path = paper_node(tmp_path, disk)
    host.advance(5)
    assert node.readiness().ready_trading, node.readiness()
    assert sent_ids(path), "the market maker never quoted"

    disk.full = True
    host.advance(3)
    ready = node.readiness()
    assert not ready.ready_trading and ready.state == "reducing"
    assert ready.detail["journal"].startswith("failing: OSError: [Errno 28]")
    assert node.view.state is TradingState.REDUCING and "(journal)" in node.view.state_reason
    metrics = host.metrics
    assert metrics.total("troupe_journal_write_errors_total") >= 1
    writer = host.actor("journal/writer").snapshot
    assert writer["backlog"] > 0 and not writer["healthy"]
    outcome = resume(node)  # refused: the journal still cannot write
    assert not outcome.ok and "journal cannot write" in outcome.detail
    assert node.view.state is TradingState.REDUCING

    disk.full = False
    host.advance(2)  # the writer retries its backlog
    assert host.actor("journal/writer").snapshot["backlog"] == 0
    assert node.readiness().detail["journal"] == "ok"
    assert node.view.state is TradingState.REDUCING, "the journal's recovery resumed trading"
    assert not node.readiness().ready_trading
    assert resume(node).ok
    host.advance(2)
    assert node.readiness().ready_trading and node.view.state is TradingState.ACTIVE

    host.ask(node.journal_writer(), Flush())
    records = list(iter_journal(path))
    seqs = [r["seq"] for r in records]
    assert seqs == list(range(1, len(seqs) + 1)), "a record was lost or written twice"
    changes = [(r["data"]["new"], r["data"]["source"]) for r in records
               if r["kind"] == "TradingStateChanged"]
    assert changes == [(TradingState.REDUCING.value, "journal"),
                       (TradingState.ACTIVE.value, "http")]
    ids = sent_ids(path)
    assert len(ids) == len(set(ids))


def test_a_writer_that_fails_is_restarted_and_loses_nothing_it_had_accepted(
        tmp_path: Path) -> None:
    disk = Disk()
    host, node, path = paper_node(tmp_path, disk)
    host.advance(2)
    disk.full = True  # records pile up in the backlog ...
    host.advance(1)
    waiting = host.actor("journal/writer").snapshot["backlog"]
    assert waiting > 0
    disk.bug_once = True  # ... and then the writer fails on the next record
    host.advance(1)
    info = host.actor("journal/writer")
    assert info.failures == 1 and info.restarts == 1
    assert info.snapshot["backlog"] >= waiting  # the new incarnation took them over
    disk.full = False
    host.advance(2)
    host.ask(node.journal_writer(), Flush())
    seqs = [r["seq"] for r in iter_journal(path)]
    assert seqs == list(range(1, len(seqs) + 1)), "a record was lost or written twice"
