"""Failures inside a running paper node, injected as an operator would, on the deterministic
host: a strategy that raises once or on every message, a risk gate that raises on every message,
and fault injection refused in live mode. Each test states what trading must look like after."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from actors.execution.venue_connection import GetVenueState
from actors.recovery import recover
from actors.risk.gate import RiskGate
from protocols.decisions import TradingState
from protocols.orders import OrderIntent
from supervision.node.assembly import FaultInjectionRefused
from supervision.node.journal import iter_journal
from supervision.node.live_guard import Mode
from supervision.runtime.faults import Fault
from tests.supervision.node.failure_kit import PaperNode


@pytest.fixture
def proposed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every new-order id any strategy proposed to the risk gate, in order."""
    ids: list[str] = []
    original = RiskGate._proposal

    def spy(self: RiskGate, proposal: Any, now: int, ctx: Any) -> Any:
        if isinstance(proposal.intent, OrderIntent):
            ids.append(proposal.intent.client_order_id)
        return original(self, proposal, now, ctx)

    monkeypatch.setattr(RiskGate, "_proposal", spy)
    return ids


def run_until_quoting(paper: PaperNode, prefix: str = "tr-mm1-", limit_s: int = 60) -> list[str]:
    for _ in range(limit_s):
        paper.run(1.0)
        resting = [o.client_order_id for o in paper.venue_orders()
                   if o.client_order_id.startswith(prefix)]
        if resting:
            return resting
    raise AssertionError(f"no order of {prefix} rested within {limit_s}s")


def test_a_strategy_that_raises_once_reuses_no_id_and_leaves_no_unknown_order(
        tmp_path: Path, proposed: list[str]) -> None:
    paper = PaperNode(tmp_path).start()
    resting = run_until_quoting(paper)
    issued_before = len(proposed)
    paper.node.inject_fault("strategies/mm1", Fault(times=1, message_type="BookTop"))
    paper.run(2.0)
    cell = paper.host.cell("node/strategies/mm1")
    assert (cell.failures, cell.restarts) == (1, 1)
    # The quotes of the dead incarnation were cancelled before the new one quoted.
    assert paper.unknown_open_orders() == []
    cancelled = {r["data"]["client_order_id"] for r in paper.records("CancelAck")}
    filled = {r["data"]["client_order_id"] for r in paper.records("Fill")}
    assert set(resting) <= cancelled | filled
    paper.run(30.0)
    assert len(proposed) > issued_before + 2, "the new incarnation never quoted again"
    assert len(set(proposed)) == len(proposed), "a client order id was proposed twice"
    assert paper.metric("troupe_risk_refusals_total", gate="invalid_order") == 0
    assert paper.duplicate_ids() == []
    assert paper.unknown_open_orders() == []
    assert [r["data"]["actor"] for r in paper.records("ActorRestarted")] == \
        ["node/strategies/mm1"]


def test_a_strategy_that_raises_on_every_message_is_given_up_and_the_rest_trades_on(
        tmp_path: Path) -> None:
    paper = PaperNode(tmp_path, strategies=2).start()
    run_until_quoting(paper, "tr-mm1-")
    paper.node.inject_fault("strategies/mm1", Fault(times=None))
    paper.run(20.0)
    cell = paper.host.cell("node/strategies/mm1")
    assert cell.state.value == "dead" and cell.restarts == 3
    gave_up = paper.records("SupervisorGaveUp")
    assert [(r["data"]["actor"], r["data"]["subtree"]) for r in gave_up] == \
        [("node/strategies/mm1", "strategy")]
    assert paper.metric("troupe_supervisor_give_ups_total", subtree="strategy") == 1
    # Its orders are gone and it sends no more; mm2 and the node carry on.
    assert not [o for o in paper.venue_orders() if o.client_order_id.startswith("tr-mm1-")]
    give_up_ns = gave_up[0]["mono_ns"]
    later = [r["data"]["client_order_id"] for r in paper.records("OrderSent")
             if r["mono_ns"] > give_up_ns]
    assert later and all(cid.startswith("tr-mm2-") for cid in later)
    assert paper.node.view.state is TradingState.ACTIVE
    assert paper.node.readiness().ready_trading
    assert paper.host.cell("node/strategies").state.value == "running"
    assert paper.unknown_open_orders() == []


