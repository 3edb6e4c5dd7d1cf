"""Synthetic markets: the Avellaneda-Stoikov flow fills a quote at distance delta with probability
A*dt*exp(-k*delta) per step, its mid steps by sigma*sqrt(dt), a seed fixes every message, and the
update-id chain never breaks; random-walk books stay consistent and can continue a recording;
the SyntheticSource paces a generator (book at t, trades at t + step/2) in virtual time."""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Iterable
from decimal import Decimal as D
from typing import Any

import pytest

from actors.behaviour import Behaviour
from actors.market.book_actor import OrderBookActor
from actors.market.book_feed import BookConfig
from actors.market.l2_book import BinanceBookSync, SyncOutcome
from actors.sim.synthetic_market import AvellanedaStoikovFlow, RandomWalkBooks, StepEvents, poisson
from protocols.codec import Side
from protocols.feed import FeedEvent, ResyncRequest
from protocols.market import BookStale, BookTop, TradePrint
from protocols.recording import iter_messages
from protocols.venues.binance import DepthDiff, DepthSnapshot, Trade
from supervision.runtime.deterministic import DeterministicHost
from supervision.sources.data import BINANCE_SPOT_BTCUSDT
from supervision.sources.synthetic import MidUpdate, SyntheticEnded, SyntheticSource
from supervision.testing import Probe, received

SECOND = 10**9
# The paper's market (section 3.3), on a one-cent grid.
S0, SIGMA, DT, A, K = D(100), 2.0, 0.005, 140.0, 1.5
TICK, LOT = D("0.01"), D("1")


def paper_flow(seed: int, arrivals: Any = "bernoulli", tick: D = TICK) -> AvellanedaStoikovFlow:
    return AvellanedaStoikovFlow(S0, SIGMA, DT, A, K, tick, LOT, random.Random(seed),
                                 arrivals=arrivals)


def run(flow: AvellanedaStoikovFlow, steps: int) -> list[StepEvents]:
    return [flow.step() for _ in range(steps)]


def assert_chained(messages: Iterable[Any]) -> None:
    """Per symbol: diffs chain U == previous u + 1 from the snapshot, trade ids increase."""
    last_u: dict[str, int] = {}
    last_trade: dict[str, int] = {}
    for m in messages:
        if isinstance(m, DepthDiff):
            if m.symbol in last_u:
                assert m.first_update_id == last_u[m.symbol] + 1
            assert m.final_update_id >= m.first_update_id
            last_u[m.symbol] = m.final_update_id
        elif isinstance(m, Trade):
            assert m.trade_id > last_trade.get(m.symbol, 0)
            last_trade[m.symbol] = m.trade_id


# --- Avellaneda-Stoikov flow ------------------------------------------------------------------

@pytest.mark.parametrize("arrivals", ["bernoulli", "poisson"])
def test_fill_rate_at_distance_delta_is_A_dt_exp_minus_k_delta(arrivals: str) -> None:
    """Quote an ask on the grid at about delta above each step's mid: the number of buy prints
    reaching it over many steps matches sum(A*dt*exp(-k*distance)) within sampling error (for
    "poisson" it is the expected count of reaching orders, for "bernoulli" a probability).
    A coarse 0.2 grid makes the rounding of print prices matter: rounding a buy's reach up
    instead of down would overfill by about 15%, which this test sees."""
    tick = D("0.2")
    flow = paper_flow(11, arrivals, tick)
    deltas = (0.2, 0.6, 1.2)
    hits = dict.fromkeys(deltas, 0)
    expected = dict.fromkeys(deltas, 0.0)
    variance = dict.fromkeys(deltas, 0.0)
    for events in run(flow, 6_000):
        buys = [t.price for t in events.trades if isinstance(t, Trade) and not t.buyer_is_maker]
        for delta in deltas:
            ask = math.ceil((events.mid + D(repr(delta))) / tick) * tick  # a grid quote
            rate = A * DT * math.exp(-K * float(ask - events.mid))
            expected[delta] += rate
            variance[delta] += rate if arrivals == "poisson" else rate * (1 - rate)
            hits[delta] += sum(1 for p in buys if p >= ask)
    for delta in deltas:
        assert abs(hits[delta] - expected[delta]) < 4 * math.sqrt(variance[delta]), delta


