"""Restart from the journal: ids never reused, open orders found, a halt and a day's loss
remembered. Journals are written by the real JournalWriter (and, for the risk state, by a real
RiskGate on the deterministic host), read back from disk, and folded by `recover`."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from actors.behaviour import Behaviour
from actors.execution.ids import ClientOrderIds, encode_cloid
from actors.recovery import recover
from actors.risk.gate import RiskGate
from actors.risk.views import utc_day
from protocols.decisions import Gate, NoTrade, RiskRefused, TradingState
from protocols.journal import (
    ActorRestarted,
    CancelSent,
    ControlAction,
    Flush,
    JournalEntry,
    JournalError,
    NodeStarted,
    NodeStopped,
    ObservedIntent,
    OrderSent,
    ReplaceSent,
)
from protocols.journal_codec import RECORD_TYPES, structure_record
from protocols.orders import (
    Ack,
    CancelAck,
    Expired,
    Fill,
    OrderIntent,
    OrderType,
    Reject,
    RejectCode,
    Side,
)
from protocols.portfolio import OwnFill, PortfolioSnapshot, PositionAdopted
from protocols.risk import DailyLoss, RiskPersistentState, SetTradingState
from supervision.node.journal import iter_journal, recover_journal
from supervision.node.journal_writer import JournalWriter
from supervision.runtime.deterministic import DEFAULT_EPOCH_NS, DeterministicHost
from tests.supervision.node.node_kit import write_journal as journal

INST = "BTC-PERP"


def sent(cid: str, qty: int = 5, side: Side = Side.BUY, strategy: str = "mm") -> OrderSent:
    intent = OrderIntent(cid, INST, side, OrderType.LIMIT, qty, 20_000)
    return OrderSent.from_intent(intent, strategy, 1)


def fill(cid: str, fill_id: str, qty: int) -> Fill:
    return Fill(cid, fill_id, qty, 20_000, Decimal("0.01"))


# -- ids --------------------------------------------------------------------------------------


def test_ids_are_never_reused_across_namespaces_and_restarts(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    used: list[str] = []

    def run(node: str, mm_orders: int, taker_orders: int) -> None:
        state = recover_journal(path)
        mm = ClientOrderIds("tr", "mm", state.high_water("tr", "mm"))
        taker = ClientOrderIds("tr", "tk1", state.high_water("tr", "tk1"))
        records: list[Any] = [NodeStarted(node, "paper", "paper", "0.1.0")]
        for _ in range(mm_orders):
            used.append(mm.next())
            records.append(sent(used[-1]))
        for _ in range(taker_orders):  # observe mode: not sent, but the ids are spent
            used.append(taker.next())
            intent = OrderIntent(used[-1], INST, Side.SELL, OrderType.MARKET, 1, None)
            records.append(ObservedIntent.from_intent(intent, "tk1", 2))
        used.append(mm.next())  # refused by the gate: never sent, still spent
        records.append(RiskRefused(used[-1], INST, Gate.TRADING_STATE,
                                   _block_new(), "halted"))
        journal(path, *records, NodeStopped("signal"))

    run("a", 3, 2)
    run("a", 1, 0)
    run("a", 0, 4)
    assert len(used) == len(set(used)) == 13
    assert recover_journal(path).id_high_water == {"tr-mm": 7, "tr-tk1": 6}


def _block_new() -> Any:
    from protocols.decisions import GateAction

    return GateAction.BLOCK_NEW


def test_a_hyperliquid_cloid_counts_for_its_namespace() -> None:
    records = [
        _line(1, "Ack", {"client_order_id": "tr-mm-3"}),
        _line(2, "VenueNote", {"cloid": encode_cloid("tr-mm-41")}),
        _line(3, "VenueNote", {"cloid": encode_cloid("zz-other-99")}),  # not a known namespace
    ]
    assert recover(records).id_high_water == {"tr-mm": 41}


def _line(seq: int, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"seq": seq, "ts_ns": 0, "mono_ns": 0, "kind": kind, "source": "", "data": data}


# -- open orders ------------------------------------------------------------------------------


def test_open_orders_are_those_no_report_closed(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal(
        path,
        sent("tr-mm-1"), Ack("tr-mm-1"), fill("tr-mm-1", "f1", 2), fill("tr-mm-1", "f2", 3),
        sent("tr-mm-2"), Ack("tr-mm-2"), CancelSent("tr-mm-2", INST, "mm", 3),
        CancelAck("tr-mm-2"),
        sent("tr-mm-3"), Reject("tr-mm-3", RejectCode.POST_ONLY_WOULD_TAKE),
        sent("tr-mm-4"), Ack("tr-mm-4"), fill("tr-mm-4", "f3", 2),
        OwnFill(INST, "mm", "tr-mm-4", "f3", Side.BUY, 2, 20_000, Decimal(0),
                fill("x-y-1", "f", 1).liquidity, 5),  # the same fill again: counted once
        sent("tr-mm-5"), Expired("tr-mm-5"),
        sent("tr-mm-6"), Ack("tr-mm-6"), ReplaceSent("tr-mm-6", INST, 8, 20_001, False, "mm", 4),
        Reject("tr-mm-6", RejectCode.INVALID_PRICE),  # the amend's reject: the order rests
        sent("tr-mm-7"), Reject("tr-mm-7", RejectCode.DUPLICATE_CLIENT_ORDER_ID),
        sent("tr-mm-8"), CancelSent("tr-mm-8", INST, "mm", 5),  # no answer yet
    )
    state = recover_journal(path)
    assert sorted(state.open_orders) == ["tr-mm-4", "tr-mm-6", "tr-mm-7", "tr-mm-8"]
    four, six, seven, eight = (state.open_orders[f"tr-mm-{n}"] for n in (4, 6, 7, 8))
    assert (four.filled, four.remaining, four.side, four.price) == (2, 3, Side.BUY, 20_000)
    assert four.fill_ids == ("f3",)  # a venue adapter never passes these again
    assert (six.qty, six.price, six.replace_pending) == (8, 20_001, False)
    assert seven.acked
    assert eight.cancel_sent and not eight.acked


def test_fills_of_several_runs_leave_no_phantom_open_order(tmp_path: Path) -> None:
    """Each run's simulated venue numbered its fills from sim-1 (journals written before fill
    ids carried a venue session): a fill is identified by its order and its id, so one run's
    "sim-1" does not hide the next run's."""
    path = tmp_path / "journal.jsonl"
    counter = 0
    for _run in range(3):
        records: list[Any] = [NodeStarted("paper", "paper", "paper", "0.1.0")]
        for n in range(1, 4):
            counter += 1
            cid = f"tr-mm-{counter}"
            records += [sent(cid, qty=5), Ack(cid), fill(cid, f"sim-{2 * n - 1}", 2),
                        fill(cid, f"sim-{2 * n}", 3)]
            records.append(OwnFill(INST, "mm", cid, f"sim-{2 * n}", Side.BUY, 3, 20_000,
                                   Decimal(0), fill("x-y-1", "f", 1).liquidity, 5))
        journal(path, *records, NodeStopped("duration"))
    state = recover_journal(path)
    assert state.open_orders == {}
    assert state.id_high_water == {"tr-mm": 9}


