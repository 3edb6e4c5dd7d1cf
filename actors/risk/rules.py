"""The risk rules of one account: pure, in the h11 style. Inputs in, a decision or effects out.

RULE ORDER for a proposal (`RiskState.check`). The first rule that refuses decides, so every
refusal carries exactly one gate and one action.

 0. Cancels pass. A CancelIntent is approved before anything is looked at: no state, halt, rate
    or staleness gate ever keeps an order from being cancelled.
 1. Trading state [TRADING_STATE, or the gate that caused the state: DAILY_LOSS, MAX_DRAWDOWN,
    or SPEC_CHANGE / TIME_REGRESSION when an instrument halt was configured to halt the account].
    ACTIVE: go on. REDUCING: only reduce-only goes on (BLOCK_NEW). HALTED: only a reduce-only
    exit of an instrument under an explicit `Flatten` goes on (CANCEL_ALL_AND_HALT).
 2. Validity [INVALID_ORDER, BLOCK_NEW]. A known instrument (a spec), an intent type, a client
    order id not reused with other content, the venue minimums (min qty, min notional), and a
    reduce-only that truly reduces the current position: one that would increase or flip it is
    refused here, so the reduce-only privileges below cannot be claimed by a lie.
 3. Hard halts. The instrument halted by the gate after a spec change or a time regression
    [SPEC_CHANGE / TIME_REGRESSION, CANCEL_ALL_AND_HALT]: what is not reduce-only ("cancel all
    and stop" when flat, "reduce then stop" when holding: the position's own exits still go,
    as the 8 market gates never block an exit; an operator's Flatten is not needed for them).
    The venue halted or in reduce-only status [VENUE_HALT, BLOCK_NEW]: what is not reduce-only.
    --- A reduce-only exit that got here is APPROVED. Nothing below may block it: not the
        duplicate window either (a second identical exit is what a strategy sends when its
        first IOC found nothing, and it cannot add exposure). A venue halt lets it through
        too: the venue decides what it accepts while halted, and a reject costs nothing. ---
 4. Staleness [STALE_BOOK, then STALE_ORACLE; BLOCK_NEW]: no two-sided book, a BookStale not yet
    followed by a BookTop, a book older than `stale_book_ms`; an oracle/mark older than
    `stale_oracle_ms` (required for derivatives, and for any instrument that ever had one).
    --- An idempotent resend (same client order id, same content as an order approved before)
        that got here is forwarded exactly as it was forwarded the first time (the scaled
        size included), exempt from rules 5-11: it is the same order, not a new one. ---
 5. Mark/mid divergence while flat [MARK_MID_DIVERGENCE, BLOCK_NEW].
 6. Open-interest cap, for position-increasing orders [OPEN_INTEREST_CAP, BLOCK_NEW].
 7. Price band: a limit price within `price_band_bps` of the mid [PRICE_BAND, BLOCK_NEW].
 8. Scaling [SCALE]: mark/mid divergence while holding, else a spread shock (spread above k x
    its EWMA): qty x 1/5 rounded DOWN to the lot. Below one lot or the venue minimum, it is
    refused by that same gate rather than sent too small. One scaling at most (never 1/25).
 9. Exposure, on the size that would be sent [BLOCK_NEW]: ORDER_NOTIONAL, POSITION_LIMIT (the
    resulting |position| above the instrument's limit and growing), TOTAL_EXPOSURE.
10. Duplicate intent [DUPLICATE_INTENT, BLOCK_NEW]: same strategy, instrument, side, price and
    qty as an approved order within `duplicate_window_ms`, under another client order id.
11. Order rate [ORDER_RATE, BLOCK_NEW]: per strategy, then per instrument, on new orders and
    replaces. A slot is consumed only here, once every other rule has passed.

Why this order: absolute answers first (a state or a halt cannot be argued with, and they must
not cost a stale-book lookup); validity before the halts because the halts trust the reduce-only
flag; staleness before anything priced off the mid (divergence, band, notional); blocks before
the scaling so nobody is told "scaled" and then refused for a reason known before; scaling before
exposure so the limits judge what would actually be sent; the stateful rules last, so a refused
order neither uses up a rate slot nor poisons the duplicate window.

EVENTS (the other inputs) may return effects for the actor to carry out:
- BookTop whose venue time steps back, or BookStale("time_regression") -> TIME_REGRESSION:
  CancelAll(instrument) and an instrument halt. A spec different from the one held (SpecChanged,
  or a MarketState carrying a new spec) -> SPEC_CHANGE: the same. The account's state is left as
  it is unless `halt_account_on_instrument_halt`. The halt lasts until an operator resumes the
  instrument: only a human knows the strategies were re-quantized for the new tick or lot.
  The cancel goes out when the event arrives, not when the next proposal does: resting orders
  priced on the old spec must not wait for a strategy to speak.
- PortfolioSnapshot: daily realized loss at the limit -> REDUCING [DAILY_LOSS]; drawdown (peak
  equity - equity) at the limit -> REDUCING [MAX_DRAWDOWN]. REDUCING, not HALTED, for drawdown
  because drawdown is driven by open positions: REDUCING lets strategies cut them at once,
  while HALTED would freeze a bleeding position until a human sends a Flatten (the
  NautilusTrader lesson). Both are level-triggered: an operator's resume is re-judged on the
  latest snapshot at once, so to trade again the same day, raise the limit, not just resume.
  A new UTC day resets the daily loss but never resumes by itself: an operator does.
- ReconciliationDrift -> REDUCING (source "reconciliation").
Automatic moves only escalate; only an operator (`set_trading_state`) de-escalates. Every move is
a TradingStateChanged; escalations also CancelAll(None) (`cancel_all_on_escalation`), because
the resting orders were placed for the state being left. Returning to ACTIVE ends all flattens.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import attrs

from actors.market.quantization import lots_to_qty, notional
from actors.risk.account import AccountState, Effect
from actors.risk.limits import RiskConfig
from actors.risk.notional_limits import ExposureRoom, NotionalLimits
from actors.risk.views import (
    MS,
    InstrumentView,
    ProposalView,
    RecentKeys,
    SlidingWindows,
    below_minimum,
)
from protocols.decisions import Gate, Proposal, RiskRefused, Scaled, TradingState
from protocols.decisions import GateAction as A
from protocols.instruments import ContractType, InstrumentSpec
from protocols.market import TradingStatus
from protocols.orders import CancelIntent, OrderIntent, ReplaceIntent, Side
from protocols.risk import RiskPersistentState

__all__ = ["Approved", "Effect", "RiskState", "Verdict"]
_BPS = 10_000
# Enum members read on every proposal, as constants: a read through the class costs ~70 ns.
_ACTIVE, _TRADING, _SPOT = TradingState.ACTIVE, TradingStatus.TRADING, ContractType.SPOT
_BUY = Side.BUY


@attrs.frozen(slots=True)
class Approved:
    """Send `proposal` to the budget. Its intent is already scaled when `scaled` is set; a
    `resend` is forwarded exactly as the first approval of that client order id was."""

    proposal: Proposal
    scaled: Scaled | None = None
    resend: bool = False


Verdict = Approved | RiskRefused
"""The gate's answer to one proposal: approved (its intent maybe scaled) or refused."""