def test_intensity_arrivals_keep_the_papers_fill_probability_past_the_mid() -> None:
    """"intensity": an ask at distance delta, negative included, is lifted in a step with
    probability min(1, A*dt*exp(-k*delta)), the paper's lambda(delta)*dt, capped at 1 (at
    delta = -0.3 it is 1.1: always). "bernoulli" caps at A*dt there, which this test tells apart."""
    tick = D("0.001")
    always = {}
    for arrivals, capped_at_a_dt in (("intensity", False), ("bernoulli", True)):
        flow = paper_flow(3, arrivals, tick)
        deltas = (-0.3, -0.1, 0.0, 0.4)
        hits = dict.fromkeys(deltas, 0)
        expected = dict.fromkeys(deltas, 0.0)
        variance = dict.fromkeys(deltas, 0.0)
        for events in run(flow, 4_000):
            buys = [t.price for t in events.trades
                    if isinstance(t, Trade) and not t.buyer_is_maker]
            for delta in deltas:
                ask = math.ceil((events.mid + D(repr(delta))) / tick) * tick
                rate = min(1.0, A * DT * math.exp(-K * float(ask - events.mid)))
                if capped_at_a_dt:
                    rate = min(rate, A * DT)
                expected[delta] += rate
                variance[delta] += rate * (1 - rate)
                hits[delta] += any(p >= ask for p in buys)
        for delta in deltas:
            assert abs(hits[delta] - expected[delta]) <= 4 * math.sqrt(variance[delta]) + 1, (
                arrivals, delta)
        always[arrivals] = hits[-0.3]
    assert always["intensity"] == 4_000 and always["bernoulli"] < 0.75 * 4_000


def test_display_offset_moves_the_displayed_book_out_and_keeps_the_mid() -> None:
    flow = AvellanedaStoikovFlow(S0, SIGMA, DT, A, K, TICK, LOT, random.Random(1),
                                 arrivals="intensity", display_offset=D(25))
    snapshot = flow.snapshot()
    bid, ask = D(snapshot.bids[0][0]), D(snapshot.asks[0][0])
    assert (bid, ask) == (S0 - 25, S0 + 25)
    events = flow.step()
    diff = events.book[0]
    assert isinstance(diff, DepthDiff)
    new_bid = next(D(p) for p, q in diff.bids if q != "0")
    new_ask = next(D(p) for p, q in diff.asks if q != "0")
    assert abs((new_bid + new_ask) / 2 - events.mid) <= TICK and new_ask - new_bid > 49
    with pytest.raises(ValueError, match="display_offset"):
        AvellanedaStoikovFlow(S0, SIGMA, DT, A, K, TICK, LOT, random.Random(1),
                              display_offset=D(-1))


def test_sell_side_prints_mirror_the_buy_side() -> None:
    flow = paper_flow(5)
    sells = buys = 0
    for events in run(flow, 3_000):
        for t in events.trades:
            assert isinstance(t, Trade)
            if t.buyer_is_maker:
                sells += 1
                assert t.price <= math.floor(events.mid / TICK) * TICK + TICK
            else:
                buys += 1
    expected = 3_000 * A * DT
    assert abs(sells - expected) < 4 * math.sqrt(expected) and abs(buys - expected) < 4 * \
        math.sqrt(expected)


def test_the_same_seed_gives_the_same_messages_and_another_seed_does_not() -> None:
    def messages(seed: int) -> list[Any]:
        flow = paper_flow(seed)
        out = flow.start()
        for events in run(flow, 200):
            out += events.book + events.trades + [events.mid]
        return out

    assert messages(3) == messages(3)
    assert messages(3) != messages(4)