def test_a_risk_gate_that_raises_on_every_message_halts_the_node_and_says_why(
        tmp_path: Path) -> None:
    paper = PaperNode(tmp_path).start()
    run_until_quoting(paper)
    paper.node.inject_fault("risk/gate", Fault(times=None))
    paper.run(5.0)
    gave_up = [(r["data"]["actor"], r["data"]["subtree"])
               for r in paper.records("SupervisorGaveUp")]
    assert ("node/risk", "risk") in gave_up and ("node", "root") in gave_up
    readiness = paper.node.readiness()
    assert not readiness.ready_trading and readiness.state == "halted"
    assert "node gave up" in readiness.detail["tree"]
    assert "supervisor: node gave up" in readiness.detail["state_reason"]
    halts = [r["data"] for r in paper.records("ControlAction") if r["data"]["action"] == "halt"]
    assert halts and halts[0]["source"] == "supervisor"
    assert paper.node.failsafe.failure is not None
    assert paper.metric("troupe_supervisor_give_ups_total", subtree="root") == 1
    assert paper.host.cell("node").state.value != "running"


def test_a_venue_subtree_that_gives_up_halts_trading(tmp_path: Path) -> None:
    paper = PaperNode(tmp_path).start()
    run_until_quoting(paper)
    paper.node.inject_fault("venue/connection", Fault(times=4, message_type="FeedEvent"))
    paper.run(10.0)
    assert [r["data"]["subtree"] for r in paper.records("SupervisorGaveUp")] == ["venue"]
    assert paper.node.failsafe.failure is None  # the root restarted the venue subtree
    assert paper.node.view.state is TradingState.HALTED
    assert not paper.node.readiness().ready_trading
    assert paper.host.actor("node/risk/gate").snapshot["trading_state"] == "HALTED"
    assert paper.venue_orders() == []  # the halt cancelled every order, and nothing sent since


def test_a_restarted_connection_continues_the_same_simulated_venue(tmp_path: Path) -> None:
    """The simulated exchange is the venue: our connection crashing loses none of its orders,
    balances, book or fill ids. The new incarnation attaches to the same exchange in the same
    venue session, learns what rests there, and the node's cancel-all reaches it: no orphan, no
    drift (the portfolio still agrees with the venue), and quoting resumes."""
    paper = PaperNode(tmp_path).start()
    run_until_quoting(paper)

    def transport() -> Any:
        return paper.host.cell("node/venue/connection").behaviour.transport

    exchange, prefix = transport().exchange, transport().exchange.fill_id_prefix
    resting = {o.client_order_id for o in paper.venue_orders()}
    assert resting
    sent_before = len(paper.sent_ids())
    paper.node.inject_fault("venue/connection", Fault(times=1))
    paper.run(30.0)
    assert paper.host.cell("node/venue/connection").failures == 1
    assert transport().exchange is exchange and exchange.fill_id_prefix == prefix
    cancelled = {r["data"]["client_order_id"] for r in paper.records("CancelAck")}
    assert resting <= cancelled  # the old incarnation's quotes: adopted, then cancelled
    fills = [r["data"]["fill_id"] for r in paper.records("Fill")]
    assert len(fills) == len(set(fills)) == exchange.statistics().fills
    recovered = recover(iter_journal(paper.journal_path))
    assert {o.client_order_id for o in paper.venue_orders()} == set(recovered.open_orders)
    assert paper.unknown_open_orders() == []
    assert len(paper.sent_ids()) > sent_before, "the market maker never quoted again"
    assert paper.host.actor("node/venue/book:BTCUSDT").snapshot["state"] == "synced"
    assert paper.node.view.state is TradingState.ACTIVE  # no drift: the account is the same
    assert paper.node.readiness().ready_trading