def own(cid: str, fill_id: str, qty: int, side: Side = Side.BUY) -> OwnFill:
    return OwnFill(INST, "mm", cid, fill_id, side, qty, 20_000, Decimal(0),
                   fill("x-y-1", "f", 1).liquidity, 5)


def test_the_position_counts_from_the_last_opening_and_the_fills_since(tmp_path: Path) -> None:
    """Run 1 records the starting inventory (the balance it first found) and trades; run 2
    dies before its start-up reconciliation; run 3 opens where the venue said (more than the
    journal knew: a fill it never saw), is corrected once, and trades on."""
    path = tmp_path / "journal.jsonl"
    start = NodeStarted("n", "live", "live", "0.1.0")
    journal(path, start, PositionAdopted(INST, 0, "BTC", Decimal("1.5"), "recorded"),
            own("tr-mm-1", "f1", 3), own("tr-mm-1", "f1", 3),  # the same fill twice: once
            own("tr-mm-2", "f2", 1, Side.SELL), NodeStopped("duration"))
    journal(path, start, own("tr-mm-3", "f3", 4))  # killed before it reconciled
    state = recover_journal(path)
    assert state.positions == {INST: 6}
    assert state.starting_inventory == {"BTC": (Decimal("1.5"), "recorded")}
    journal(path, start, PositionAdopted(INST, 9, "BTC", Decimal("1.5"), "journal"),
            own("tr-mm-4", "f4", 2), PositionAdopted(INST, 7, "BTC", Decimal("1.5"), "journal"),
            own("tr-mm-4", "f5", 1, Side.SELL))
    assert recover_journal(path).positions == {INST: 7 + 2 - 1}


