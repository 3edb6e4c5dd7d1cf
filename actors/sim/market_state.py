"""What the simulated venue says about its instruments besides the book: oracle and mark prices,
open-interest cap, funding and trading status, and the faults that break them on purpose.

    source --FeedEvent--> SimTransport: the venue-side book of <i> changes
        -> SimMarketState.on_book(<i>, mid, venue time, now)
        -> OracleUpdate / FundingUpdate / OpenInterestCap / StatusUpdate / SpecUpdate
        -> (feed latency) venue connection -> Market[<i>] -> MarketState -> risk gate, strategies

These are the messages a live adapter sends from Hyperliquid's `activeAssetCtx` (and Binance
USD-M's `markPrice`), so the Market actor, the risk gate's eight market gates and the
dislocation taker cannot tell the simulated venue from a real one.

The oracle model (`MarketModel`)
--------------------------------
A perp's oracle is an index of other venues' prices, published every few seconds; the venue's own
book follows it loosely. Without those venues, the model derives it from the venue-side mid:

    oracle(t) = mid(t - lag) + noise,   noise ~ Normal(0, noise_bps) of the mid, per publication

published every `interval_ms` (on the first book change after it is due), rounded to doubled
ticks. `mid(t - lag)` is the newest venue-side mid at or before `t - lag` (the oldest known one
before that much history exists). The mark is the mean of the oracle and the current mid: a
stand-in for the venue's median of its oracle-based and book-based prices that moves with both.
The noise comes from the model's own `random.Random(seed)`, so a run is repeated exactly.

What the model cannot do is make the oracle *know* something: it only lags and blurs the book it
is read from, so a taker trading its dislocations trades noise, and its report says so. A
recording that carries the venue's own oracle is the way to measure a real edge.

The recorded oracle (`oracle = "recorded"`)
-------------------------------------------
The venue publishes what the recording says instead: each recorded `activeAssetCtx` (oracle,
mark and funding), at its recorded time, through `on_context`, translated by the live adapter's
own `protocols.venues.hyperliquid.asset_ctx_updates`. The book then drives only the faults; an
`oracle_stall` still silences the recorded context, the dislocation and mark faults do not apply
(the recording is the truth being measured). When the recorded contexts stop, so does the oracle.

Faults (`MarketFault`), on the venue's clock (seconds after the venue opened)
--------------------------------------------------------------------------------
Each breaks one thing the risk gate watches (or, a dislocation, makes one the taker trades),
for `for_s` seconds from `at_s` (a spec change and a time regression happen once):

| kind | what the venue does | the gate that must see it |
|---|---|---|
| dislocation | the oracle `value` bps off the mid (default 10; < 0: below) | none: the signal |
| oracle_stall | publishes no oracle or mark | OracleFresh (stale_oracle) |
| book_stall | sends our books nothing | NoBboUpdate (stale_book) |
| spread_shock | our books lose their top `value` levels a side (default 3)* | SpreadShock |
| mark_divergence | the mark sits `value` bps (default 100) above the mid | MarkMidDivergence |
| oi_cap | open interest at its cap: position-increasing orders refused | OiCap |
| halt | trading status HALTED, TRADING again after | Halt (venue_halt) |
| spec_change | announces the spec with `value` applied ("taker_fee=0.0006") | ParamChange |
| time_regression | one book snapshot to us with a venue time 5 s in the past* | TimeRegression |

(*) on Hyperliquid's full `l2Book` snapshots; a Binance diff stream passes unchanged.

A value a kind cannot use (not a number, out of its range, or given to a kind that takes none)
is refused when the fault is made, in one line naming the kind's range (`_WHOLE_VALUES`,
`_SPEC_FIELDS`), so a bad script stops the run before it starts, never halfway.

The matching engine keeps trading on its own spec through a spec change (the announcement is
what the gate must react to), and a halt does not stop the matching engine either: the gate is
what keeps our orders away.

Pure: messages and times in, messages out. No clock is read; `now_ns` is the venue end's.
"""

from __future__ import annotations

import bisect
import enum
import random
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from protocols.instruments import InstrumentSpec
from protocols.market import TradingStatus
from protocols.venue_state import (
    FundingUpdate,
    OpenInterestCap,
    OracleUpdate,
    SpecUpdate,
    StatusUpdate,
)
from protocols.venues import hyperliquid