_Remembered = tuple[OrderIntent, OrderIntent]
"""An approved order as it came (its original intent) and as it was forwarded (maybe scaled)."""


class RiskState(AccountState):
    """One account's risk state and rules: `check` a proposal, feed it events, persist it."""

    def __init__(self, config: RiskConfig | None = None,
                 restored: RiskPersistentState | None = None) -> None:
        super().__init__(config, restored)
        c = self.config
        self.approved = self.scaled = self.resends = 0
        self.refusals: dict[Gate, int] = {}
        self._orders: OrderedDict[str, _Remembered] = OrderedDict()
        self._money: dict[str, NotionalLimits] = {}  # by instrument, for the spec it was built on
        self._room = ExposureRoom(c.max_total_exposure)
        self._recent = RecentKeys(c.duplicate_window_ms)
        self._rate_strategy = SlidingWindows(c.rate_per_strategy)
        self._rate_instrument = SlidingWindows(c.rate_per_instrument)

    # -- proposals -----------------------------------------------------------------------------
    def check(self, proposal: Proposal, now_ns: int) -> Verdict:
        """Approve (possibly scaled), or refuse with one gate and one action. See the rule order
        at the top of this module."""
        intent = proposal.intent
        kind = type(intent)
        if kind is not ReplaceIntent and kind is not OrderIntent:  # the two usual ones at once
            if isinstance(intent, CancelIntent):  # rule 0
                self.approved += 1
                return Approved(proposal)
            if not isinstance(intent, OrderIntent | ReplaceIntent):
                return self._refuse(intent, Gate.INVALID_ORDER, A.BLOCK_NEW,
                                    f"not an intent: {type(intent).__name__}")
        if self.state is not _ACTIVE:
            refused = self._trading_state(intent)
            if refused is not None:
                return refused
        view = self.views.get(intent.instrument)
        if view is None or view.spec is None:
            return self._refuse(intent, Gate.INVALID_ORDER, A.BLOCK_NEW, "no spec for instrument")
        prior = None
        if isinstance(intent, OrderIntent):
            prior = self._orders.get(intent.client_order_id)
        if prior is not None and prior[0] != intent:
            return self._refuse(intent, Gate.INVALID_ORDER, A.BLOCK_NEW,
                                "client order id reused with different content")
        order = self._order(proposal, intent, view, view.spec)
        refused = self._validity(order)
        if refused is None and (view.halt is not None or view.status is not _TRADING):
            refused = self._hard_halts(order)
        if refused is None and not intent.reduce_only:
            refused = self._staleness(order, now_ns)
        if refused is not None:
            return refused
        if prior is not None:  # an idempotent resend: the same order, forwarded the same way
            self.approved += 1
            self.resends += 1
            return Approved(attrs.evolve(proposal, intent=prior[1]), resend=True)
        if intent.reduce_only:
            return self._approve(order, intent.qty, None, now_ns)
        # Rules 5-7; the first two have nothing to say unless flat, or at the venue's OI cap.
        refused = None if order.position else self._divergence_flat(order)
        if refused is None and view.oi_capped:
            refused = self._oi_cap(order)
        refused = refused or self._band(order)
        if refused is not None:
            return refused
        scaled = self._scale(order)
        if isinstance(scaled, RiskRefused):
            return scaled
        qty = intent.qty if scaled is None else scaled.qty
        refused = self._exposure(order, qty) or self._duplicate(order, now_ns)
        refused = refused or self._rate(order, now_ns)
        if refused is not None:
            return refused
        return self._approve(order, qty, scaled, now_ns)

    def _order(self, proposal: Proposal, intent: OrderIntent | ReplaceIntent,
               view: InstrumentView, spec: InstrumentSpec) -> ProposalView:
        if isinstance(intent, OrderIntent):
            side: Side | None = intent.side
        else:
            known = self._orders.get(intent.client_order_id)
            side = known[0].side if known is not None else None
        money = self._money.get(intent.instrument)
        if money is None or money.spec is not spec:
            money = self._money[intent.instrument] = NotionalLimits(
                spec, self.config.max_order_notional)
        position = self.portfolio.positions.get(intent.instrument, 0)
        return ProposalView(proposal, intent, view, spec, position, side, money)

    def _refuse(self, intent: Any, gate: Gate, action: A, detail: str) -> RiskRefused:
        self.refusals[gate] = self.refusals.get(gate, 0) + 1
        return RiskRefused(str(getattr(intent, "client_order_id", "")),
                           str(getattr(intent, "instrument", "")), gate, action, detail)

    def _flattening(self, instrument: str) -> bool:
        return self.flatten_all or instrument in self.flatten

    def _trading_state(self, intent: OrderIntent | ReplaceIntent) -> RiskRefused | None:
        state = self.state
        if state is TradingState.ACTIVE:
            return None
        if state is TradingState.REDUCING:
            if intent.reduce_only:
                return None
            return self._refuse(intent, self.cause, A.BLOCK_NEW,
                                f"REDUCING: reduce-only orders and cancels only ({self.reason})")
        if intent.reduce_only and self._flattening(intent.instrument):
            return None
        return self._refuse(intent, self.cause, A.CANCEL_ALL_AND_HALT,
                            f"HALTED: cancels and flatten exits only ({self.reason})")

    def _validity(self, o: ProposalView) -> RiskRefused | None:
        intent, spec = o.intent, o.spec
        if intent.price is not None and intent.price <= 0:
            return self._refuse(intent, Gate.INVALID_ORDER, A.BLOCK_NEW, "non-positive price")
        if not o.money.meets_minimum(intent.price, intent.qty):
            minimum = below_minimum(spec, intent.qty, o.price())
            if minimum:
                return self._refuse(intent, Gate.INVALID_ORDER, A.BLOCK_NEW, minimum)
        if intent.reduce_only and not o.reduces(intent.qty):
            return self._refuse(intent, Gate.INVALID_ORDER, A.BLOCK_NEW,
                                f"reduce-only {intent.qty} lots would not reduce position "
                                f"{o.position} (increase or flip)")
        return None

    def _hard_halts(self, o: ProposalView) -> RiskRefused | None:
        """(Asked only when the instrument is halted or the venue is not trading.)"""
        intent, view = o.intent, o.view
        halt = view.halt
        if halt is not None and not intent.reduce_only:
            return self._refuse(intent, halt.gate, A.CANCEL_ALL_AND_HALT,
                                f"instrument halted: {halt.reason}; cancels and exits only")
        if view.status is not _TRADING and not intent.reduce_only:
            return self._refuse(intent, Gate.VENUE_HALT, A.BLOCK_NEW,
                                f"venue status {view.status.value}")
        return None

    def _staleness(self, o: ProposalView, now_ns: int) -> RiskRefused | None:
        view, c, intent = o.view, self.config, o.intent
        if view.book_stale is not None:
            return self._refuse(intent, Gate.STALE_BOOK, A.BLOCK_NEW, f"book {view.book_stale}")
        if view.book_recv_ns is None or view.mid_x2 is None:
            return self._refuse(intent, Gate.STALE_BOOK, A.BLOCK_NEW, "no two-sided book")
        age = now_ns - view.book_recv_ns
        if age > c.stale_book_ms * MS:
            return self._refuse(intent, Gate.STALE_BOOK, A.BLOCK_NEW,
                                f"book {age // MS} ms old > {c.stale_book_ms} ms")
        needs_oracle = o.spec.contract_type is not _SPOT
        if needs_oracle or view.oracle_recv_ns is not None:
            if view.oracle_recv_ns is None:
                return self._refuse(intent, Gate.STALE_ORACLE, A.BLOCK_NEW, "no oracle/mark")
            age = now_ns - view.oracle_recv_ns
            if age > c.stale_oracle_ms * MS:
                return self._refuse(intent, Gate.STALE_ORACLE, A.BLOCK_NEW,
                                    f"oracle {age // MS} ms old > {c.stale_oracle_ms} ms")
        return None

    def _divergence_flat(self, o: ProposalView) -> RiskRefused | None:
        if o.position:
            return None
        bps = o.view.diverged_bps(self.config.divergence_bps)
        if bps is None:
            return None
        return self._refuse(o.intent, Gate.MARK_MID_DIVERGENCE, A.BLOCK_NEW,
                            f"mark/mid {bps} bps > {self.config.divergence_bps} bps, flat")

    def _oi_cap(self, o: ProposalView) -> RiskRefused | None:
        if o.view.oi_capped and o.after(o.intent.qty) > abs(o.position):
            return self._refuse(o.intent, Gate.OPEN_INTEREST_CAP, A.BLOCK_NEW,
                                "open interest at the venue's cap: position-increasing refused")
        return None

    def _band(self, o: ProposalView) -> RiskRefused | None:
        price, mid = o.intent.price, o.view.mid_x2
        if price is None or mid is None:
            return None  # a market order has no limit to judge; staleness ensured a mid
        if abs(2 * price - mid) * _BPS > self.config.price_band_bps * mid:
            return self._refuse(o.intent, Gate.PRICE_BAND, A.BLOCK_NEW, f"limit {price} beyond "
                                f"{self.config.price_band_bps} bps of mid x2 {mid}")
        return None

    def _scale(self, o: ProposalView) -> Scaled | RiskRefused | None:
        view, c, intent = o.view, self.config, o.intent
        gate = None
        if o.position and view.diverged_bps(c.divergence_bps) is not None:
            gate = Gate.MARK_MID_DIVERGENCE
        elif view.spread_shocked(c.spread_shock_k, c.spread_warmup_samples):
            gate = Gate.SPREAD_SHOCK
        if gate is None:
            return None
        qty = intent.qty * c.scale_numerator // c.scale_denominator  # floor: down to the lot
        if qty < 1:
            too_small = "below one lot"
        elif o.money.meets_minimum(intent.price, qty):
            too_small = ""
        else:
            too_small = below_minimum(o.spec, qty, o.price())
        if too_small:
            return self._refuse(intent, gate, A.SCALE,
                                f"scaled {intent.qty} -> {qty} lots: {too_small}")
        return Scaled(intent.client_order_id, intent.instrument, gate, intent.qty, qty)

    def _exposure(self, o: ProposalView, qty: int) -> RiskRefused | None:
        c, intent, spec, money = self.config, o.intent, o.spec, o.money
        if not money.within_order_notional(intent.price, qty):
            price = o.price()
            value = notional(spec, price, lots_to_qty(spec, qty)) if price is not None else None
            if value is not None and value > c.max_order_notional:
                return self._refuse(intent, Gate.ORDER_NOTIONAL, A.BLOCK_NEW,
                                    f"order notional {value} > {c.max_order_notional}")
        after, now = o.after(qty), abs(o.position)
        limit = c.position_limit(intent.instrument)
        if limit is not None and after > limit and after > now:
            return self._refuse(intent, Gate.POSITION_LIMIT, A.BLOCK_NEW,
                                f"position would be {after} lots > limit {limit}")
        held = self.portfolio.total_exposure
        if after > now and not money.within_room(intent.price, after - now,
                                                 self._room.left(held)):
            price = o.price()
            if price is not None:
                total = held + notional(spec, price, lots_to_qty(spec, after - now))
                if total > c.max_total_exposure:
                    return self._refuse(intent, Gate.TOTAL_EXPOSURE, A.BLOCK_NEW,
                                        f"total exposure would be {total} > "
                                        f"{c.max_total_exposure}")
        return None

    @staticmethod
    def _dup_key(o: ProposalView) -> tuple[Any, ...]:
        """Strategy, instrument, side, price, qty: the side as `is BUY`, whose hash is C's (an
        enum's `__hash__` is a Python call, and the key is hashed three times a new order)."""
        i = o.intent
        return (o.proposal.strategy, i.instrument, o.side is _BUY, i.price, i.qty)

    def _duplicate(self, o: ProposalView, now_ns: int) -> RiskRefused | None:
        if isinstance(o.intent, OrderIntent) and self._recent.seen(self._dup_key(o), now_ns):
            window = self.config.duplicate_window_ms
            return self._refuse(o.intent, Gate.DUPLICATE_INTENT, A.BLOCK_NEW,
                                f"same intent under another id within {window} ms")
        return None

    def _rate(self, o: ProposalView, now_ns: int) -> RiskRefused | None:
        strategy, instrument = o.proposal.strategy, o.intent.instrument
        by_strategy = self._rate_strategy.within(strategy, now_ns)
        if len(by_strategy) >= self._rate_strategy.count:
            return self._refuse(o.intent, Gate.ORDER_RATE, A.BLOCK_NEW,
                                f"strategy {strategy}: {len(by_strategy)} orders in the window")
        by_instrument = self._rate_instrument.within(instrument, now_ns)
        if len(by_instrument) >= self._rate_instrument.count:
            return self._refuse(o.intent, Gate.ORDER_RATE, A.BLOCK_NEW, f"instrument "
                                f"{instrument}: {len(by_instrument)} orders in the window")
        by_strategy.append(now_ns)  # a slot of each, taken only now every rule has passed
        by_instrument.append(now_ns)
        return None

    def _approve(self, o: ProposalView, qty: int, scaled: Scaled | None, now_ns: int) -> Approved:
        intent = o.intent
        forwarded = intent if qty == intent.qty else attrs.evolve(intent, qty=qty)
        if isinstance(intent, OrderIntent):
            assert isinstance(forwarded, OrderIntent)
            self._orders[intent.client_order_id] = (intent, forwarded)
            if len(self._orders) > self.config.order_memory:
                self._orders.popitem(last=False)
            if not intent.reduce_only:
                self._recent.record(self._dup_key(o), now_ns)
        self.approved += 1
        self.scaled += scaled is not None
        proposal = o.proposal if forwarded is intent else attrs.evolve(o.proposal, intent=forwarded)
        return Approved(proposal, scaled)

    def snapshot(self) -> dict[str, Any]:
        view = super().snapshot()
        view.update(approved=self.approved, scaled=self.scaled, resends=self.resends,
                    refusals={g.value: n for g, n in self.refusals.items()})
        return view
