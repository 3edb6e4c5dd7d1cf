"""`QuoteEngine._targets` (each side written out, plain tuples) gives what the rules' first
writing gave: a loop over both sides with the WHY of the first side left without a quote.
That writing is kept here as the reference and compared over random books, positions, holds
and models, prices at or below zero included."""

from __future__ import annotations

from decimal import Decimal as D
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.strategies.market_maker import MarketMakerConfig, QuoteEngine, QuoteWhy, Target
from actors.strategies.quoting_models import QuoteBound, hold_exit_ticks
from protocols.instruments import InstrumentSpec
from protocols.market import BookTop
from protocols.orders import Side

SPEC = InstrumentSpec("BTCUSDT", "binance", D("0.01"), D("0.001"), D("0.001"), D(0), D(0), D(0))
S = 1_000_000_000


def reference(engine: QuoteEngine, now: int, epoch: int,
              ) -> tuple[tuple[Target | None, Target | None], QuoteWhy | None]:
    """The targets as the rules were first written: one loop over (BUY, SELL)."""
    cfg, book, inv = engine.config, engine.book, engine.inventory
    assert book is not None and book.bid is not None and book.ask is not None
    q, s = inv.q, (book.bid + book.ask) / 2.0
    sigma = cfg.sigma if cfg.sigma is not None else engine.vol.sigma_ticks(s)
    bid_q, ask_q = engine.pricer.quotes(engine.spec, s, q, sigma,
                                        cfg.horizon.remaining_s(epoch), bid=book.bid,
                                        ask=book.ask)
    held = None if inv.since_ns is None else (now - inv.since_ns) / 1e9
    hold_exit = cfg.max_hold_s is not None and held is not None and held >= cfg.max_hold_s
    pressure = q != 0 and abs(q) >= cfg.pressure_threshold * cfg.max_inventory
    exit_side = Side.SELL if q > 0 else Side.BUY
    if hold_exit:
        assert inv.entry is not None and cfg.max_hold_s is not None and held is not None
        p = hold_exit_ticks(engine.spec, exit_side, entry=float(inv.entry),
                            target_ticks=cfg.exit_target_ticks,
                            touch=book.ask if exit_side is Side.SELL else book.bid,
                            overdue_s=held - cfg.max_hold_s, decay_s=cfg.exit_decay_s,
                            mode=cfg.exit_decay)
        if exit_side is Side.SELL:
            ask_q = min(max(p, book.bid + 1), ask_q)
        else:
            bid_q = max(min(p, book.ask - 1), bid_q)
    targets: list[Target | None] = []
    why: QuoteWhy | None = None
    exiting = q != 0 and (pressure or hold_exit)
    for side, price, room in ((Side.BUY, bid_q, cfg.max_inventory - q),
                              (Side.SELL, ask_q, cfg.max_inventory + q)):
        target: Target | None = None
        lots = min(cfg.quote_lots, room)
        if exiting and side is exit_side:
            target = (price, abs(q), True)
        elif exiting:
            why = why or (QuoteWhy.MAX_HOLD_EXIT if hold_exit else QuoteWhy.INVENTORY_LIMIT)
        elif lots <= 0:
            why = why or QuoteWhy.INVENTORY_LIMIT
        elif price <= 0:
            why = why or QuoteWhy.PRICE_OUT_OF_RANGE
        else:
            target = (price, lots, False)
        targets.append(target)
    return (targets[0], targets[1]), why


@settings(max_examples=400, deadline=None)
@given(bid=st.integers(1, 400), spread=st.integers(1, 5), q=st.integers(-12, 12),
       quote_lots=st.integers(1, 6), max_inventory=st.integers(1, 12),
       pressure=st.sampled_from([0.5, 0.8, 1.0, 2.0]), skew=st.sampled_from([0.0, 3.0, 40.0]),
       bound=st.sampled_from(list(QuoteBound)), max_hold_s=st.sampled_from([None, 1.0, 30.0]),
       held_s=st.sampled_from([None, 0.5, 2.0, 40.0]), entry=st.integers(1, 400))
def test_targets_are_the_first_writings(*, bid: int, spread: int, q: int, quote_lots: int,
                                           max_inventory: int, pressure: float, skew: float,
                                           bound: QuoteBound, max_hold_s: float | None,
                                           held_s: float | None, entry: int) -> None:
    config = MarketMakerConfig(strategy="mm", spec=SPEC, quote_lots=quote_lots,
                               max_inventory=max_inventory, gamma=0.1, k=1.5, sigma=2.0,
                               skew_ticks_per_lot=skew, quote_bound=bound,
                               pressure_threshold=pressure, max_hold_s=max_hold_s)
    engine = QuoteEngine(config)
    now = 100 * S
    engine.book = BookTop("BTCUSDT", bid, 1, bid + spread, 1, now)
    engine.inventory.q = q
    if q and held_s is not None:
        engine.inventory.entry = Fraction(entry)
        engine.inventory.since_ns = now - int(held_s * S)
    assert engine._targets(now, now) == reference(engine, now, now)
