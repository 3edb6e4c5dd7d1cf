"""The whole data path, on both hosts: recorded Binance depth -> OrderBook -> MarketMaker ->
RiskGate -> ActionBudget -> a venue stand-in that acknowledges, with a Market actor feeding the
risk gate the spec. The path is the node's (`supervision.node.pipeline.TradingPath`) with the
stand-in plugged in as its venue connection; the same actors run unchanged on the deterministic
and the live host."""

from __future__ import annotations

import itertools
from decimal import Decimal

from actors.behaviour import Behaviour
from actors.execution.token_bucket import RateLimit, VenueLimits
from actors.strategies.market_maker import MarketMaker, MarketMakerConfig
from protocols.feed import FeedEvent
from protocols.instruments import InstrumentSpec
from protocols.orders import (
    Ack,
    Batch,
    CancelAck,
    CancelIntent,
    OrderIntent,
    Priority,
    ReplaceIntent,
    Side,
)
from protocols.recording import iter_messages
from protocols.venue_state import BudgetOpened, RequestAccepted, SendActions
from supervision.node.pipeline import StrategyPlan, TradingPath
from supervision.runtime.deterministic import DeterministicHost
from supervision.sources.data import BINANCE_SPOT_BTCUSDT

RECORDING = BINANCE_SPOT_BTCUSDT
SPEC = InstrumentSpec(
    symbol="BTCUSDT", venue="binance", tick_size=Decimal("0.01"),
    lot_step=Decimal("0.00000001"), min_qty=Decimal(0), min_notional=Decimal(5),
    maker_fee=Decimal("0.0001"), taker_fee=Decimal("0.0005"),
)


class AckingVenue(Behaviour):
    """Acknowledges every action it is sent; remembers them in order."""

    def __init__(self, budget) -> None:
        self.actions: list[object] = []
        self.budget = budget

    def receive(self, message, ctx):
        if message == "actions":
            return list(self.actions)
        if isinstance(message, SendActions):
            for intent, owner in zip(message.batch.intents, message.owners, strict=True):
                self.actions.append(intent)
                if owner is None:
                    continue
                if isinstance(intent, OrderIntent | ReplaceIntent):
                    ctx.tell(owner.reply_to, Ack(intent.client_order_id))
                elif isinstance(intent, CancelIntent):
                    ctx.tell(owner.reply_to, CancelAck(intent.client_order_id))
            ctx.tell(self.budget, RequestAccepted(ctx.monotonic_ns()))
        return None


def recorded_events(count):
    return [message for _, message in itertools.islice(iter_messages(RECORDING), count)]


def run_pipeline(host, messages):
    config = MarketMakerConfig(strategy="mm1", spec=SPEC, quote_lots=100_000,
                               max_inventory=1_000_000, gamma=0.1, k=1.5, sigma=50.0,
                               requote_min_interval_s=0.2)
    path = TradingPath(
        specs={"BTCUSDT": SPEC}, portfolio=False,
        strategies=[StrategyPlan("mm", "BTCUSDT", lambda gate, _: MarketMaker(config, gate))],
        limits=VenueLimits(limits=(RateLimit("orders", 50, 1_000_000_000),)),
        connection=lambda refs: lambda: AckingVenue(refs.budget))
    refs = path.spawn(host)
    book = refs.book("BTCUSDT")
    host.settle()
    for chunk_start in range(0, len(messages), 100):
        for message in messages[chunk_start:chunk_start + 100]:
            book.tell(FeedEvent("BTCUSDT", message, host.monotonic_ns()))
        host.settle()
        host.advance(0.25)  # lets requote intervals and the budget's wake-ups pass
    return host.ask(host.existing_cell("venue/connection").ref, "actions")