def test_the_mid_steps_by_sigma_sqrt_dt_and_the_book_brackets_it() -> None:
    flow = paper_flow(2)
    assert math.isclose(float(flow.mid_step), SIGMA * math.sqrt(DT), rel_tol=1e-15)
    sync = BinanceBookSync(TICK, LOT)
    (snap,) = flow.start()
    assert isinstance(snap, DepthSnapshot)
    sync.on_snapshot(snap, 0)
    assert (sync.book.best_bid, sync.book.best_ask) == (9999, 10001)  # mid on the grid
    previous = flow.mid
    for n in range(1, 201):
        events = flow.step()
        assert abs(events.mid - previous) == flow.mid_step
        assert flow.mid == events.mid and flow.time_s == pytest.approx(n * DT)
        previous = events.mid
        (diff,) = events.book
        assert isinstance(diff, DepthDiff)
        assert sync.on_diff(diff, n).outcome is SyncOutcome.APPLIED
        bid, ask = sync.book.best_bid, sync.book.best_ask
        assert bid is not None and ask is not None
        assert bid * TICK <= events.mid <= ask * TICK and 1 <= ask - bid <= 2
        assert sync.book.level_count(Side.BUY) == sync.book.level_count(Side.SELL) == 1


def test_update_ids_and_trade_ids_never_break() -> None:
    flow = paper_flow(9, "poisson")
    messages: list[Any] = []
    for events in run(flow, 500):
        messages += events.book + events.trades
    assert_chained(messages)
    first = next(m for m in messages if isinstance(m, DepthDiff))
    assert first.first_update_id == 2  # the snapshot is id 1
    trades = [m for m in messages if isinstance(m, Trade)]
    assert len(trades) > 500 and all(t.qty == LOT for t in trades)
    # Trades print half a step after the book they follow.
    assert trades[0].trade_time_ms >= first.event_time_ms


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="arrivals"):
        paper_flow(1, "hawkes")
    with pytest.raises(ValueError):
        AvellanedaStoikovFlow(S0, SIGMA, 0.0, A, K, TICK, LOT, random.Random(1))


def test_poisson_draws_have_the_right_mean() -> None:
    rng = random.Random(1)
    draws = [poisson(rng, 0.7) for _ in range(20_000)]
    assert sum(draws) / len(draws) == pytest.approx(0.7, abs=0.03)
    assert poisson(rng, 0) == 0


# --- random-walk books --------------------------------------------------------------------------

INSTRUMENTS = [("AAA", 10_000, D("0.01"), D("0.001")), ("BBB", 500, D("0.5"), D("1"))]


def test_random_walk_books_chain_their_ids_and_never_cross() -> None:
    walks = RandomWalkBooks(INSTRUMENTS, 10, random.Random(21))
    syncs = {sym: BinanceBookSync(tick, lot) for sym, _, tick, lot in INSTRUMENTS}
    for symbol, snap in zip(walks.symbols, walks.start(), strict=True):
        assert isinstance(snap, DepthSnapshot)
        syncs[symbol].on_snapshot(snap, 0)
    messages: list[Any] = []
    for n in range(3_000):
        for m in walks.step():
            messages.append(m)
            if isinstance(m, DepthDiff):
                sync = syncs[m.symbol]
                assert sync.on_diff(m, n).outcome is SyncOutcome.APPLIED
                assert not sync.book.crossed
                assert (sync.book.best_bid, sync.book.best_ask) == walks.top(m.symbol)
                assert sync.book.level_count(Side.BUY) <= 20
    assert_chained(messages)
    assert {m.symbol for m in messages} == {"AAA", "BBB"}
    assert sum(isinstance(m, Trade) for m in messages) > 300
    for symbol, _, tick, lot in INSTRUMENTS:  # a resync snapshot is the generator's own book
        sync, fresh = syncs[symbol], BinanceBookSync(tick, lot)
        fresh.on_snapshot(walks.snapshot(symbol), 0)
        for side in Side:
            assert fresh.book.depth(side, 100) == sync.book.depth(side, 100)