# -- the trading state and the daily loss -----------------------------------------------------


class Inbox(Behaviour):
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def receive(self, message: Any, ctx: Any) -> None:
        self.seen.append(message)


def gate_run(path: Path, *messages: Any,
             restored: RiskPersistentState | None = None) -> tuple[DeterministicHost, RiskGate]:
    """A node with a RiskGate that journals to `path`; `messages` go to the gate."""
    host = DeterministicHost(seed=3)
    journal_ref = host.spawn("journal", lambda: JournalWriter(path, fsync="always"),
                             blocking=True)
    budget = host.spawn("budget", Inbox)
    gate = RiskGate(budget, journal=journal_ref, restored=restored)
    gate_ref = host.spawn("risk", _same(gate))
    for message in messages:
        host.tell(gate_ref, message)
    host.run_until_idle()
    host.ask(journal_ref, Flush())
    return host, gate


def _same(behaviour: Behaviour) -> Callable[[], Behaviour]:
    return lambda: behaviour


def test_a_halt_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    _, gate = gate_run(path, SetTradingState(TradingState.HALTED, "fat finger", "control"))
    assert gate.persistent_state().trading_state is TradingState.HALTED

    state = recover_journal(path)
    assert state.trading_state is TradingState.HALTED
    assert state.risk is not None and state.risk.reason == "fat finger"

    host, restarted = gate_run(tmp_path / "second.jsonl", restored=state.risk)
    assert restarted.persistent_state() == state.risk
    assert restarted.snapshot()["trading_state"] == "HALTED"
    assert host.metrics.gauges[("risk", "troupe_trading_state", ())] == 2


def test_a_daily_loss_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    loss = PortfolioSnapshot((), Decimal(0), Decimal("-1500.25"), Decimal(0),
                             Decimal("-1500.25"), Decimal(0), Decimal("-1500.25"), recv_ns=1)
    _, gate = gate_run(path, loss)
    expected = DailyLoss(utc_day(DEFAULT_EPOCH_NS), Decimal("-1500.25"), True)
    assert gate.persistent_state().daily == expected

    state = recover_journal(path)
    assert state.daily_loss == expected
    assert state.trading_state is TradingState.REDUCING
    assert state.risk is not None and state.risk.cause is Gate.DAILY_LOSS
    _, restarted = gate_run(tmp_path / "second.jsonl", restored=state.risk)
    assert restarted.persistent_state() == state.risk
    assert restarted.rules.daily == expected


def test_a_journaled_halt_the_gate_never_recorded_is_still_applied() -> None:
    active = _risk(TradingState.ACTIVE)
    records = [_line(1, "RiskPersistentState", active),
               _line(2, "ControlAction", {"action": "halt", "reason": "alert", "source": "am",
                                          "ok": True, "detail": ""})]
    state = recover(records)
    assert state.trading_state is TradingState.HALTED
    assert state.last_control == ControlAction("halt", "alert", "am")
    assert "applied (HALTED)" in state.notes[0]


def test_an_unconfirmed_resume_or_a_failed_action_does_not_lift_a_halt() -> None:
    halted = _risk(TradingState.HALTED)
    resume = {"action": "resume", "reason": "looks fine", "source": "http", "ok": True,
              "detail": ""}
    state = recover([_line(1, "RiskPersistentState", halted), _line(2, "ControlAction", resume)])
    assert state.trading_state is TradingState.HALTED
    assert "never confirmed" in state.notes[0]

    failed = dict(resume, action="halt", ok=False)
    state = recover([_line(1, "RiskPersistentState", _risk(TradingState.ACTIVE)),
                     _line(2, "ControlAction", failed)])
    assert state.trading_state is TradingState.ACTIVE and state.last_control is None