__all__ = ["FaultKind", "MarketFault", "MarketModel", "OracleSource", "SimMarketState",
           "SimMarketUpdate"]

SECOND = 1_000_000_000
MS = 1_000_000
_REGRESSION_MS = 5_000

SimMarketUpdate = OracleUpdate | FundingUpdate | OpenInterestCap | StatusUpdate | SpecUpdate


class FaultKind(enum.StrEnum):
    DISLOCATION = "dislocation"
    ORACLE_STALL = "oracle_stall"
    BOOK_STALL = "book_stall"
    SPREAD_SHOCK = "spread_shock"
    MARK_DIVERGENCE = "mark_divergence"
    OI_CAP = "oi_cap"
    HALT = "halt"
    SPEC_CHANGE = "spec_change"
    TIME_REGRESSION = "time_regression"


class OracleSource(enum.StrEnum):
    MODEL = "model"  # the venue-side mid, lagged, plus noise
    RECORDED = "recorded"  # the recording's own activeAssetCtx


# spec_change's fields, each with the range InstrumentSpec accepts, in words.
_SPEC_FIELDS: Mapping[str, tuple[Callable[[Decimal], bool], str]] = {
    "tick_size": (lambda d: d > 0, "above 0"),
    "lot_step": (lambda d: d > 0, "above 0"),
    "min_qty": (lambda d: d >= 0, "0 or more"),
    "min_notional": (lambda d: d >= 0, "0 or more"),
    "maker_fee": (lambda d: -1 < d < 1, "between -1 and 1, a fraction (0.0002 = 2 bps)"),
    "taker_fee": (lambda d: -1 < d < 1, "between -1 and 1, a fraction (0.0002 = 2 bps)"),
}
# The faults whose value is a whole number: (lowest, highest, default, what it counts).
_WHOLE_VALUES: Mapping[FaultKind, tuple[int, int, int, str]] = {
    FaultKind.DISLOCATION: (-9_999, 10_000, 10, "basis points of the oracle off the mid, "
                            "below 0 under it"),
    FaultKind.MARK_DIVERGENCE: (1, 10_000, 100, "basis points of the mark above the mid"),
    FaultKind.SPREAD_SHOCK: (1, 1_000, 3, "book levels dropped from each side"),
}


def _value_problem(kind: FaultKind, value: str) -> str | None:
    """Why `value` does not fit a `kind` fault, in one line naming what it expects (None: it
    fits). Checked when the fault is made, so a bad script fails at start, not mid-run."""
    if kind is FaultKind.SPEC_CHANGE:
        name, sep, number = value.partition("=")
        name, number = name.strip(), number.strip()
        if not sep or name not in _SPEC_FIELDS:
            return (f"a spec_change value is 'field=number' with field one of "
                    f"{', '.join(_SPEC_FIELDS)}, got {value!r}")
        fits, words = _SPEC_FIELDS[name]
        try:
            amount = Decimal(number)
        except ArithmeticError:
            amount = None
        if amount is None or not amount.is_finite() or not fits(amount):
            return f"spec_change value {name}: expected a number {words}, got {number!r}"
        return None
    whole = _WHOLE_VALUES.get(kind)
    if whole is None:
        return None if not value else f"a {kind.value} fault takes no value, got {value!r}"
    if not value:
        return None
    lowest, highest, default, counts = whole
    try:
        count: int | None = int(value)
    except ValueError:
        count = None
    if count is None or not lowest <= count <= highest:
        return (f"{kind.value} value: expected a whole number of {counts}, from {lowest} to "
                f"{highest} (default {default}), got {value!r}")
    return None


def _finite_decimal_string(_inst: Any, _attribute: Any, value: str) -> None:
    try:
        finite = Decimal(value).is_finite()
    except (ArithmeticError, TypeError, ValueError):
        finite = False
    if not finite:
        raise ValueError(f"must be a finite decimal string, got {value!r}")


@attrs.frozen(slots=True, kw_only=True)
class MarketFault:
    """One scheduled fault: `kind` from `at_s` seconds after the venue opened, for `for_s`."""

    kind: FaultKind = attrs.field(converter=FaultKind)
    at_s: float = attrs.field(validator=attrs.validators.ge(0))
    for_s: float = attrs.field(default=10.0, validator=attrs.validators.ge(0))
    instrument: str | None = None  # None: every instrument
    # spread_shock: levels; dislocation, mark_divergence: bps; spec_change: "field=number"
    value: str = ""

    def __attrs_post_init__(self) -> None:
        problem = _value_problem(self.kind, self.value)
        if problem is not None:
            raise ValueError(problem)

    def active(self, elapsed_ns: int) -> bool:
        start = round(self.at_s * SECOND)
        return start <= elapsed_ns < start + round(self.for_s * SECOND)

    def applies(self, instrument: str) -> bool:
        return self.instrument is None or self.instrument == instrument


