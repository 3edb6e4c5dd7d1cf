"""The dislocation taker: the exact fee-aware threshold, two-hit confirmation and its expiry, the
last look, and the IOC entry followed by a time-stop reduce-only flatten.

Reference numbers: tick 0.1, taker fee 0.0005 (5 bps), min edge 2 bps -> the edge must exceed
0.0007 of the execution price. Oracle 10007.0 (100070 ticks, oracle_x2 = 200140): an ask of
100000 ticks (10000.0) is *exactly* 0.0007 below it, so it does not qualify; 99999 does.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from actors.strategies.taker import Taker, TakerConfig
from actors.strategies.taker_edge import (
    Confirmation,
    Hit,
    Reference,
    find_dislocation,
    required_edge,
)
from protocols.decisions import Gate, GateAction, NoTrade, Proposal, RiskRefused
from protocols.instruments import InstrumentSpec
from protocols.market import BookStale, BookTop, MarketState
from protocols.orders import (
    Dropped,
    Expired,
    Fill,
    Liquidity,
    OrderIntent,
    OrderType,
    Priority,
    Side,
    TimeInForce,
)
from supervision.runtime.deterministic import DeterministicHost
from supervision.testing import Probe

INSTRUMENT = "ETH-PERP"
SPEC = InstrumentSpec(INSTRUMENT, "test", D("0.1"), D("0.001"), 0, 0, D("0.0002"), D("0.0005"))
ORACLE_X2 = 200_140  # 10007.0




class Rig:
    def __init__(self, **overrides: Any) -> None:
        fields: dict[str, Any] = {
            "strategy": "tk1", "spec": SPEC, "entry_lots": 3, "min_edge_bps": D("2"),
            "confirm_ttl_ms": 200, "hold_ms": 5_000, "cooldown_ms": 1_000,
            "reference_max_age_ms": 1_000, "flatten_retry_ms": 250,
        }
        fields.update(overrides)
        self.host = DeterministicHost(seed=1)
        self.gate_log: list[tuple[int, Any]] = []
        self.journal_log: list[tuple[int, Any]] = []
        gate = self.host.spawn("gate", lambda: Probe(self.gate_log))
        journal = self.host.spawn("journal", lambda: Probe(self.journal_log))
        config = TakerConfig(**fields)
        self.taker = self.host.spawn("taker", lambda: Taker(config, gate, journal))
        self.host.settle()
        self._seen = 0

    @property
    def now(self) -> int:
        return self.host.monotonic_ns()

    def send(self, *messages: Any) -> None:
        for message in messages:
            self.taker.tell(message)
        self.host.settle()

    def oracle(self, oracle_x2: int = ORACLE_X2) -> None:
        self.send(MarketState(INSTRUMENT, SPEC, oracle_x2=oracle_x2, oracle_recv_ns=self.now,
                              recv_ns=self.now))

    def top(self, bid: int, ask: int, qty: int = 2, instrument: str = INSTRUMENT) -> BookTop:
        return BookTop(instrument, bid, qty, ask, qty, self.now)

    def book(self, bid: int, ask: int, qty: int = 2) -> BookTop:
        top = self.top(bid, ask, qty)
        self.send(top)
        return top

    def new(self) -> list[Any]:
        fresh = [m for _, m in self.gate_log[self._seen:]]
        self._seen = len(self.gate_log)
        assert all(isinstance(p, Proposal) for p in fresh)
        return [p.intent for p in fresh]

    def whys(self) -> list[str]:
        return [m.reason for _, m in self.journal_log if isinstance(m, NoTrade)]

    def fill(self, intent: OrderIntent, qty: int, price: int, fill_id: str) -> None:
        self.send(Fill(intent.client_order_id, fill_id, qty, price, D("0.1"), Liquidity.TAKER))

    def taker_snapshot(self) -> Any:
        return self.host.actor("taker").snapshot

    def enter(self) -> OrderIntent:
        """Oracle, then two dislocated books 100 ms apart: one IOC buy of 2 at 99999."""
        self.oracle()
        self.book(99990, 99999)
        self.host.advance(0.1)
        self.book(99990, 99999)
        (entry,) = self.new()
        return entry


# --- the exact threshold ------------------------------------------------------------------------


def test_required_edge_is_exact_decimal() -> None:
    assert required_edge(D("0.0005"), D("2")) == D("0.0007")
    assert str(required_edge(D("0.0005"), D("2"), fee_legs=2)) == "0.0012"
    with pytest.raises(ValueError, match="fee_legs"):
        required_edge(D("0.0005"), D("2"), fee_legs=0)


def test_fee_aware_edge_threshold_is_exact_at_the_boundary() -> None:
    threshold = required_edge(SPEC.taker_fee, D("2"))
    ref = D(ORACLE_X2) * SPEC.tick_size  # doubled price 20014.0
    at_boundary = BookTop(INSTRUMENT, 99990, 1, 100000, 1, 0)
    found, best = find_dislocation(at_boundary, SPEC.tick_size, ref, threshold)
    assert found is None and best == D("0.0007")  # equal is not "exceeds"
    # The naive float test says yes here: exactly the trade we must not make.
    assert 100070 > 100000 * (1 + 0.0005 + 0.0002)
    one_tick_better = BookTop(INSTRUMENT, 99990, 1, 99999, 1, 0)
    found, _ = find_dislocation(one_tick_better, SPEC.tick_size, ref, threshold)
    assert found is not None and (found.side, found.price) == (Side.BUY, 99999)
    # Selling: the bid must exceed 100070 / (1 - 0.0007) = 100140.098...
    found, _ = find_dislocation(BookTop(INSTRUMENT, 100140, 1, 100150, 1, 0), SPEC.tick_size,
                                ref, threshold)
    assert found is None
    found, _ = find_dislocation(BookTop(INSTRUMENT, 100141, 1, 100150, 1, 0), SPEC.tick_size,
                                ref, threshold)
    assert found is not None and (found.side, found.price) == (Side.SELL, 100141)


def test_confirmation_state_machine() -> None:
    c = Confirmation(ttl_ns=200)
    assert c.observe(Side.BUY, 0) is Hit.FIRST
    assert c.observe(Side.SELL, 50) is Hit.FIRST  # the other side starts over
    assert c.observe(Side.SELL, 250) is Hit.CONFIRMED  # 200 after the first: inside the TTL
    assert c.observe(Side.BUY, 300) is Hit.FIRST
    assert c.observe(Side.BUY, 501) is Hit.EXPIRED  # 201: too late, and a new first hit
    assert c.observe(Side.BUY, 600) is Hit.CONFIRMED


# --- the actor ----------------------------------------------------------------------------------


def test_two_hits_within_the_ttl_send_an_ioc_entry() -> None:
    rig = Rig()
    rig.oracle()  # a reference update is an evaluation too
    rig.book(99990, 99999)
    assert rig.new() == []
    rig.host.advance(0.1)
    second = rig.book(99990, 99999)
    (entry,) = rig.new()
    assert entry.side is Side.BUY and entry.order_type is OrderType.LIMIT
    assert entry.tif is TimeInForce.IOC and not entry.reduce_only
    assert (entry.price, entry.qty) == (99999, 2)  # entry_lots 3, capped to the 2 shown
    assert rig.gate_log[-1][1].trigger_recv_ns == second.recv_ns
    assert rig.whys() == ["no_book", "awaiting_confirmation"]


def test_edge_at_the_fee_boundary_is_not_taken() -> None:
    rig = Rig()
    rig.oracle()
    for _ in range(3):
        rig.book(99990, 100000)
        rig.host.advance(0.05)
    assert rig.new() == []
    assert rig.whys() == ["no_book"] + ["edge_below_fees"] * 3


def test_confirmation_expires_after_the_ttl() -> None:
    rig = Rig()
    rig.oracle()
    rig.book(99990, 99999)
    rig.host.advance(0.3)  # > 200 ms
    rig.oracle()  # keep the reference fresh: also an evaluation, and the late second hit
    assert rig.new() == []
    rig.host.advance(0.1)
    rig.book(99990, 99999)  # pairs with the late hit
    assert len(rig.new()) == 1
    assert rig.whys() == ["no_book", "awaiting_confirmation", "confirmation_expired"]


def test_hits_must_be_on_consecutive_updates() -> None:
    rig = Rig()
    rig.oracle()
    rig.book(99990, 99999)
    rig.book(99990, 100000)  # the dislocation is gone for one update
    rig.book(99990, 99999)
    assert rig.new() == []
    rig.book(99990, 99999)
    assert len(rig.new()) == 1
    assert rig.whys() == ["no_book", "awaiting_confirmation", "edge_below_fees",
                          "awaiting_confirmation"]


def test_last_look_on_the_newest_book_blocks_a_vanished_dislocation() -> None:
    rig = Rig()
    rig.oracle()
    rig.book(99990, 99999)
    # The confirming book and a newer one are both queued before the taker runs: the last look
    # runs after the newer one and finds the edge gone.
    rig.send(rig.top(99990, 99999), rig.top(99990, 100000))
    assert rig.new() == []
    assert rig.whys() == ["no_book", "awaiting_confirmation", "last_look_failed"]
    rig.book(99990, 99999)  # the confirmation starts over
    assert rig.whys()[-1] == "awaiting_confirmation"


def test_missing_and_stale_reference() -> None:
    rig = Rig()
    rig.book(99990, 99999)
    rig.oracle()
    rig.host.advance(1.5)  # the oracle is older than 1000 ms
    rig.book(99990, 99999)
    rig.send(BookStale(INSTRUMENT, "gap", rig.now))
    assert rig.new() == []
    assert rig.whys() == ["no_reference", "awaiting_confirmation", "stale_reference",
                          "book_stale"]


def test_ioc_entry_then_time_stop_reduce_only_flatten_then_cooldown() -> None:
    rig = Rig()
    entry = rig.enter()
    rig.fill(entry, 2, 99999, "f1")
    filled_at = rig.now
    rig.book(99995, 100005)
    assert rig.new() == [] and rig.whys()[-1] == "position_open"
    rig.host.advance(4.9)
    assert rig.new() == []
    rig.book(99980, 99990)  # the touch the flatten will use
    rig.host.advance(0.1)
    (flatten,) = rig.new()
    assert rig.gate_log[-1][0] == filled_at + 5_000_000_000  # hold_ms after the entry fill
    assert flatten.side is Side.SELL and flatten.reduce_only
    assert flatten.tif is TimeInForce.IOC and flatten.order_type is OrderType.LIMIT
    assert (flatten.price, flatten.qty) == (99980, 2)  # at the bid, the whole position
    rig.fill(flatten, 2, 99980, "f2")
    rig.host.advance(0.5)
    rig.book(99990, 99999)
    assert rig.new() == [] and rig.whys()[-1] == "cooldown"
    rig.host.advance(0.6)
    rig.oracle()
    assert rig.whys()[-1] == "awaiting_confirmation"  # the next cycle may begin


def test_partial_entry_and_partial_flatten_are_completed() -> None:
    rig = Rig()
    entry = rig.enter()
    rig.fill(entry, 1, 99999, "f1")
    rig.send(Expired(entry.client_order_id))  # IOC remainder cancelled: long 1
    rig.host.advance(5.0)
    (flatten,) = rig.new()
    assert (flatten.side, flatten.qty, flatten.reduce_only) == (Side.SELL, 1, True)
    rig.send(Expired(flatten.client_order_id))  # nothing traded at the touch
    rig.host.advance(0.25)
    (retry,) = rig.new()
    assert (retry.side, retry.qty, retry.reduce_only) == (Side.SELL, 1, True)
    assert retry.client_order_id != flatten.client_order_id


def test_risk_refused_entry_is_a_why_then_a_cooldown() -> None:
    rig = Rig()
    entry = rig.enter()
    rig.send(RiskRefused(entry.client_order_id, INSTRUMENT, Gate.POSITION_LIMIT,
                         GateAction.BLOCK_NEW))
    rig.book(99990, 99999)
    assert rig.whys()[-2:] == ["risk_refused", "cooldown"]


def test_venue_mid_reference_with_its_own_tick_size() -> None:
    rig = Rig(reference=Reference.VENUE_MID, reference_instrument="ETH-OTHER",
              reference_tick_size=D("0.01"))
    rig.send(rig.top(1_000_690, 1_000_710, instrument="ETH-OTHER"))  # mid 10007.00
    rig.book(99990, 100000)  # 10000.0: exactly at the threshold
    rig.book(99990, 99999)
    rig.book(99990, 99999)
    (entry,) = rig.new()
    assert (entry.side, entry.price) == (Side.BUY, 99999)
    assert rig.whys() == ["no_book", "edge_below_fees", "awaiting_confirmation"]


def test_an_entry_the_budget_drops_does_not_block_the_next_signal() -> None:
    """A cancel_all fence drops the queued IOC and tells us `Dropped`: the cycle is over at once
    (nothing was sent, so no cooldown), and the next confirmed dislocation is taken."""
    rig = Rig()
    entry = rig.enter()
    rig.send(Dropped(entry, Priority.NEW, "cancel_all", rig.now, rig.now))
    assert rig.taker_snapshot()["in_cycle"] is False
    rig.host.advance(0.1)
    rig.book(99990, 99999)
    rig.host.advance(0.1)
    rig.book(99990, 99999)
    (again,) = rig.new()
    assert again.side is Side.BUY and again.client_order_id != entry.client_order_id