def _risk(trading_state: TradingState) -> dict[str, Any]:
    return {"trading_state": int(trading_state), "cause": "trading_state", "reason": "x",
            "daily": {"utc_day": 19_000, "realized_pnl": "-3.5", "breached": False},
            "halts": [["ETH-PERP", {"gate": "spec_change", "reason": "tick changed"}]]}


def test_an_empty_journal_recovers_a_fresh_node(tmp_path: Path) -> None:
    state = recover_journal(tmp_path / "none.jsonl")
    assert (state.records, state.last_seq, state.risk, state.trading_state) == (
        0, 0, None, TradingState.ACTIVE)
    assert (state.open_orders, state.id_high_water, state.unclean_exit) == ({}, {}, False)


# -- start and stop markers -------------------------------------------------------------------


def test_an_unclean_exit_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    started = NodeStarted("node-a", "live", "observe", "0.1.0")
    journal(path, started, ActorRestarted("strategy:mm", "ZeroDivisionError"),
            NodeStopped("SIGTERM"))
    state = recover_journal(path)
    assert (state.unclean_exit, state.stopped, state.restarts) == (
        False, NodeStopped("SIGTERM"), {"strategy:mm": 1})

    journal(path, started, NoTrade("mm", INST, "stale_book", 1))  # killed: no NodeStopped
    state = recover_journal(path)
    assert state.unclean_exit and state.started == started and state.stopped is None
    assert state.unclean_exits == 1 and state.last_seq == 5
    assert any("did not stop cleanly" in note for note in state.notes)

    journal(path, started, NodeStopped("SIGINT"))
    state = recover_journal(path)
    assert not state.unclean_exit and state.unclean_exits == 1


# -- the typed records round-trip -------------------------------------------------------------


def test_every_typed_record_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    risk = RiskPersistentState(TradingState.REDUCING, Gate.MAX_DRAWDOWN, "dd",
                               DailyLoss(19_000, Decimal("-7.125"), True))
    originals: list[Any] = [
        risk, ControlAction("cancel_all", "drill", "http", False, "refused"),
        NodeStarted("n", "live", "observe", "0.1.0"), NodeStopped("SIGTERM"),
        ActorRestarted("venue", "timeout"), sent("tr-mm-1"),
        ObservedIntent.from_intent(sent("tr-mm-2").to_intent(), "mm", 5),
        fill("tr-mm-1", "f1", 2), Fill("tr-mm-1", "f2", 1, 20_000, 3),  # an int fee stays int
        Reject("tr-mm-3", RejectCode.RATE_LIMITED, "slow down", recv_ns=9),
    ]
    journal(path, *originals)
    back = [structure_record(r["kind"], r["data"]) for r in iter_journal(path)]
    assert back == originals
    assert type(back[8].fee) is int
    assert {"OrderSent", "RiskPersistentState", "ControlAction"} <= set(RECORD_TYPES)


def test_data_that_does_not_fit_its_kind_is_a_clear_error() -> None:
    with pytest.raises(JournalError, match="no record type named 'Bogus'"):
        structure_record("Bogus", {})
    with pytest.raises(JournalError, match=r"RiskPersistentState: .*trading_state"):
        structure_record("RiskPersistentState", dict(_risk(TradingState.ACTIVE),
                                                     trading_state=7))
    bad = dict(_risk(TradingState.ACTIVE), daily={"utc_day": 1, "realized_pnl": "lots"})
    with pytest.raises(JournalError, match=r"record seq 4: RiskPersistentState: "):
        recover([_line(4, "RiskPersistentState", bad)])
    with pytest.raises(JournalError, match="record 1: needs an int seq"):
        recover([{"kind": "A", "data": {}}])


def test_free_form_entries_are_counted_but_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal(path, JournalEntry("OperatorNote", {"text": "hello"}, "ops"))
    state = recover_journal(path)
    assert (state.records, state.last_seq, state.trading_state) == (1, 1, TradingState.ACTIVE)
