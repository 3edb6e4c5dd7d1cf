"""The SimVenue actor: latency gating, the cancel race, rate-limit emulation, feed latency,
snapshots on request, shadow acks in observe mode, and determinism.

The venue sees a hand-built Binance book: bids 99.9 (10 lots) and asks 100.1 (10 lots), tick 0.1
and lot 0.5 (prices below are ticks: 999 is 99.9). Latencies are round numbers of ms so the
timeline of each test can be read off its `advance` calls.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from actors.execution.venue_connection import GetVenueState, VenuePeers
from actors.market.book_actor import OrderBookActor
from actors.market.book_feed import BookConfig
from actors.sim.exchange import SimInstrument
from actors.sim.latency import LatencyModel
from actors.sim.queue_models import RiskAverseQueue
from actors.sim.venue import SimVenue, SimVenueConfig, VenueRateLimit
from protocols.codec import Side
from protocols.feed import FeedBatch, FeedEvent, ResyncRequest
from protocols.instruments import InstrumentSpec
from protocols.journal import ObservedIntent, OrderSent
from protocols.orders import (
    Ack,
    Batch,
    CancelAck,
    CancelIntent,
    CancelReject,
    Fill,
    OrderIntent,
    OrderType,
    Priority,
    Reject,
    RejectCode,
    TimeInForce,
)
from protocols.portfolio import OwnFill, VenuePositions
from protocols.venue_state import (
    ActionOwner,
    RateLimited,
    RequestAccepted,
    SendActions,
    VenueReconciled,
)
from protocols.venues import binance
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.refs import NamedRef
from supervision.testing import Probe, received

SYM = "BTCUSDT"
SPEC = InstrumentSpec(SYM, "binance", D("0.1"), D("0.5"), D("0.5"), D("5"), D("0.0002"),
                      D("0.0005"))
MS = 0.001




def seen(host: DeterministicHost, ref: Any, kind: type | None = None) -> list[Any]:
    return received(host, ref, kind, with_time=True)


def build(host: DeterministicHost, *, latency: LatencyModel | None = None,
          rate_limit: VenueRateLimit | None = None, observe: bool = False) -> dict[str, Any]:
    refs = {name: host.spawn(name, Probe)
            for name in ("book", "budget", "portfolio", "owner", "journal", "monitor")}
    peers = VenuePeers(books={SYM: refs["book"]}, budget=refs["budget"],
                       portfolio=refs["portfolio"], journal=refs["journal"],
                       watchers=[refs["monitor"]])
    config = SimVenueConfig(
        instruments={SYM: SimInstrument(SPEC, "BTC", "USDT")}, queue_model=RiskAverseQueue(),
        latency=latency or LatencyModel.from_ms(insert=10, cancel=10, ack=5, feed=2),
        balances={"USDT": D(100_000), "BTC": D(10)}, rate_limit=rate_limit,
        reconcile_interval_s=None, observe_only=observe)
    refs["venue"] = host.spawn("venue", lambda: SimVenue(config, peers))
    host.settle()
    feed(host, refs, binance.DepthSnapshot(100, (("99.9", "5"),), (("100.1", "5"),)))
    feed(host, refs, diff(101, bids=(("99.9", "5"),)))
    return refs


def diff(update_id: int, *, bids: tuple[tuple[str, str], ...] = (),
         asks: tuple[tuple[str, str], ...] = ()) -> binance.DepthDiff:
    return binance.DepthDiff(SYM, 1, update_id, update_id, bids, asks)


def trade(trade_id: int, price: str, qty: str, aggressor: Side) -> binance.Trade:
    return binance.Trade(SYM, trade_id, D(price), D(qty), 1, 1, aggressor is Side.SELL)


def feed(host: DeterministicHost, refs: dict[str, Any], message: Any) -> None:
    refs["venue"].tell(FeedEvent(SYM, message, host.monotonic_ns()))
    host.settle()


def send(host: DeterministicHost, refs: dict[str, Any], *intents: Any) -> None:
    owner = ActionOwner("mm1", refs["owner"], host.monotonic_ns())
    priority = Priority.CANCEL if isinstance(intents[0], CancelIntent) else Priority.NEW
    refs["venue"].tell(SendActions(Batch(priority, intents, 1), (owner,) * len(intents),
                                   host.monotonic_ns()))
    host.settle()


def bid(cid: str, price: int, qty: int = 2) -> OrderIntent:
    return OrderIntent(cid, SYM, Side.BUY, OrderType.LIMIT, qty, price, TimeInForce.GTC)


def test_a_quote_cannot_fill_before_it_has_reached_the_venue() -> None:
    host = DeterministicHost(seed=1)
    refs = build(host)
    send(host, refs, bid("b1", 1000))  # improves the bid: nobody ahead of us at 100.0
    host.advance(5 * MS)  # half way to the venue
    feed(host, refs, trade(1, "99.9", "1", Side.SELL))  # sells through 100.0: not yet ours
    host.advance(6 * MS)  # the order arrives at t = 10 ms
    assert not seen(host, refs["owner"], Fill)
    feed(host, refs, trade(2, "99.9", "1", Side.SELL))
    host.advance(10 * MS)
    fills = seen(host, refs["owner"], Fill)
    assert [f.qty for _, f in fills] == [2]
    acks = seen(host, refs["owner"], Ack)
    assert acks[0][0] == 15_000_000  # 10 ms there, 5 ms back


def test_a_fill_can_still_arrive_after_the_cancel_was_sent() -> None:
    host = DeterministicHost(seed=1)
    refs = build(host)
    send(host, refs, bid("b1", 1000))
    host.advance(20 * MS)  # resting and acked
    send(host, refs, CancelIntent("b1", SYM))  # reaches the venue 10 ms from now
    host.advance(4 * MS)
    feed(host, refs, trade(3, "99.9", "1", Side.SELL))  # the venue fills us first
    host.advance(20 * MS)
    reports = [m for _, m in seen(host, refs["owner"])]
    kinds = [type(m).__name__ for m in reports]
    assert kinds == ["Ack", "Fill", "CancelReject"]
    assert reports[-1].code.value == "unknown_order"
    own = seen(host, refs["portfolio"], OwnFill)
    assert own[0][1].side is Side.BUY and own[0][1].strategy == "mm1"
    assert own[0][1].mid_x2_at_fill == 999 + 1001


def test_past_the_rate_limit_the_venue_answers_429_and_refuses_the_request() -> None:
    host = DeterministicHost(seed=1)
    refs = build(host, rate_limit=VenueRateLimit(requests_per_s=1.0, burst=2,
                                                  retry_after_ns=2_000_000_000))
    for i in range(3):
        send(host, refs, bid(f"b{i}", 990 - i))
    host.advance(30 * MS)
    budget = [m for _, m in seen(host, refs["budget"])]
    assert sum(isinstance(m, RequestAccepted) for m in budget) == 2
    limited = [m for m in budget if isinstance(m, RateLimited)]
    assert len(limited) == 1 and limited[0].retry_after_ns == 2_000_000_000
    rejects = [m for _, m in seen(host, refs["owner"], Reject)]
    assert [(r.client_order_id, r.code) for r in rejects] == [("b2", RejectCode.RATE_LIMITED)]
    host.advance(1.0)  # a token back
    send(host, refs, bid("b3", 980))
    host.advance(30 * MS)
    assert [m.client_order_id for _, m in seen(host, refs["owner"], Ack)][-1] == "b3"


def test_market_data_reaches_our_books_a_feed_latency_after_the_venue() -> None:
    host = DeterministicHost(seed=1)
    refs = build(host)
    sent_at = host.monotonic_ns()
    feed(host, refs, diff(102, asks=(("100.2", "3"),)))
    host.advance(5 * MS)
    delivered = [(t, m) for t, m in seen(host, refs["book"], FeedEvent)
                 if isinstance(m.message, binance.AnyDepthDiff)
                 and m.message.first_update_id == 102]
    assert delivered[0][0] - sent_at == 2_000_000
    # converted once, at the venue: our book gets the integer levels
    assert delivered[0][1].message.asks == ((1002, 6),)  # 100.2 / 0.1, 3 / 0.5
    assert delivered[0][1].recv_ns == delivered[0][0]


def test_market_data_travels_to_our_books_as_timed_tells_in_order_and_wakes_nobody() -> None:
    """The feed path needs no wake of the connection per event: each item is told to the book
    to land a feed latency later (drawn at random here, never overtaking the one before)."""
    host = DeterministicHost(seed=3)
    refs = build(host, latency=LatencyModel.from_ms(insert=10, cancel=10, ack=5, feed=2,
                                                    sigma=1.0))
    host.advance(100 * MS)  # what the start put on the wire has landed
    handled = host.actor("venue").mailbox.handled
    start = host.monotonic_ns()
    for i in range(20):
        feed(host, refs, trade(i, "100.1", "1", Side.BUY))
        host.advance(0.1 * MS)  # closer together than the latency: draws would overtake
    host.advance(100 * MS)
    assert host.actor("venue").mailbox.handled == handled + 20  # the 20 events, no wakes
    trades = [(t, m) for t, m in seen(host, refs["book"], FeedEvent) if t >= start
              and isinstance(m.message, binance.TradeInUnits)]
    assert [m.message.trade_id for _, m in trades] == list(range(20))
    stamps = [t for t, _ in trades]
    assert stamps == sorted(stamps) and all(m.recv_ns == t for t, m in trades)
    assert len(set(t - i * 100_000 for i, t in enumerate(stamps))) > 1  # the draws differ


def test_everything_on_the_wire_arrives_when_due_even_when_the_wake_timer_rounds_early() -> None:
    """The connection's wake is a timer in float seconds: 999,999 ns becomes 999,998 on the
    way (0.000999999 * 1e9 truncates). The wake that comes a nanosecond early must not be the
    last one: before the fix, nothing was due yet, no timer was left armed, and the market
    data and the order waited for whatever message came next (49 ms on the shipped
    recording, long enough for a post-only quote to cross the moved market)."""
    host = DeterministicHost(seed=1)
    odd = 999_999
    refs = build(host, latency=LatencyModel(insert_ns=odd, cancel_ns=odd, ack_ns=odd,
                                            feed_ns=odd))
    host.advance(10 * MS)
    start = host.monotonic_ns()
    feed(host, refs, diff(102, asks=(("100.2", "3"),)))
    send(host, refs, bid("b1", 1000))
    host.advance(5 * MS)
    (at, _event), = [(t, m) for t, m in seen(host, refs["book"], FeedEvent)
                     if isinstance(m.message, binance.AnyDepthDiff)
                     and m.message.first_update_id == 102]
    assert at - start == odd
    (acked_at, _ack), = seen(host, refs["owner"], Ack)
    assert acked_at - start == 2 * odd  # to the matching engine and back, nothing waits


def test_a_trade_is_converted_once_matched_at_the_venue_and_passed_on_in_units() -> None:
    host = DeterministicHost(seed=1)
    refs = build(host)
    send(host, refs, bid("b1", 1000))  # improves the bid: first in line at 100.0
    host.advance(20 * MS)
    sent_at = host.monotonic_ns()
    feed(host, refs, trade(7, "99.9", "1", Side.SELL))  # sells through our bid
    host.advance(5 * MS)
    (at, event), = [(t, m) for t, m in seen(host, refs["book"], FeedEvent)
                    if not isinstance(m.message, binance.AnyDepthDiff)]
    assert at - sent_at == 2_000_000  # a feed latency later, like the depth
    assert event.message == binance.TradeInUnits(SYM, 7, 999, 2, D("0.1"), D("0.5"), 1, 1, True)
    assert [f.qty for _, f in seen(host, refs["owner"], Fill)] == [2]  # matched at the venue


def test_a_resync_request_is_answered_with_the_venues_own_snapshot() -> None:
    host = DeterministicHost(seed=1)
    refs = build(host)
    snapshots = [m for _, m in seen(host, refs["book"], FeedEvent)
                 if isinstance(m.message, binance.DepthSnapshot)]
    assert snapshots == []  # the recorded REST answer stays at the venue
    refs["venue"].tell(ResyncRequest(SYM, "start"))
    host.advance(10 * MS)
    snapshots = [m.message for _, m in seen(host, refs["book"], FeedEvent)
                 if isinstance(m.message, binance.DepthSnapshot)]
    assert len(snapshots) == 1
    assert snapshots[0].last_update_id == 101
    assert snapshots[0].bids == (("99.9", "5.0"),) and snapshots[0].asks == (("100.1", "5.0"),)


def test_observe_mode_journals_intents_answers_with_shadow_acks_and_never_fills() -> None:
    host = DeterministicHost(seed=1)
    refs = build(host, observe=True)
    send(host, refs, bid("b1", 1000))
    host.advance(20 * MS)
    feed(host, refs, trade(4, "99.9", "1", Side.SELL))
    host.advance(20 * MS)
    send(host, refs, CancelIntent("b1", SYM))
    host.advance(20 * MS)
    kinds = [type(m).__name__ for _, m in seen(host, refs["owner"])]
    assert kinds == ["Ack", "CancelAck"]
    journal = [m for _, m in seen(host, refs["journal"])]
    assert [type(m) for m in journal if isinstance(m, ObservedIntent | OrderSent)] == [
        ObservedIntent, ObservedIntent]
    state = host.ask(refs["venue"], GetVenueState())
    assert state["open_orders"] == [] and host.metrics.total("troupe_orders_sent_total") == 0


def test_the_first_reconciliation_is_sent_at_start_and_announced() -> None:
    host = DeterministicHost(seed=1)
    refs = build(host)
    host.advance(10 * MS)
    assert seen(host, refs["portfolio"], VenuePositions)
    assert seen(host, refs["monitor"], VenueReconciled)


@pytest.mark.parametrize("seed", [3, 4])
def test_the_same_seed_gives_the_same_fills_under_random_latency(seed: int) -> None:
    def run() -> list[Any]:
        host = DeterministicHost(seed=seed)
        refs = build(host, latency=LatencyModel.from_ms(insert=5, cancel=5, ack=3, feed=1,
                                                        sigma=0.8))
        for i in range(6):
            send(host, refs, bid(f"b{i}", 1000 - i % 3, qty=1))
            host.advance(3 * MS)
            feed(host, refs, trade(10 + i, "99.8", "1", Side.SELL))
            host.advance(2 * MS)
        host.advance(50 * MS)
        return [(t, type(m).__name__, getattr(m, "client_order_id", ""))
                for t, m in seen(host, refs["owner"])]

    first, second = run(), run()
    assert first == second
    assert any(kind == "Fill" for _, kind, _ in first)


def test_cancel_all_cancels_every_resting_order() -> None:
    from protocols.venue_state import CancelAllOrders

    host = DeterministicHost(seed=1)
    refs = build(host)
    send(host, refs, bid("b1", 990), bid("b2", 991))
    host.advance(20 * MS)
    refs["venue"].tell(CancelAllOrders(None, "test", host.monotonic_ns()))
    host.advance(20 * MS)
    cancelled = sorted(m.client_order_id for _, m in seen(host, refs["owner"], CancelAck))
    assert cancelled == ["b1", "b2"]
    assert host.ask(refs["venue"], GetVenueState())["open_orders"] == []
    assert not seen(host, refs["owner"], CancelReject)


def test_one_strategys_cancel_all_racing_a_fill_is_refused_for_that_order_only() -> None:
    # The failsafe after a strategy's fault: cancel that strategy's orders by id. One of them
    # fills while the cancel-all is on the wire; the venue refuses its cancel (typed, no
    # exception in the venue actor) and still cancels the other.
    from protocols.venue_state import CancelAllOrders

    host = DeterministicHost(seed=1)
    refs = build(host)
    send(host, refs, bid("b1", 1000), bid("b2", 990))
    host.advance(20 * MS)  # both resting and acked
    refs["venue"].tell(CancelAllOrders(None, "failsafe", host.monotonic_ns(), "mm1"))
    host.advance(4 * MS)
    feed(host, refs, trade(3, "99.9", "1", Side.SELL))  # the venue fills b1 first
    host.advance(20 * MS)
    assert [m.client_order_id for _, m in seen(host, refs["owner"], Fill)] == ["b1"]
    assert [m.client_order_id for _, m in seen(host, refs["owner"], CancelAck)] == ["b2"]
    assert [m.client_order_id for _, m in seen(host, refs["owner"], CancelReject)] == ["b1"]
    assert host.ask(refs["venue"], GetVenueState())["open_orders"] == []
    assert host.log.records(actor="venue") == []  # no failure inside the venue actor


def _landing_order(batched: bool) -> list[str]:
    """A resting bid, then one instant's two events: a print that fills the bid, then a diff.
    Feed and ack take 5 ms each, so the fill comes back at the instant the events land at our
    book. Returns what the owner, who also reads the book, is told at that instant."""
    host = DeterministicHost(seed=1)
    reader = host.spawn("reader", Probe)
    book_ref = NamedRef(host, "book")
    peers = VenuePeers(books={SYM: book_ref}, budget=host.spawn("budget", Probe))
    config = SimVenueConfig(
        instruments={SYM: SimInstrument(SPEC, "BTC", "USDT")}, queue_model=RiskAverseQueue(),
        latency=LatencyModel.from_ms(insert=10, cancel=10, ack=5, feed=5),
        balances={"USDT": D(100_000), "BTC": D(10)}, reconcile_interval_s=None)
    venue = host.spawn("venue", lambda: SimVenue(config, peers))
    host.spawn("book", lambda: OrderBookActor(BookConfig.for_spec(SPEC), subscribers=[reader],
                                              resync=venue))
    host.settle()
    refs = {"venue": venue, "owner": reader}
    feed(host, refs, binance.DepthSnapshot(100, (("99.9", "5"),), (("100.1", "5"),)))
    send(host, refs, bid("b1", 1000))  # improves the bid: first in line at 100.0
    host.advance(20 * MS)
    start = host.monotonic_ns()
    events = [FeedEvent(SYM, trade(7, "99.9", "1", Side.SELL), start),
              FeedEvent(SYM, diff(101, asks=(("100.2", "3"),)), start)]
    for message in [FeedBatch(tuple(events))] if batched else events:
        venue.tell(message)
    host.advance(20 * MS)
    return [type(m).__name__ for t, m in seen(host, reader)
            if t == start + 5_000_000 and not isinstance(m, RequestAccepted)]


def test_one_instants_events_reach_the_book_batched_and_nothing_overtakes_them() -> None:
    """A `FeedBatch` is handled as its events told one by one, and what they send our book
    lands as one `FeedBatch` only while nothing could come between them: here the first event
    fills our bid, whose report is due at the instant the data lands, so the print lands first,
    then the fill, then the diff's top, exactly as without the batch."""
    assert _landing_order(batched=False) == ["TradePrint", "Fill", "BookTop"]
    assert _landing_order(batched=True) == ["TradePrint", "Fill", "BookTop"]


def test_one_instants_events_land_at_our_book_as_one_message() -> None:
    host = DeterministicHost(seed=1)
    refs = build(host)
    host.advance(20 * MS)
    start = host.monotonic_ns()
    events = tuple(FeedEvent(SYM, trade(i, "100.1", "1", Side.BUY), start) for i in range(3))
    refs["venue"].tell(FeedBatch(events))
    host.advance(5 * MS)
    (at, batch), = [(t, m) for t, m in seen(host, refs["book"]) if t > start]
    assert at == start + 2_000_000 and isinstance(batch, FeedBatch)
    assert [e.message.trade_id for e in batch.events] == [0, 1, 2]
    assert {e.recv_ns for e in batch.events} == {at}
