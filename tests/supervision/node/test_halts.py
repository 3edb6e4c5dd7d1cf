"""Halts are visible and liftable, the way an operator meets them.

A paper node whose journal holds an instrument halt (a spec change) says so loudly at start, shows
it in `/readyz` and the status line, and trades that instrument again only after `resume` names
it over HTTP; an account halt survives a restart and the restarted node says since when, why,
who, and the command that resumes it. In-process, a spec change halts the instrument on the
deterministic host and the same `resume` lifts it, journaled like every action."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import attrs

from protocols.control import ControlActionName, ControlCommand
from protocols.decisions import Gate, TradingState
from protocols.journal import Flush, NodeStarted, NodeStopped
from protocols.market import SpecChanged
from protocols.risk import DailyLoss, InstrumentHalt, InstrumentHalted, RiskPersistentState
from supervision.node.journal import iter_journal
from tests.supervision.node.node_kit import PaperProcess, paper_node_on_host, write_journal

SPEC_HALT = "spec v1 -> v2: tick_size"


def seed_halted_instrument(journal: Path) -> None:
    """The journal of an earlier run whose gate halted BTCUSDT on a spec change."""
    halt = InstrumentHalt(Gate.SPEC_CHANGE, SPEC_HALT)
    records = [NodeStarted("paper", "paper", "paper", "0", "earlier"),
               InstrumentHalted("BTCUSDT", Gate.SPEC_CHANGE, SPEC_HALT, 1),
               RiskPersistentState(TradingState.ACTIVE, Gate.TRADING_STATE, "start",
                                   DailyLoss(0, Decimal(0)), (("BTCUSDT", halt),)),
               NodeStopped("SIGTERM")]
    write_journal(journal, *records)


def _loud(node: PaperProcess, count: int) -> list[str]:
    """The notice lines on stderr, once `count` of them have come."""
    lines = [line for line in node.err if line.startswith("!!!")]
    return lines if len(lines) >= count else []


def test_an_instrument_halt_is_shown_lifted_by_resume_and_an_account_halt_announced(
        tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    seed_halted_instrument(journal)
    node = PaperProcess(journal)
    try:
        loud = node.wait_for(lambda: _loud(node, 3), "the restored halt's notice")
        assert any("instrument BTCUSDT HALTED" in line and SPEC_HALT in line for line in loud)
        assert any('"instrument": "BTCUSDT"' in line and f"{node.base}/control" in line
                   for line in loud), loud
        node.wait_for(lambda: node.readyz()[1]["ready_md"], "market data")
        status, ready = node.readyz()
        assert status == 503 and ready["state"] == "active"
        assert ready["detail"]["halted_instruments"] == {"BTCUSDT": f"spec_change: {SPEC_HALT}"}
        node.wait_for(lambda: any("HALTED BTCUSDT (spec_change" in line for line in node.out),
                      "the status line to show the halt")

        assert node.control(action="resume", reason="spec checked", instrument="ETHUSDT")[0] \
            == 409
        code, reply = node.control(action="resume", reason="spec checked", instrument="BTCUSDT")
        assert code == 200 and reply["ok"], reply
        node.wait_for(lambda: node.readyz()[0] == 200, "ready once the halt is lifted")
        assert node.control(action="halt", reason="drill")[0] == 200
        node.wait_for(lambda: node.readyz()[1]["state"] == "halted", "HALTED")
    finally:
        assert node.stop() == 0
    lifted = [r for r in iter_journal(journal) if r["kind"] == "InstrumentResumed"]
    assert [(r["data"]["instrument"], r["data"]["source"]) for r in lifted] == [("BTCUSDT", "http")]
    assert any(r["kind"] == "ControlAction" and r["data"]["instrument"] == "BTCUSDT"
               for r in iter_journal(journal))

    node = PaperProcess(journal)
    try:
        loud = node.wait_for(lambda: _loud(node, 3), "the restored halt's notice")
        assert any(re.search(r"RESTORED HALTED from the journal: since \d{4}-\d\d-\d\d "
                             r"\d\d:\d\d:\d\d UTC; who: http; why: halt: drill", line)
                   for line in loud), loud
        assert any('"action": "resume"' in line and "instrument" not in line for line in loud)
        assert node.control(action="resume", reason="drill over")[0] == 200
        node.wait_for(lambda: node.readyz()[0] == 200, "ready after resume")
        assert len(_loud(node, 0)) == 3  # nothing about BTCUSDT: that halt was lifted
    finally:
        assert node.stop() == 0


def test_a_spec_change_halts_the_instrument_until_resume_names_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    host, node = paper_node_on_host(path)
    host.advance(5)
    assert node.readiness().ready_trading
    old = node.specs["BTCUSDT"]
    new = attrs.evolve(old, tick_size=old.tick_size * 10, spec_version=old.spec_version + 1)
    host.tell(node.gate, SpecChanged("BTCUSDT", old, new, host.monotonic_ns()))
    host.advance(1)
    ready = node.readiness()
    assert not ready.ready_trading and ready.state == "active"
    assert ready.detail["halted_instruments"]["BTCUSDT"].startswith("spec_change: spec v")
    for action in (ControlActionName.RESUME, ControlActionName.FLATTEN):  # no account resume
        node.apply(ControlCommand(action, "not it", "http"))
    host.advance(1)
    assert "BTCUSDT" in node.view.halts
    outcome = node.apply(ControlCommand(ControlActionName.RESUME, "checked", "http",
                                        instrument="BTCUSDT"))
    assert outcome.ok
    host.advance(2)
    assert node.view.halts == {} and node.readiness().ready_trading
    host.ask(node.journal_writer(), Flush())
    kinds = [r["kind"] for r in iter_journal(path)]
    assert "InstrumentHalted" in kinds and "InstrumentResumed" in kinds