def test_fault_injection_is_refused_in_live_mode_and_for_unknown_actors(tmp_path: Path) -> None:
    live = PaperNode(tmp_path, mode=Mode.LIVE).start()
    live.run(1.0)
    with pytest.raises(FaultInjectionRefused, match="refused in live mode"):
        live.node.inject_fault("strategies/mm1", Fault())
    assert live.host.cell("node/strategies/mm1").fault is None
    paper = PaperNode(tmp_path / "p").start()
    with pytest.raises(FaultInjectionRefused, match="no actor named 'node/nobody'"):
        paper.node.inject_fault("nobody", Fault())


def test_a_dead_monitor_makes_the_node_stop_rather_than_report_stale_health(
        tmp_path: Path) -> None:
    paper = PaperNode(tmp_path).start()
    run_until_quoting(paper)
    paper.host.cell("monitor").inject_fault(Fault())  # the monitor is outside the tree
    paper.run(1.0)
    assert paper.node.failsafe.failure is not None
    assert "node monitor exited" in paper.node.failsafe.failure
    assert not paper.node.readiness().ready_trading
    assert paper.host.actor("node/risk/gate").snapshot["trading_state"] == "HALTED"


def test_a_crash_storm_leaves_the_journal_and_the_venue_in_exact_agreement(
        tmp_path: Path, proposed: list[str]) -> None:
    """A minute of virtual time with a fault every two seconds, at random among both market
    makers, the book and the venue connection, while they quote. The simulated exchange
    outlives the connection, so its order state is the truth the journal must match."""
    paper = PaperNode(tmp_path, strategies=2).start()
    run_until_quoting(paper)
    rng = random.Random(5)
    targets = ["strategies/mm1", "strategies/mm2", "venue/book:BTCUSDT", "venue/connection"]
    unknown_during = []
    for _ in range(30):
        paper.node.inject_fault(rng.choice(targets), Fault(times=1))
        paper.run(2.0)
        unknown_during += paper.unknown_open_orders()
    assert unknown_during == []  # checked after every fault, not only at the end
    paper.run(45.0)  # the back-off after the last failures is up to 30 s: quoting again after
    failures = [paper.host.cell(f"node/{t}").failures for t in targets]
    assert sum(failures) >= 20 and min(failures) >= 3  # a fault armed in a back-off may wait
    assert paper.records("SupervisorGaveUp") == []
    venue = paper.host.ask(paper.node.connection, GetVenueState())
    recovered = recover(iter_journal(paper.journal_path))
    # No orphan: what rests at the venue is exactly what the journal says is open, and each
    # of those orders is known to the strategy that owns it.
    assert venue["open_orders"], "the market makers are not quoting again after the storm"
    assert {o.client_order_id for o in venue["open_orders"]} == set(recovered.open_orders)
    assert paper.unknown_open_orders() == []
    # No lost fill: every fill the venue made is in the journal, once.
    fills = [r["data"]["fill_id"] for r in paper.records("Fill")]
    assert len(fills) == len(set(fills)) == venue["statistics"].fills > 0
    # No duplicate id, proposed or sent.
    assert len(set(proposed)) == len(proposed) and paper.duplicate_ids() == []
    assert paper.node.readiness().ready_trading


def test_a_budget_that_fails_loses_no_strategy_in_a_pending_order(tmp_path: Path) -> None:
    """Intents queued in a budget that dies are never answered: the strategies, whose view of
    their orders went with them, are restarted from no orders and quote again."""
    paper = PaperNode(tmp_path).start()
    run_until_quoting(paper)
    for _ in range(3):
        paper.node.inject_fault("venue/budget", Fault(times=1))
        paper.run(8.0)
    sent_before = len(paper.sent_ids())
    paper.run(20.0)
    assert len(paper.sent_ids()) > sent_before, "the strategy never quoted again"
    resting = {o.client_order_id for o in paper.venue_orders()}
    held = paper.strategy_orders()
    assert set(held) <= resting | in_flight(paper) and paper.unknown_open_orders() == []
    assert paper.node.readiness().ready_trading


def in_flight(paper: PaperNode) -> set[str]:
    cell = paper.host.cell("node/venue/connection")
    return set(cell.behaviour.session.open_orders())