@functools.cache
def recorded_book() -> tuple[BinanceBookSync, int, int]:
    """The shipped Binance recording's final book, with its last trade id and venue time."""
    sync = BinanceBookSync(D("0.01"), D("0.00000001"))
    last_trade = last_ms = 0
    for ts, m in iter_messages(BINANCE_SPOT_BTCUSDT):
        if isinstance(m, DepthDiff):
            sync.on_diff(m, ts)
            last_ms = max(last_ms, m.event_time_ms)
        elif isinstance(m, DepthSnapshot):
            sync.on_snapshot(m, ts)
        elif isinstance(m, Trade):
            last_trade = max(last_trade, m.trade_id)
    return sync, last_trade, last_ms


def test_continue_from_joins_the_recordings_last_ids() -> None:
    sync, last_trade, last_ms = recorded_book()
    book = sync.book
    walks = RandomWalkBooks.continue_from(
        "BTCUSDT", book.depth(Side.BUY, 5_000), book.depth(Side.SELL, 5_000),
        sync.last_update_id, last_trade, D("0.01"), D("0.00000001"), random.Random(8),
        time_ms=last_ms)
    last_id = sync.last_update_id
    first = walks.step()
    diff = first[-1]
    assert isinstance(diff, DepthDiff) and diff.first_update_id == last_id + 1
    assert diff.event_time_ms > last_ms
    messages = first + [m for _ in range(2_000) for m in walks.step()]
    trades = [m for m in messages if isinstance(m, Trade)]
    assert trades[0].trade_id == last_trade + 1
    for m in messages:  # the recording's own book takes every continued diff
        if isinstance(m, DepthDiff):
            assert sync.on_diff(m, 0).outcome is SyncOutcome.APPLIED
            assert not sync.book.crossed
    assert sync.gaps == 0
    assert_chained(messages)


def test_a_random_walk_needs_a_sane_book() -> None:
    with pytest.raises(ValueError, match="crossed"):
        RandomWalkBooks.continue_from("X", [(10, 1)], [(10, 1)], 1, 0, D(1), D(1),
                                      random.Random(1))
    with pytest.raises(ValueError, match="both sides"):
        RandomWalkBooks.continue_from("X", [(10, 1)], [], 1, 0, D(1), D(1), random.Random(1))


# --- the SyntheticSource ------------------------------------------------------------------------



def seen(host: DeterministicHost, name: str) -> list[tuple[int, Any]]:
    return received(host, name, with_time=True)


