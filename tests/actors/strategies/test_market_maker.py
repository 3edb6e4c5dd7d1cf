"""The market maker as an actor on the deterministic host: quotes, skew, inventory pressure, the
max-hold exit, the adverse-flow guard, the requote interval, and one WHY per non-action.

Reference quotes (A-S, sigma = 2 ticks/sqrt(s), gamma = 0.1, k = 1.5, rolling T - t = 10 s):
half spread = (4 + 20 ln(16/15)) / 2 = 2.6453852; inventory term = q * 0.1 * 4 * 10 = 4q ticks.
Around a mid of 10000 with q = 0: bid 9997.354 -> 9997 (down), ask 10002.645 -> 10003 (up).
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import attrs
import pytest

from actors.strategies.market_maker import MarketMaker, MarketMakerConfig
from actors.strategies.quoting_models import Horizon, HorizonMode, QuoteBound
from protocols.codec import Side as BookSide
from protocols.commands import PauseQuoting
from protocols.decisions import Gate, GateAction, NoTrade, Proposal, RiskRefused
from protocols.instruments import InstrumentSpec
from protocols.market import BookStale, BookTop, TradePrint
from protocols.orders import (
    Ack,
    CancelAck,
    CancelIntent,
    Dropped,
    Fill,
    Liquidity,
    OrderIntent,
    OrderType,
    Priority,
    Reject,
    RejectCode,
    ReplaceIntent,
    Side,
    TimeInForce,
)
from protocols.portfolio import OwnFill, PositionAdopted
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.mailbox import BoundedReject
from supervision.testing import Probe

INSTRUMENT = "BTC-PERP"
SPEC = InstrumentSpec(INSTRUMENT, "test", D("0.5"), D("0.001"), 0, 0, D("0.0001"), D("0.0005"))
SECOND = 1_000_000_000




class Rig:
    """A market maker wired to a recording risk gate and journal."""

    def __init__(self, gate_mailbox: Any = None, **overrides: Any) -> None:
        fields: dict[str, Any] = {
            "strategy": "mm1", "spec": SPEC, "quote_lots": 1, "max_inventory": 10,
            "gamma": 0.1, "k": 1.5, "sigma": 2.0,
            "horizon": Horizon(HorizonMode.ROLLING, window_s=10.0),
            "requote_min_interval_s": 0.5, "flow_window_s": 2.0, "flow_min_count": 5,
            "flow_same_side_ratio": 0.8,
        }
        fields.update(overrides)
        self.config = MarketMakerConfig(**fields)
        self.host = DeterministicHost(seed=1)
        self.gate_log: list[tuple[int, Any]] = []
        self.journal_log: list[tuple[int, Any]] = []
        self.gate = self.host.spawn("gate", lambda: Probe(self.gate_log), mailbox=gate_mailbox)
        self.journal = self.host.spawn("journal", lambda: Probe(self.journal_log))
        self.mm = self.host.spawn(
            "mm", lambda: MarketMaker(self.config, self.gate, self.journal))
        self.host.settle()
        self._seen = 0

    @property
    def now(self) -> int:
        return self.host.monotonic_ns()

    def send(self, *messages: Any) -> None:
        for message in messages:
            self.mm.tell(message)
        self.host.settle()  # run what is ready; virtual time does not move

    def book(self, bid: int | None, ask: int | None, qty: int = 5) -> BookTop:
        top = BookTop(INSTRUMENT, bid, qty if bid else 0, ask, qty if ask else 0, self.now)
        self.send(top)
        return top

    def new(self) -> list[Any]:
        """Intents proposed since the last call."""
        fresh = [m for _, m in self.gate_log[self._seen:]]
        self._seen = len(self.gate_log)
        assert all(isinstance(p, Proposal) for p in fresh)
        return [p.intent for p in fresh]

    def whys(self) -> list[str]:
        return [m.reason for _, m in self.journal_log if isinstance(m, NoTrade)]

    def ack(self, *intents: Any) -> None:
        self.send(*(Ack(i.client_order_id) for i in intents))

    def fill(self, intent: Any, qty: int, price: int, fill_id: str) -> None:
        self.send(Fill(intent.client_order_id, fill_id, qty, price, D("0.01"), Liquidity.MAKER))

    def snapshot(self) -> Any:
        return self.host.actor("mm").snapshot


def by_side(intents: list[Any]) -> dict[Side, Any]:
    placed = [i for i in intents if isinstance(i, OrderIntent)]
    return {i.side: i for i in placed}


def test_first_book_quotes_post_only_rounded_on_the_safe_side() -> None:
    rig = Rig(allow_inside=True)
    top = rig.book(9900, 10100)
    intents = rig.new()
    quotes = by_side(intents)
    assert len(intents) == 2
    assert quotes[Side.BUY].price == 9997 and quotes[Side.SELL].price == 10003
    for q in quotes.values():
        assert q.order_type is OrderType.LIMIT and q.tif is TimeInForce.POST_ONLY
        assert q.qty == 1 and not q.reduce_only and q.instrument == INSTRUMENT
    proposal = rig.gate_log[0][1]
    assert proposal.strategy == "mm1" and proposal.reply_to.name == "mm"
    assert proposal.trigger_recv_ns == top.recv_ns
    assert rig.whys() == []  # quoting is acting: no WHY


def test_quotes_stay_behind_the_touch_by_the_offset() -> None:
    rig = Rig(quote_offset_ticks=3)
    rig.book(9999, 10001)
    quotes = by_side(rig.new())
    # The model wants 9997 / 10003; the offset caps the bid at 9999 - 3 and floors the ask at
    # 10001 + 3: never through the touch, never closer than the offset.
    assert quotes[Side.BUY].price == 9996 and quotes[Side.SELL].price == 10004


def test_long_inventory_lowers_both_quotes() -> None:
    rig = Rig(allow_inside=True, quote_lots=5)
    rig.book(9900, 10100)
    first = by_side(rig.new())
    rig.ack(*first.values())
    rig.host.advance(1.0)
    rig.fill(first[Side.BUY], 3, 9997, "f1")  # q = 3: reservation 10000 - 12 = 9988
    moved = {i.client_order_id: i for i in rig.new()}
    bid = moved[first[Side.BUY].client_order_id]
    ask = moved[first[Side.SELL].client_order_id]
    assert isinstance(bid, ReplaceIntent) and isinstance(ask, ReplaceIntent)
    assert (bid.price, ask.price) == (9985, 9991)  # 9985.35 down, 9990.65 up
    assert bid.price < first[Side.BUY].price and ask.price < first[Side.SELL].price
    assert bid.qty == 5 and ask.qty == 5
    assert rig.snapshot()["q"] == 3


@pytest.mark.parametrize(("bound", "ask_after"), [(QuoteBound.POST_ONLY, 10001),
                                                   (QuoteBound.MODEL, 9983)])
def test_the_quote_bound_decides_whether_a_skewed_ask_may_cross_the_mid(
        bound: QuoteBound, ask_after: int) -> None:
    """q = 5 puts the reservation price 20 ticks under the 10000 mid and the model's ask at
    9982.65: POST_ONLY (live) holds it at the 10001 touch, MODEL (the A-S paper) sends it
    past the mid, rounded up to 9983."""
    rig = Rig(quote_lots=5, quote_bound=bound)
    rig.book(9999, 10001)
    first = by_side(rig.new())
    rig.ack(*first.values())
    rig.host.advance(1.0)
    rig.fill(first[Side.BUY], 5, 9997, "f1")
    moved = {i.client_order_id: i for i in rig.new()}
    assert moved[first[Side.SELL].client_order_id].price == ask_after


def test_inventory_pressure_pulls_the_growing_side_and_quotes_a_reduce_only_exit() -> None:
    rig = Rig(allow_inside=True, quote_lots=10, pressure_threshold=0.8)
    rig.book(9900, 10100)
    first = by_side(rig.new())
    rig.ack(*first.values())
    rig.host.advance(1.0)
    rig.fill(first[Side.BUY], 8, 9997, "f1")  # q = 8 = 0.8 * max_inventory
    exit_, cancel = rig.new()
    # Exit first: the ask becomes a reduce-only exit for the whole position at the model price
    # (reservation 10000 - 32 = 9968, ask 9970.65 -> 9971); then the bid is cancelled.
    assert isinstance(exit_, ReplaceIntent) and exit_.reduce_only
    assert (exit_.client_order_id, exit_.qty, exit_.price) == (
        first[Side.SELL].client_order_id, 8, 9971)
    assert cancel == CancelIntent(first[Side.BUY].client_order_id, INSTRUMENT)
    assert rig.whys() == []
    rig.host.advance(1.0)
    rig.book(9900, 10100)
    assert rig.new() == []  # nothing grows inventory; the exit is already in place
    assert rig.whys() == ["inventory_limit"]


def test_max_hold_exit_decays_monotonically_to_the_touch() -> None:
    # A tiny gamma and k = 0.05 make the model quote ~20 ticks out (9980 / 10020) with almost no
    # skew, so the max-hold exit is what moves the ask.
    rig = Rig(gamma=1e-6, k=0.05, quote_lots=2, max_hold_s=5.0, exit_target_ticks=30,
              exit_decay_s=10.0, exit_step_s=1.0, requote_min_interval_s=0.1)
    rig.book(9999, 10001)
    first = by_side(rig.new())
    assert (first[Side.BUY].price, first[Side.SELL].price) == (9980, 10020)
    rig.ack(*first.values())
    rig.host.advance(1.0)
    rig.fill(first[Side.BUY], 2, 9980, "f1")  # long 2 at 9980: exit target 10010
    rebid = by_side(rig.new())[Side.BUY]
    rig.ack(rebid)
    exits: list[int] = []
    cancels: list[str] = []
    for _ in range(15):
        rig.host.advance(1.0)
        for intent in rig.new():
            if isinstance(intent, CancelIntent):
                cancels.append(intent.client_order_id)
            else:
                assert intent.client_order_id == first[Side.SELL].client_order_id
                assert intent.reduce_only and intent.qty == 2
                exits.append(intent.price)
    # From 10010 at max_hold (t = 6 s) down to the best ask 10001 at t = 16 s, linearly: each
    # second 0.9 tick, each price rounded up (a sell), so the walk is monotone and ends at the
    # touch.
    assert exits[0] == 10010 and exits[-1] == 10001
    assert exits == sorted(exits, reverse=True) and len(set(exits)) == len(exits)
    assert cancels == [rebid.client_order_id]  # the growing side is pulled while exiting
    assert set(rig.whys()) == {"max_hold_exit"}  # seconds where the rounded exit did not move


def test_adverse_flow_pauses_quoting_and_resumes_when_the_window_clears() -> None:
    rig = Rig(allow_inside=True)
    rig.book(9900, 10100)
    first = by_side(rig.new())
    rig.ack(*first.values())
    rig.host.advance(0.1)
    prints = [TradePrint(INSTRUMENT, 10100, 1, BookSide.BUY, f"p{i}", rig.now) for i in range(5)]
    rig.send(*prints[:4])
    assert rig.new() == [] and rig.whys() == []  # four prints: light, not a decision point
    rig.send(prints[4])
    pulled = rig.new()
    assert {i.client_order_id for i in pulled} == {q.client_order_id for q in first.values()}
    assert all(isinstance(i, CancelIntent) for i in pulled)
    assert rig.whys() == ["adverse_flow"]
    rig.send(*(CancelAck(i.client_order_id) for i in pulled))
    rig.host.advance(1.0)
    rig.book(9900, 10100)
    assert rig.new() == [] and rig.whys() == ["adverse_flow", "adverse_flow"]
    rig.host.advance(1.0)  # the prints leave the 2 s window: the flow timer re-evaluates
    resumed = by_side(rig.new())
    assert set(resumed) == {Side.BUY, Side.SELL}
    assert rig.gate_log[-1][0] == 2_100_000_000  # exactly when the window cleared
    assert rig.whys() == ["adverse_flow", "adverse_flow"]


def test_two_way_flow_does_not_pause() -> None:
    rig = Rig(allow_inside=True)
    rig.book(9900, 10100)
    rig.ack(*by_side(rig.new()).values())
    sides = [BookSide.BUY, BookSide.SELL] * 4
    rig.send(*(TradePrint(INSTRUMENT, 10000, 1, s, f"p{i}", rig.now) for i, s in enumerate(sides)))
    assert rig.new() == [] and rig.whys() == []


def test_requote_waits_for_the_min_interval_on_virtual_time() -> None:
    rig = Rig(allow_inside=True, requote_min_interval_s=0.5)
    rig.book(9900, 10100)
    first = by_side(rig.new())
    rig.ack(*first.values())
    rig.host.advance(0.1)
    rig.book(9910, 10110)  # mid +10: both quotes want to move
    assert rig.new() == [] and rig.whys() == ["requote_interval"]
    rig.host.advance(0.1)
    rig.book(9920, 10120)  # another move: the same keyed timer, not a second one
    assert rig.new() == [] and rig.whys() == ["requote_interval", "requote_interval"]
    rig.host.advance(0.29)
    assert rig.new() == []  # t = 0.49 s: still inside the interval
    rig.host.advance(0.01)
    moved = rig.new()
    assert [t for t, _ in rig.gate_log[-2:]] == [500_000_000, 500_000_000]
    assert {(type(i), i.price) for i in moved} == {(ReplaceIntent, 10017), (ReplaceIntent, 10023)}
    assert rig.whys() == ["requote_interval", "requote_interval"]


def test_exactly_one_why_per_evaluation_that_does_not_quote() -> None:
    rig = Rig()
    rig.book(9999, None)  # one-sided
    rig.send(BookStale(INSTRUMENT, "gap", rig.now))
    rig.book(9999, 10001)  # quotes: no WHY
    quotes = by_side(rig.new())
    rig.book(9999, 10001)  # both quotes unacked
    rig.ack(*quotes.values())
    rig.book(9999, 10001)  # unchanged
    rig.send(PauseQuoting("operator"))  # pulls both quotes
    pulled = rig.new()
    rig.book(9999, 10001)
    assert rig.whys() == ["no_book", "book_stale", "order_in_flight", "no_change", "paused",
                          "paused"]
    assert all(isinstance(i, CancelIntent) for i in pulled) and len(pulled) == 2
    assert rig.new() == []  # the second pause evaluation does not cancel twice
    counters = rig.host.metrics.counters  # type: ignore[attr-defined]
    counted = {dict(labels)["reason"]: n for (actor, metric, labels), n in counters.items()
               if metric == "troupe_strategy_no_trade_total"}
    assert counted == {"no_book": 1, "book_stale": 1, "order_in_flight": 1, "no_change": 1,
                       "paused": 2}
    records = [m for _, m in rig.journal_log]
    assert all(r.strategy == "mm1" and r.instrument == INSTRUMENT for r in records)


def test_risk_refusal_is_a_why_then_a_cooldown() -> None:
    rig = Rig(risk_cooldown_s=1.0)
    rig.book(9999, 10001)
    quotes = by_side(rig.new())
    rig.send(RiskRefused(quotes[Side.BUY].client_order_id, INSTRUMENT, Gate.PRICE_BAND,
                         GateAction.BLOCK_NEW, "too far"))
    assert rig.whys() == ["risk_refused"]
    rig.book(9999, 10001)  # cooling down: the remaining quote is pulled, nothing placed
    assert rig.new() == [CancelIntent(quotes[Side.SELL].client_order_id, INSTRUMENT)]
    assert rig.whys() == ["risk_refused", "risk_refused"]
    rig.host.advance(1.0)  # the cooldown timer re-evaluates
    again = by_side(rig.new())
    assert set(again) == {Side.BUY}  # the ask's cancel is still in flight
    assert again[Side.BUY].client_order_id != quotes[Side.BUY].client_order_id


def test_a_rejected_replace_cancels_the_order_it_may_have_left() -> None:
    rig = Rig(allow_inside=True, requote_min_interval_s=0.1)
    rig.book(9900, 10100)
    first = by_side(rig.new())
    rig.ack(*first.values())
    rig.host.advance(1.0)
    rig.book(9920, 10120)
    assert all(isinstance(i, ReplaceIntent) for i in rig.new())
    bid_id = first[Side.BUY].client_order_id
    rig.send(Reject(bid_id, RejectCode.POST_ONLY_WOULD_TAKE))
    assert rig.new() == [CancelIntent(bid_id, INSTRUMENT)]


def test_fill_and_own_fill_of_one_execution_count_once() -> None:
    rig = Rig(allow_inside=True, requote_min_interval_s=0.1)
    rig.book(9900, 10100)
    bid = by_side(rig.new())[Side.BUY]
    rig.ack(bid)
    rig.host.advance(1.0)
    rig.fill(bid, 1, 9997, "f1")
    rig.send(OwnFill(INSTRUMENT, "mm1", bid.client_order_id, "f1", BookSide.BUY, 1, 9997,
                     D("0.01"), Liquidity.MAKER, rig.now))
    assert rig.snapshot()["q"] == 1


def test_stopping_cancels_every_quote() -> None:
    rig = Rig()
    rig.book(9999, 10001)
    quotes = by_side(rig.new())
    assert rig.host.stop(rig.mm)
    assert {i.client_order_id for i in rig.new()} == {q.client_order_id for q in quotes.values()}


def test_a_proposal_the_gate_mailbox_refuses_is_rolled_back() -> None:
    rig = Rig(gate_mailbox=BoundedReject(1), requote_min_interval_s=0.1)
    rig.book(9999, 10001)  # two proposals in one turn: the gate takes the bid, refuses the ask
    accepted = rig.new()
    assert [i.side for i in accepted] == [Side.BUY]
    orders = rig.snapshot()["orders"]
    assert orders["buy"]["cid"] == accepted[0].client_order_id and orders["sell"] is None
    assert rig.host.actor("gate").mailbox.rejected == 1
    rig.host.advance(1.0)
    rig.book(9999, 10001)  # the ask is simply quoted again, under a new id
    assert [(i.side, i.client_order_id) for i in rig.new()] == [(Side.SELL, "tr-mm1-3")]


def test_volatility_warms_up_from_mids_when_not_configured() -> None:
    rig = Rig(sigma=None, vol_min_samples=2, allow_inside=True)
    for mid in (10000, 10002, 10000):
        rig.book(mid - 100, mid + 100)
        rig.host.advance(1.0)
    assert rig.whys() == ["volatility_warmup", "volatility_warmup"]
    assert set(by_side(rig.new())) == {Side.BUY, Side.SELL}


def test_orders_the_budget_drops_are_quoted_again_on_the_next_book() -> None:
    """A cancel_all fence (or a TTL, or a refusing connection mailbox) makes the budget drop
    queued new orders and tell the strategy `Dropped`. Both sides must come back, not stay
    pending forever as `order_in_flight`."""
    rig = Rig(requote_min_interval_s=0.1)
    rig.book(9999, 10001)
    quotes = by_side(rig.new())
    assert set(quotes) == {Side.BUY, Side.SELL}
    for intent in quotes.values():
        rig.send(Dropped(intent, Priority.NEW, "cancel_all", rig.now, rig.now))
    assert rig.snapshot()["orders"] == {"buy": None, "sell": None}
    rig.host.advance(0.2)
    rig.book(9999, 10001)
    again = by_side(rig.new())
    assert set(again) == {Side.BUY, Side.SELL}
    assert {i.client_order_id for i in again.values()}.isdisjoint(
        i.client_order_id for i in quotes.values())
    assert "order_in_flight" not in rig.whys()


def test_a_restart_opening_position_is_the_inventory_it_quotes_from() -> None:
    """The venue's start-up reconciliation found the account 8 lots long (`PositionAdopted`,
    told on by the portfolio): the market maker does not believe itself flat. At the pressure
    threshold it quotes only the reduce-only exit, for the whole opening; its own fills add to
    the opening, and a corrected opening moves the inventory by the difference."""
    rig = Rig(allow_inside=True, quote_lots=10, pressure_threshold=0.8)
    rig.send(PositionAdopted(INSTRUMENT, 8))
    rig.book(9900, 10100)
    placed = rig.new()
    assert [(i.side, i.qty, i.reduce_only) for i in placed] == [(Side.SELL, 8, True)]
    assert rig.snapshot()["q"] == 8 and rig.snapshot()["entry"] == "10000"  # at the mid
    rig.ack(*placed)
    rig.fill(placed[0], 3, 9971, "f1")
    assert rig.snapshot()["q"] == 5
    rig.send(PositionAdopted(INSTRUMENT, 9))  # a fill the first reading missed
    assert rig.snapshot()["q"] == 6
    rig.send(PositionAdopted("OTHER", 100))  # another instrument's: not ours
    assert rig.snapshot()["q"] == 6


def test_a_fill_of_nobodys_order_moves_the_inventory_as_the_portfolio_tells_it() -> None:
    """A restart found the account 1 lot short, then a fill of an earlier run's order that the
    reading already held (nobody's: no strategy here sent it, so the venue tells no strategy).
    The portfolio tells the holder the corrected opening and then that fill: the inventory ends
    where the account is, not at the corrected opening alone. The venue's own report of a fill
    the portfolio also tells counts once, and another strategy's fill not at all."""
    rig = Rig()
    rig.send(PositionAdopted(INSTRUMENT, -1))
    rig.send(PositionAdopted(INSTRUMENT, 0))
    assert rig.snapshot()["q"] == 0
    late = OwnFill(INSTRUMENT, "", "tr-mm1-9", "t1", BookSide.SELL, 1, 10000, D("0"),
                   Liquidity.MAKER, rig.now)
    rig.send(late, late)
    assert rig.snapshot()["q"] == -1
    rig.send(OwnFill(INSTRUMENT, "mm2", "tr-mm2-1", "t2", BookSide.BUY, 5, 10000, D("0"),
                     Liquidity.MAKER, rig.now))
    assert rig.snapshot()["q"] == -1
    rig.book(9900, 10100)
    placed = rig.new()
    rig.ack(*placed)
    buy = next(i for i in placed if i.side is BookSide.BUY)
    rig.fill(buy, 1, 9950, "t3")
    rig.send(OwnFill(INSTRUMENT, "mm1", buy.client_order_id, "t3", BookSide.BUY, 1, 9950,
                     D("0.01"), Liquidity.MAKER, rig.now))
    assert rig.snapshot()["q"] == 0
    # An order of this strategy's last incarnation (an id this one never issued), told by
    # the portfolio: it counts, though the venue's bare report of it could not be placed.
    rig.fill(attrs.evolve(buy, client_order_id="tr-mm1-old"), 2, 9950, "t4")
    assert rig.snapshot()["q"] == 0
    rig.send(OwnFill(INSTRUMENT, "mm1", "tr-mm1-old", "t4", BookSide.BUY, 2, 9950, D("0"),
                     Liquidity.MAKER, rig.now))
    assert rig.snapshot()["q"] == 2
