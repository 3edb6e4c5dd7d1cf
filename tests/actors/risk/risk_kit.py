"""Shared fixtures for the risk-gate rule tests: a perp spec, a config, and builders."""

from __future__ import annotations

from decimal import Decimal

from actors.risk.limits import RateWindow, RiskConfig
from actors.risk.rules import Approved, RiskState
from protocols.decisions import (
    Gate,
    GateAction,
    Proposal,
    RiskRefused,
)
from protocols.instruments import ContractType, InstrumentSpec
from protocols.market import BookTop, MarketState, TradingStatus
from protocols.orders import OrderIntent, OrderType, Side
from protocols.portfolio import PortfolioSnapshot, Position

MS = 1_000_000
SEC = 1_000 * MS
T0 = 100 * SEC
EPOCH = 1_700_000_000 * SEC  # 2023-11-14 22:13:20 UTC
INST = "BTC-PERP"
# Tick 0.5, lot 0.01: price ticks 20_000 = 10_000.0; one lot = 100 quote; min 5 lots.
SPEC = InstrumentSpec(INST, "sim", Decimal("0.5"), Decimal("0.01"), Decimal("0.05"),
                      Decimal(10), Decimal("0.0002"), Decimal("0.0005"), ContractType.PERP)
BID, ASK = 20_000, 20_002
MID_X2 = BID + ASK
CONFIG = RiskConfig(
    position_limits={INST: 60},
    max_total_exposure=Decimal(20_000),
    max_order_notional=Decimal(5_000),
    rate_per_strategy=RateWindow(4, 1_000),
    rate_per_instrument=RateWindow(6, 1_000),
    spread_warmup_samples=3,
)

_ids = iter(range(1, 10**9))


def order(side: Side = Side.BUY, qty: int = 10, price: int | None = BID, *,
          reduce_only: bool = False, cid: str | None = None, inst: str = INST) -> OrderIntent:
    kind = OrderType.LIMIT if price is not None else OrderType.MARKET
    return OrderIntent(cid or f"c-mm-{next(_ids)}", inst, side, kind, qty, price,
                       reduce_only=reduce_only)


def propose(intent: object, strategy: str = "mm") -> Proposal:
    return Proposal(strategy, intent, None, T0)


def top(now: int, bid: int = BID, ask: int = ASK, venue_ns: int | None = None,
        inst: str = INST) -> BookTop:
    return BookTop(inst, bid, 3, ask, 3, recv_ns=now, venue_ns=venue_ns)


def market(now: int, *, spec: InstrumentSpec = SPEC, mark_x2: int | None = MID_X2,
           status: TradingStatus = TradingStatus.TRADING, oi_capped: bool = False,
           inst: str = INST) -> MarketState:
    return MarketState(inst, spec, status, oracle_x2=mark_x2, mark_x2=mark_x2,
                       oracle_recv_ns=now if mark_x2 is not None else None,
                       open_interest_capped=oi_capped, recv_ns=now)


def snapshot(now: int, position: int = 0, *, daily: Decimal = Decimal(0),
             peak: Decimal = Decimal(0), equity: Decimal = Decimal(0),
             exposure: Decimal = Decimal(0)) -> PortfolioSnapshot:
    positions = (Position(INST, position, Decimal(10_000), Decimal(0), Decimal(0), Decimal(0),
                          Decimal(abs(position) * 100)),) if position else ()
    return PortfolioSnapshot(positions, exposure, Decimal(0), Decimal(0), daily, peak, equity,
                             recv_ns=now)


def ready(position: int = 0, config: RiskConfig = CONFIG) -> RiskState:
    """An ACTIVE account with a fresh book, a fresh mark at the mid, and `position` lots."""
    rs = RiskState(config)
    assert rs.on_market_state(market(T0), T0) == []
    assert rs.on_book_top(top(T0), T0) == []
    assert rs.on_portfolio(snapshot(T0, position), T0, EPOCH + T0) == []
    return rs


def refused(decision: object, gate: Gate, action: GateAction = GateAction.BLOCK_NEW) -> None:
    assert isinstance(decision, RiskRefused), decision
    assert (decision.gate, decision.action) == (gate, action), decision


def approved(decision: object, intent: object = None) -> Approved:
    assert isinstance(decision, Approved), decision
    if intent is not None:
        assert decision.proposal.intent == intent
        assert decision.scaled is None
    return decision