def test_synthetic_source_paces_book_then_trades_half_a_step_later() -> None:
    host = DeterministicHost(seed=3)
    venue, end, mids = (host.spawn(n, Probe) for n in ("venue", "end", "mids"))
    flow = paper_flow(4)
    host.spawn("source", lambda: SyntheticSource(flow, venue, 0.1, steps=20, on_end=end,
                                                 instrument_map={"SYNTH": "AS"},
                                                 observer=mids))
    host.run_until_idle(max_seconds=10)
    events = seen(host, "venue")
    assert all(isinstance(e, FeedEvent) and e.instrument == "AS" for _, e in events)
    assert all(t == e.recv_ns for t, e in events)
    assert isinstance(events[0][1].message, DepthSnapshot) and events[0][0] == 0
    diffs = [t for t, e in events if isinstance(e.message, DepthDiff)]
    assert diffs == [n * SECOND // 10 for n in range(1, 21)]
    trade_times = {t for t, e in events if isinstance(e.message, Trade)}
    assert trade_times and trade_times <= {n * SECOND // 10 + SECOND // 20 for n in range(1, 21)}
    assert_chained(e.message for _, e in events)
    ((t_end, ended),) = seen(host, "end")
    assert ended == SyntheticEnded(20, len(events))
    assert t_end >= max(t for t, _ in events)  # after the last trades
    updates = [m for _, m in seen(host, "mids")]
    assert [u.step for u in updates] == list(range(1, 21))
    assert isinstance(updates[-1], MidUpdate) and updates[-1].mid == flow.mid


class Forwarder(Behaviour):
    """Stands in for the venue connection: passes the book's ResyncRequests to the source."""

    def __init__(self, to: list[Any]) -> None:
        self.to = to  # filled once the source is spawned

    def receive(self, message: Any, ctx: Any) -> Any:
        if isinstance(message, ResyncRequest):
            ctx.tell(self.to[0], message)


def test_synthetic_books_feed_an_order_book_and_answer_resyncs() -> None:
    host = DeterministicHost(seed=3)
    to: list[Any] = []
    strategy = host.spawn("strategy", Probe)
    connection = host.spawn("connection", lambda: Forwarder(to))
    walks = RandomWalkBooks([("AAA", 10_000, D("0.01"), D("0.001"))], 5, random.Random(2))
    config = BookConfig("AAA", "binance", D("0.01"), D("0.001"))
    book = host.spawn("book", lambda: OrderBookActor(config, subscribers=[strategy],
                                                     resync=connection))
    source = host.spawn("source", lambda: SyntheticSource(walks, book, 0.01, steps=300))
    to.append(source)
    host.run_until_idle(max_seconds=3.5)  # 300 steps of 10 ms, before the freshness watchdog
    got = [m for _, m in seen(host, "strategy")]
    assert sum(isinstance(m, BookTop) for m in got) == 301  # the snapshot and 300 diffs
    assert any(isinstance(m, TradePrint) for m in got)
    assert not any(isinstance(m, BookStale) for m in got)
    assert host.metrics.total("troupe_book_gaps_total") == 0
    # The book's start-up request was answered with the current book (already had: ignored).
    assert host.metrics.total("troupe_source_resync_requests_total") == 1


def test_a_synthetic_source_answers_a_resync_with_its_current_book() -> None:
    host = DeterministicHost(seed=3)
    venue = host.spawn("venue", Probe)
    walks = RandomWalkBooks(INSTRUMENTS, 5, random.Random(2))
    source = host.spawn("source", lambda: SyntheticSource(walks, venue, 0.01, steps=50,
                                                          instrument_map={"BBB": "bbb"}))
    host.run_until_idle(max_seconds=1)
    source.tell(ResyncRequest("bbb", "gap"))
    source.tell(ResyncRequest("unknown", "gap"))
    host.settle()
    last = seen(host, "venue")[-1][1]
    assert last.instrument == "bbb" and last.message == walks.snapshot("BBB")
    assert last.message.last_update_id == max(
        e.message.final_update_id for _, e in seen(host, "venue")
        if isinstance(e.message, DepthDiff) and e.message.symbol == "BBB")
    assert host.metrics.total("troupe_source_resync_requests_total") == 2


def test_a_sweep_trades_through_the_touch_and_the_book_follows() -> None:
    """With sweeps on, a market order takes every level within its reach (one trade each) and
    part of the next; a new level joins the other side a tick away, so the mid has jumped and
    the spread is one tick again."""
    bids = [(100 - i, 5) for i in range(10)]
    asks = [(101 + i, 5) for i in range(10)]
    walks = RandomWalkBooks.continue_from("X", bids, asks, 1, 0, D(1), D(1), random.Random(3),
                                          levels=10, p_move=0.0, p_trade=1.0, p_sweep=1.0,
                                          sweep_ticks=5)
    swept = 0
    for _ in range(50):
        before = walks.top("X")
        trades = [m for m in walks.step() if not isinstance(m, DepthDiff)]
        bid, ask = walks.top("X")
        assert bid < ask
        if len(trades) > 1:
            swept += 1
            prices = [t.price for t in trades]
            assert prices == sorted(prices) or prices == sorted(prices, reverse=True)
            assert ask - bid == 1 and (bid, ask) != before
    assert swept > 10


def test_without_sweeps_a_walk_replays_as_before() -> None:
    """p_sweep = 0 draws nothing more from the generator: the same seed, the same market."""
    def run(**kw: float) -> list[object]:
        walks = RandomWalkBooks.continue_from("X", [(100, 5), (99, 5)], [(101, 5), (102, 5)],
                                              1, 0, D(1), D(1), random.Random(7), **kw)
        return [m for _ in range(200) for m in walks.step()]

    assert run() == run(p_sweep=0.0)
    assert run() != run(p_sweep=0.5, sweep_ticks=3)
