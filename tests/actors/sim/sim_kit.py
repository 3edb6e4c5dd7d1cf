"""Builders shared by the simulated-venue tests: a small spec, a book, an exchange, intents.

The numbers are chosen to be computed by hand: tick 0.1 and lot 0.5, so V (the quote value of
one tick on one lot) is 0.05, and a lot at 1000 ticks (100.0) is worth 50 quote.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from decimal import Decimal as D
from typing import Any

import attrs

from actors.market.l2_book import OrderBook
from actors.sim.account import SimAccount
from actors.sim.exchange import SimExchange, SimInstrument
from actors.sim.queue_models import QueueModel, RiskAverseQueue
from protocols.codec import Side
from protocols.instruments import ContractType, InstrumentSpec
from protocols.orders import (
    CancelIntent,
    OrderIntent,
    OrderType,
    ReplaceIntent,
    TimeInForce,
)

BUY, SELL = Side.BUY, Side.SELL
GTC, IOC, FOK, POST = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.POST_ONLY
SYM = "BTCUSDT"
PERP_SYM = "BTC-PERP"

# tick 0.1, lot 0.5, min qty 0.5 (1 lot), min notional 20, maker 2 bps, taker 5 bps.
SPEC = InstrumentSpec(SYM, "sim", D("0.1"), D("0.5"), D("0.5"), D("20"), D("0.0002"),
                      D("0.0005"))
SPOT = SimInstrument(SPEC, "BTC", "USDT")
# The perp pays a maker rebate of 1 bp.
PERP_SPEC = InstrumentSpec(PERP_SYM, "sim", D("0.1"), D("0.5"), D("0.5"), D("20"),
                           D("-0.0001"), D("0.0005"), contract_type=ContractType.PERP)
PERP = SimInstrument(PERP_SPEC, "BTC", "USDT", kind="perp")

BIDS = [(999, 4), (998, 6)]
ASKS = [(1001, 3), (1002, 5), (1004, 10)]
BALANCES = {"USDT": D("10000"), "BTC": D("10")}


def book(bids: Sequence[tuple[int, int]] = BIDS,
         asks: Sequence[tuple[int, int]] = ASKS) -> OrderBook:
    b = OrderBook()
    b.apply_snapshot(list(bids), list(asks), recv_ns=0)
    return b


def venue(bids: Sequence[tuple[int, int]] = BIDS, asks: Sequence[tuple[int, int]] = ASKS, *,
          balances: Mapping[str, D] | None = None, model: QueueModel | None = None,
          leverage: D = D(1), spot: SimInstrument = SPOT, perp: SimInstrument = PERP,
          seed: int = 1) -> tuple[SimExchange, OrderBook, OrderBook]:
    """An exchange with the spot instrument on one book and the perp on another (same levels)."""
    account = SimAccount(dict(BALANCES if balances is None else balances), leverage)
    exchange = SimExchange({SYM: spot, PERP_SYM: perp}, account,
                           model or RiskAverseQueue(), random.Random(seed))
    spot_book, perp_book = book(bids, asks), book(bids, asks)
    exchange.attach_depth(SYM, spot_book)
    exchange.attach_depth(PERP_SYM, perp_book)
    return exchange, spot_book, perp_book


def limit(cid: str, side: Side, qty: int, price: int, tif: TimeInForce = GTC, *,
          reduce_only: bool = False, inst: str = SYM) -> OrderIntent:
    return OrderIntent(cid, inst, side, OrderType.LIMIT, qty, price, tif, reduce_only)


def market(cid: str, side: Side, qty: int, *, reduce_only: bool = False,
           inst: str = SYM) -> OrderIntent:
    return OrderIntent(cid, inst, side, OrderType.MARKET, qty, None, TimeInForce.IOC,
                       reduce_only)


def cancel(cid: str, inst: str = SYM) -> CancelIntent:
    return CancelIntent(cid, inst)


def replace(cid: str, qty: int, price: int, *, reduce_only: bool = False,
            inst: str = SYM) -> ReplaceIntent:
    return ReplaceIntent(cid, inst, qty, price, reduce_only)


def brief(reports: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Reports as short tuples: ("ack", cid), ("fill", cid, qty, price, liquidity), ..."""
    out: list[tuple[Any, ...]] = []
    for r in reports:
        name = type(r).__name__.lower()
        if name == "fill":
            out.append(("fill", r.client_order_id, r.qty, r.price, r.liquidity.value))
        elif name in ("reject", "cancelreject"):
            out.append((name, r.client_order_id, r.code.value))
        else:
            out.append((name, r.client_order_id))
    return out


def state(exchange: SimExchange) -> tuple[Any, ...]:
    """Everything a refused request must leave untouched."""
    account = exchange.account
    stats = attrs.evolve(exchange.statistics(), rejects={})
    return (exchange.open_orders(), exchange.positions(),
            {a: (account.balance(a), account.reserved(a)) for a in ("USDT", "BTC")}, stats)