@attrs.frozen(slots=True, kw_only=True)
class MarketModel:
    """The simulated oracle: the venue-side mid `lag_ms` ago, plus Normal noise of `noise_bps`,
    published every `interval_ms`. `funding_rate` is announced once, as the venue's string.
    `oracle = "recorded"`: the recording's `activeAssetCtx` instead (the lag, noise and interval
    then do not apply)."""

    lag_ms: int = attrs.field(default=1_000, validator=attrs.validators.ge(0))
    noise_bps: float = attrs.field(default=2.0, validator=attrs.validators.ge(0))
    interval_ms: int = attrs.field(default=1_000, validator=attrs.validators.gt(0))
    seed: int = 7
    funding_rate: str = attrs.field(default="0.0000125", validator=_finite_decimal_string)
    faults: tuple[MarketFault, ...] = ()
    oracle: OracleSource = attrs.field(default=OracleSource.MODEL, converter=OracleSource)


class _Instrument:
    """One instrument's history and what was last said about it."""

    __slots__ = ("capped", "halted", "mids", "next_ns", "regressed", "spec", "spec_changed",
                 "times")

    def __init__(self, spec: InstrumentSpec) -> None:
        self.spec = spec
        self.times: deque[int] = deque()  # venue-end ns of each mid, ascending
        self.mids: deque[int] = deque()
        self.next_ns: int | None = None  # when the next oracle is due
        self.capped = self.halted = False
        self.regressed = self.spec_changed = False