def test_recorded_depth_becomes_two_sided_post_only_quotes_through_risk_and_budget(host):
    actions = run_pipeline(host, recorded_events(1200))
    orders = [a for a in actions if isinstance(a, OrderIntent)]
    assert {o.side for o in orders} == {Side.BUY, Side.SELL}
    assert all(o.tif.value == "post_only" and not o.reduce_only for o in orders)
    assert all(o.qty == 100_000 for o in orders)
    best_buy = max(o.price for o in orders if o.side is Side.BUY)
    best_sell = min(o.price for o in orders if o.side is Side.SELL)
    assert best_buy < best_sell
    assert 6_000_000 < best_buy < 6_300_000  # BTC near 61,700 USDT in the recording, in ticks
    assert host.metrics.total("troupe_risk_refusals_total") == 0
    assert host.actor("venue/book:BTCUSDT").state == "running"
    assert host.actor("strategies/mm").failures == 0


def test_the_pipeline_is_deterministic_on_the_deterministic_host():
    messages = recorded_events(1200)
    first = run_pipeline(DeterministicHost(seed=3), messages)
    second = run_pipeline(DeterministicHost(seed=3), messages)
    assert len(first) >= 2
    assert first == second


class RecordingVenue(Behaviour):
    """Remembers every message in the order it handled them."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    def receive(self, message, ctx):
        if message == "seen":
            return list(self.seen)
        if not isinstance(message, BudgetOpened):  # the budget's start: not what is looked at
            self.seen.append(message)
        return None


class Burst(Behaviour):
    """In one turn, fills the connection's queue with frames, then sends a cancel."""

    def __init__(self, connection, frames: int) -> None:
        self.connection, self.frames = connection, frames

    def receive(self, message, ctx):
        refused = [ctx.tell(self.connection, FeedEvent("BTCUSDT", i, 0))
                   for i in range(self.frames)]
        cancel = SendActions(Batch(Priority.CANCEL, (CancelIntent("c1", "BTCUSDT"),), 1),
                             (None,), 0)
        return refused, ctx.tell(self.connection, cancel)


def test_a_cancel_behind_a_full_queue_of_frames_is_handled_first_and_no_frame_is_lost(host):
    frames = 50
    path = TradingPath(specs={}, strategies=[], portfolio=False,
                       limits=VenueLimits(limits=(RateLimit("orders", 50, 1_000_000_000),)),
                       connection=lambda refs: RecordingVenue, venue_mailbox_capacity=frames)
    refs = path.spawn(host)
    burst = host.spawn("burst", lambda: Burst(refs.connection, frames))
    host.settle()
    refused, cancel_refused = host.ask(burst, "go")
    host.settle()
    assert refused == [None] * frames and cancel_refused is None
    seen = host.ask(host.existing_cell("venue/connection").ref, "seen")
    assert isinstance(seen[0], SendActions), "the cancel waited behind the market data"
    assert [event.message for event in seen[1:]] == list(range(frames))  # FIFO, all of them


def test_watchers_hear_the_books_unless_nothing_reads_their_health():
    """A monitor subscribes to the books for /readyz and the status line; a backtest has
    neither (`watch_books=False`), so its books send the monitor no tops, while it still
    hears the gate and the portfolio."""
    def subscribers(watch_books):
        host = DeterministicHost(seed=1)
        monitor = host.spawn("monitor", lambda: AckingVenue(None))
        path = TradingPath(specs={"BTCUSDT": SPEC}, strategies=[], watchers=[monitor],
                           watch_books=watch_books,
                           limits=VenueLimits(limits=(RateLimit("orders", 50, 1_000_000_000),)),
                           connection=lambda refs: lambda: AckingVenue(refs.budget))
        path.spawn(host)
        host.settle()
        book = host.existing_cell("venue/book:BTCUSDT").behaviour
        portfolio = host.existing_cell("risk/portfolio").behaviour
        return [ref.name for ref in book.subscribers], monitor in portfolio.subscribers

    assert subscribers(True) == (["risk/gate", "risk/portfolio", "monitor"], True)
    assert subscribers(False) == (["risk/gate", "risk/portfolio"], True)