class SimMarketState:
    """The venue's asset context for each instrument, driven by its venue-side book."""

    def __init__(self, model: MarketModel, specs: Mapping[str, InstrumentSpec],
                 start_ns: int) -> None:
        self.model = model
        self.start_ns = start_ns
        self.rng = random.Random(model.seed)
        self.instruments = {name: _Instrument(spec) for name, spec in specs.items()}
        self.published = 0

    def opening(self, now_ns: int) -> list[SimMarketUpdate]:
        """What a (re)connecting client is told at once: the spec in force, status, cap and
        funding."""
        out: list[SimMarketUpdate] = []
        for name, state in self.instruments.items():
            status = TradingStatus.HALTED if state.halted else TradingStatus.TRADING
            out += [SpecUpdate(state.spec, now_ns), StatusUpdate(name, status, now_ns),
                    OpenInterestCap(name, state.capped, now_ns),
                    FundingUpdate(name, self.model.funding_rate, None, now_ns)]
        return out

    def _faults(self, instrument: str, now_ns: int) -> set[FaultKind]:
        elapsed = now_ns - self.start_ns
        return {f.kind for f in self.model.faults if f.applies(instrument) and f.active(elapsed)}

    def _fault(self, kind: FaultKind, instrument: str) -> MarketFault | None:
        return next((f for f in self.model.faults if f.kind is kind and f.applies(instrument)),
                    None)

    def _whole_value(self, kind: FaultKind, instrument: str) -> int:
        """The value of the `kind` fault on `instrument`, or the kind's default."""
        fault = self._fault(kind, instrument)
        return int(fault.value) if fault is not None and fault.value else _WHOLE_VALUES[kind][2]

    # -- the asset context ---------------------------------------------------------------
    def on_book(self, instrument: str, mid_x2: int | None, venue_ns: int | None,
                now_ns: int) -> list[SimMarketUpdate]:
        """The venue-side book of `instrument` changed: what the venue publishes now."""
        state = self.instruments.get(instrument)
        if state is None:
            return []
        out: list[SimMarketUpdate] = []
        faults = self._faults(instrument, now_ns)
        self._switches(instrument, state, faults, now_ns, out)
        if mid_x2 is None or self.model.oracle is OracleSource.RECORDED:
            return out
        state.times.append(now_ns)
        state.mids.append(mid_x2)
        horizon = now_ns - self.model.lag_ms * MS
        while len(state.times) > 1 and state.times[1] <= horizon:
            state.times.popleft()
            state.mids.popleft()
        if state.next_ns is not None and now_ns < state.next_ns:
            return out
        state.next_ns = now_ns + self.model.interval_ms * MS
        if FaultKind.ORACLE_STALL in faults:
            return out
        oracle = self._oracle(state, horizon)
        if FaultKind.DISLOCATION in faults:
            bps = self._whole_value(FaultKind.DISLOCATION, instrument)
            oracle = mid_x2 + mid_x2 * bps // 10_000
        mark = (oracle + mid_x2) // 2
        if FaultKind.MARK_DIVERGENCE in faults:
            bps = self._whole_value(FaultKind.MARK_DIVERGENCE, instrument)
            mark = mid_x2 + mid_x2 * bps // 10_000
        self.published += 1
        out.append(OracleUpdate(instrument, oracle, mark, venue_ns, now_ns))
        return out

    def on_context(self, instrument: str, ctx: hyperliquid.AssetCtx,
                   now_ns: int) -> list[SimMarketUpdate]:
        """A recorded `activeAssetCtx` of `instrument` is due: what the venue publishes now
        (nothing unless the oracle is the recorded one, or while an oracle stall lasts)."""
        state = self.instruments.get(instrument)
        if state is None or self.model.oracle is not OracleSource.RECORDED or \
                FaultKind.ORACLE_STALL in self._faults(instrument, now_ns):
            return []
        self.published += 1
        return list(hyperliquid.asset_ctx_updates(instrument, ctx, state.spec.tick_size, now_ns))

    def _oracle(self, state: _Instrument, horizon: int) -> int:
        times, mids = state.times, state.mids
        at = bisect.bisect_right(times, horizon) - 1  # the newest mid at or before t - lag
        lagged = mids[max(at, 0)]
        noise = self.rng.gauss(0.0, self.model.noise_bps / 10_000) if self.model.noise_bps else 0
        return lagged + round(lagged * noise)

    def _switches(self, instrument: str, state: _Instrument, faults: set[FaultKind],
                  now_ns: int, out: list[SimMarketUpdate]) -> None:
        """Status and cap changes, and a spec change, when a fault starts or ends."""
        halted = FaultKind.HALT in faults
        if halted != state.halted:
            state.halted = halted
            status = TradingStatus.HALTED if halted else TradingStatus.TRADING
            out.append(StatusUpdate(instrument, status, now_ns))
        capped = FaultKind.OI_CAP in faults
        if capped != state.capped:
            state.capped = capped
            out.append(OpenInterestCap(instrument, capped, now_ns))
        fault = self._fault(FaultKind.SPEC_CHANGE, instrument)
        if fault is not None and not state.spec_changed and (
                now_ns - self.start_ns >= round(fault.at_s * SECOND)):
            state.spec_changed = True
            name, _, number = fault.value.partition("=")
            changes: dict[str, Any] = {name.strip(): Decimal(number.strip())}
            state.spec = attrs.evolve(state.spec, **changes)
            out.append(SpecUpdate(state.spec, now_ns))

    # -- what reaches our books ---------------------------------------------------------
    def feed(self, instrument: str, message: Any, now_ns: int) -> Any | None:
        """The market data our books get (None: nothing) while a fault is on."""
        state = self.instruments.get(instrument)
        if state is None:
            return message
        faults = self._faults(instrument, now_ns)
        if FaultKind.BOOK_STALL in faults:
            return None
        if not isinstance(message, hyperliquid.L2Book):
            return message  # the shock and the regression are written for full snapshots
        if FaultKind.SPREAD_SHOCK in faults:
            drop = self._whole_value(FaultKind.SPREAD_SHOCK, instrument)
            if len(message.bids) > drop and len(message.asks) > drop:
                message = attrs.evolve(message, bids=message.bids[drop:],
                                       asks=message.asks[drop:])
        fault = self._fault(FaultKind.TIME_REGRESSION, instrument)
        if fault is not None and not state.regressed and (
                now_ns - self.start_ns >= round(fault.at_s * SECOND)):
            state.regressed = True
            message = attrs.evolve(message, time_ms=message.time_ms - _REGRESSION_MS)
        return message

    def snapshot(self) -> dict[str, Any]:
        return {"published": self.published,
                "instruments": {n: {"halted": s.halted, "capped": s.capped,
                                    "spec_changed": s.spec_changed}
                                for n, s in self.instruments.items()}}
