"""The Portfolio's pure core: positions, PnL, exposure, per-fill decomposition, reconciliation.

No clock, context or logging: times are ints passed in, so the same inputs give the same numbers
live, in a backtest and in a test. Two clocks, never mixed: markout horizons run on the monotonic
`recv_ns` of fills and books; the UTC day needs epoch time, passed to `apply` and `snapshot`.

The rules, in ticks (price), lots (size) and V = tick_size x lot_step x multiplier, the quote
value of one tick on one lot:

- Average cost (`actors.portfolio.holding`). Adding to a position moves the average entry price
  to the size-weighted mean, reducing realizes against it; the average is an exact `Fraction`.
- Money is exact inside, `Decimal` at the edge (snapshot, records): exact when the value
  terminates, else rounded half-even to 50 digits. Nothing is computed from a rounded value.
  What fills change is kept in `Fraction`s; what marks move, in integers
  (`actors.portfolio.running_sums`), so a new mid costs a few integer products.
- Realized PnL in snapshots and positions is after fees (a rebate is a negative fee); the gross
  figure is in the decomposition totals. Unrealized PnL and notional use the latest mid, or the
  last fill price before any mid was seen.
- Notional is `|lots| x lot_step x mark x multiplier` (spot, perp, future: linear in price).
  Inverse contracts are refused: their notional would be `|lots| x lot_step x multiplier` quote
  units whatever the price, but their PnL, `lots x lot_step x multiplier x (1/entry - 1/exit)`,
  settles in the base coin, and `PortfolioSnapshot` has no field for a settlement currency.
- Per-fill decomposition, s = +1 for a buy and -1 for a sell, q lots, p ticks, mid m0 at fill and
  mid mh at the first mid on or after fill time + h:
      spread capture        = s x (m0 - p) x q x V   (positive: bought below / sold above mid)
      adverse selection(h)  = s x (mh - m0) x q x V  (negative when the mid moved against us)
  so spread capture + adverse selection(h) = s x (mh - p) x q x V, the fill marked to mh, exactly
  (mids are doubled ticks: the only division is by 2, which Decimal does exactly).
- An opening position (`open_position`: what the account held before this process's fills)
  enters at the mark and realizes nothing (`Holding.shift`).
- Fills are idempotent by (instrument, fill_id): venues number trades per symbol (Binance), so
  the id alone is not unique across instruments. A duplicate changes nothing and is counted.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction

from actors.portfolio.fill_records import DecompositionTotals, FillRecord, MarkResult
from actors.portfolio.holding import Holding
from actors.portfolio.running_sums import ExactDecimal, RunningSums, over, to_decimal
from protocols.codec import Side
from protocols.errors import TroupeError
from protocols.instruments import _EXACT, ContractType, InstrumentSpec, _money
from protocols.portfolio import (
    OwnFill,
    PortfolioSnapshot,
    Position,
    ReconciliationDrift,
    VenuePositions,
)

__all__ = ["DEFAULT_HORIZONS_NS", "NS_PER_DAY", "Ledger", "UnknownInstrument"]

NS_PER_DAY = 86_400 * 10**9
DEFAULT_HORIZONS_NS = (1 * 10**9, 5 * 10**9, 30 * 10**9)
_ZERO = Fraction(0)
_DECIMAL_ZERO = to_decimal(_ZERO)


class UnknownInstrument(TroupeError, KeyError):
    """A fill for an instrument the ledger has no spec for: it cannot be valued, so it is not
    booked. Reconciliation will then see the venue's position against our 0 and raise drift."""


def _half(value: Decimal) -> Decimal:
    return _EXACT.divide(value, 2)


# The usual answers of `on_mid`, shared (MarkResult is frozen).
_UNCHANGED = MarkResult(repriced=False, resolved=0)
_REPRICED = MarkResult(repriced=True, resolved=0)


class Ledger:
    """Positions and PnL over a fixed set of instruments (`instrument name -> spec`).

    `max_records` bounds the per-fill records kept for reports (oldest evicted first); totals
    and pending markouts are unaffected by eviction.
    """

    def __init__(
        self,
        specs: Mapping[str, InstrumentSpec],
        *,
        horizons_ns: tuple[int, ...] = DEFAULT_HORIZONS_NS,
        max_records: int = 10_000,
    ) -> None:
        if any(h <= 0 for h in horizons_ns):
            raise ValueError(f"markout horizons must be positive ns, got {horizons_ns}")
        self._holdings: dict[str, Holding] = {}
        self._value: dict[str, Decimal] = {}
        self._units: dict[str, int] = {}
        for name, spec in specs.items():
            if spec.contract_type is ContractType.INVERSE:
                raise ValueError(f"{name}: inverse contracts settle PnL in the base coin; "
                                 f"the ledger values in the quote currency only")
            value = _EXACT.multiply(_EXACT.multiply(spec.tick_size, spec.lot_step), spec.multiplier)
            self._value[name] = value
            self._holdings[name] = Holding(Fraction(value), Fraction(value) / 2)
        self._sums = RunningSums(h.half_value for h in self._holdings.values())
        for name, holding in self._holdings.items():
            self._units[name] = self._sums.units(holding.half_value)
        self.horizons_ns = tuple(sorted(set(horizons_ns)))
        self.records: deque[FillRecord] = deque(maxlen=max_records)
        self.duplicates = 0
        self._seen: set[tuple[str, str]] = set()
        self._traded: set[str] = set()
        self._pending: dict[str, list[tuple[int, int, int, FillRecord]]] = {}
        self._sequence = itertools.count()
        self._day: int | None = None
        self._daily = _ZERO
        # Running sums over the holdings, kept exact as each holding changes, so a new mark
        # costs O(1) instead of a sum over every instrument: realized after fees, fees, gross
        # realized here; what marks move (unrealized, notional, the peak) in `_sums`.
        self._realized_net = _ZERO
        self._fees_sum = _ZERO
        self._gross_sum = _ZERO
        # A snapshot repeats what only fills change: their Decimals, kept until they change.
        self._decimals = {name: ExactDecimal() for name in ("realized", "daily", "fees", "gross")}
        self._positions: dict[str, tuple[int, Decimal, Decimal, Decimal, Fraction,
                                         int | None]] = {}
        self._scaled: dict[int, tuple[Fraction, int | None]] = {}  # see _over_marks
        self._peak_decimal = ExactDecimal()
        self._fills = 0
        self._no_mid = 0
        self._spread = Decimal(0)
        self._adverse = dict.fromkeys(self.horizons_ns, Decimal(0))
        self._resolved = dict.fromkeys(self.horizons_ns, 0)

    # -- input ---------------------------------------------------------------------------------
    def apply(self, fill: OwnFill, epoch_ns: int) -> FillRecord | None:
        """Book one fill; None if it was already booked. `epoch_ns` places it in a UTC day.

        Raises UnknownInstrument, ValueError or TypeError (bad qty, price or fee) without booking
        anything, so a corrected resend of the same fill_id is still accepted later."""
        key = (fill.instrument, fill.fill_id)
        if key in self._seen:
            self.duplicates += 1
            return None
        holding = self._holdings.get(fill.instrument)
        if holding is None:
            raise UnknownInstrument(fill.instrument)
        if fill.qty <= 0 or fill.price <= 0:
            raise ValueError(f"fill {fill.fill_id}: qty {fill.qty} and price {fill.price} "
                             f"must be positive")
        fee = Fraction(_money(fill.fee, "fee"))  # a float or NaN fee raises TypeError/ValueError
        self._seen.add(key)
        self._traded.add(fill.instrument)
        self._roll_day(epoch_ns)
        sign = 1 if fill.side is Side.BUY else -1
        before = self._marks(fill.instrument, holding)
        realized = holding.trade(sign * fill.qty, fill.price)
        self._moved(fill.instrument, holding, before)
        self._realized_net += realized - fee
        self._fees_sum += fee
        self._gross_sum += realized
        self._daily += realized - fee
        holding.fees += fee
        self._fills += 1
        record = self._decompose(fill, sign, holding, realized)
        self._sums.rebase(self._realized_net - self._sums.cost)
        self._sums.update_peak()
        return record

    def open_position(self, instrument: str, qty: int) -> int:
        """The position held before this process booked any fill: `qty` signed lots, replacing
        any earlier opening of the instrument. The change enters at the mark (the latest mid,
        else the last fill price, else the first mark to come: until then it counts in the
        position but not in PnL) and realizes nothing. Returns the change in lots.

        Raises UnknownInstrument for an instrument without a spec."""
        holding = self._holdings.get(instrument)
        if holding is None:
            raise UnknownInstrument(instrument)
        change = qty - holding.opening
        holding.opening = qty
        if change:
            holding.unpriced += change
            self._price_opening(instrument, holding)
            self._traded.add(instrument)
            self._sums.update_peak()
        return change

    def knows(self, instrument: str) -> bool:
        return instrument in self._holdings

    def opening(self, instrument: str) -> int:
        """The lots `open_position` last set for `instrument` (0: none)."""
        return self._holdings[instrument].opening

    def _price_opening(self, instrument: str, holding: Holding) -> None:
        if not holding.unpriced or holding.mark_x2 is None:
            return  # nothing waits for a price (every mid asks: keep that cheap)
        before = self._marks(instrument, holding)
        holding.price_opening()
        self._moved(instrument, holding, before)
        self._sums.rebase(self._realized_net - self._sums.cost)

    def _marks(self, instrument: str, holding: Holding) -> tuple[int, int, Fraction]:
        """The holding's part of the running sums: units x qty x mark, its absolute value,
        and its cost."""
        mark = holding.mark_x2
        value = 0 if mark is None else self._units[instrument] * mark
        return holding.qty * value, abs(holding.qty) * value, holding.cost()

    def _moved(self, instrument: str, holding: Holding,
               before: tuple[int, int, Fraction]) -> None:
        marked, gross, cost = self._marks(instrument, holding)
        sums = self._sums
        sums.marked += marked - before[0]
        sums.gross += gross - before[1]
        if cost != before[2]:
            sums.cost += cost - before[2]

    def on_mid(self, instrument: str, mid_x2: int, now_ns: int) -> MarkResult:
        """A new mid (doubled ticks) seen at monotonic `now_ns`: re-mark the position and resolve
        every pending markout of this instrument whose horizon is at or before `now_ns`."""
        holding = self._holdings.get(instrument)
        if holding is None or mid_x2 <= 0:
            return _UNCHANGED
        old_mark = holding.mark_x2
        qty = holding.qty
        if qty != 0 and old_mark != mid_x2:  # what units x qty x mark moved by
            assert old_mark is not None  # a priced position came from a fill or a mark
            step = (mid_x2 - old_mark) * self._units[instrument]
            sums = self._sums
            sums.marked += qty * step
            sums.gross += (qty if qty > 0 else -qty) * step
        repriced = holding.held != 0 and old_mark != mid_x2
        holding.mid_x2 = mid_x2
        if holding.unpriced:
            self._price_opening(instrument, holding)
        heap = self._pending.get(instrument)
        resolved = 0
        value = self._value[instrument]
        while heap and heap[0][0] <= now_ns:
            _, _, horizon, record = heapq.heappop(heap)
            assert record.mid_x2 is not None  # only records with a mid are scheduled
            sign = 1 if record.side is Side.BUY else -1
            move = sign * (mid_x2 - record.mid_x2) * record.qty
            adverse = _half(_EXACT.multiply(Decimal(move), value))
            record.adverse_selection[horizon] = adverse
            record.markout_mid_x2[horizon] = mid_x2
            self._adverse[horizon] = _EXACT.add(self._adverse[horizon], adverse)
            self._resolved[horizon] += 1
            resolved += 1
        if repriced:
            self._sums.update_peak()
        if not resolved:  # the usual answer, shared (it is frozen)
            return _REPRICED if repriced else _UNCHANGED
        return MarkResult(repriced, resolved)

    # -- output --------------------------------------------------------------------------------
    def position(self, instrument: str) -> Position:
        h = self._holdings[instrument]
        fixed = self._positions.get(instrument)
        if fixed is None or fixed[0] != h.changes:  # what only trades and shifts change
            cost = h.cost()
            fixed = self._positions[instrument] = (
                h.changes, to_decimal(h.avg), to_decimal(h.realized - h.fees), to_decimal(h.fees),
                cost, self._sums.scaled(cost))
        _, avg, realized, fees, cost, cost_scaled = fixed
        mark, den = h.mark_x2, self._sums.denominator
        if mark is None or h.qty == 0:
            unrealized = notional = _DECIMAL_ZERO
        else:
            value = self._units[instrument] * mark  # units x mark_x2: one lot at the mark, in 1/D
            marked = h.qty * value
            unrealized = over(marked - cost_scaled, den) if cost_scaled is not None \
                else to_decimal(Fraction(marked, den) - cost)
            notional = over(abs(h.qty) * value, den)
        return Position(instrument, h.held, avg, realized, unrealized, fees, notional)

    def snapshot(self, *, epoch_ns: int, recv_ns: int) -> PortfolioSnapshot:
        """Every instrument ever traded, sorted by name; totals from the exact values (so equity
        is exact even when realized and unrealized each had to be rounded)."""
        self._roll_day(epoch_ns)
        decimals, sums = self._decimals, self._sums
        return PortfolioSnapshot(
            positions=tuple(self.position(name) for name in self.traded()),
            total_exposure=over(sums.gross, sums.denominator),
            realized_pnl=decimals["realized"].of(self._realized_net),
            unrealized_pnl=self._over_marks(sums.cost, -1),
            daily_realized_pnl=decimals["daily"].of(self._daily),
            peak_equity=self.peak_equity,
            equity=self.equity,
            recv_ns=recv_ns,
        )

    @property
    def equity(self) -> Decimal:
        return self._over_marks(self._sums.base, 1)

    @property
    def peak_equity(self) -> Decimal:
        return self._peak_decimal.of(self._sums.peak())

    @property
    def drawdown(self) -> Decimal:
        """Peak equity minus equity: never negative, 0 at a new high."""
        return to_decimal(self._sums.peak() - self._sums.equity())

    def totals(self) -> DecompositionTotals:
        decimals = self._decimals  # fees and gross are kept as fills book: no sum per call
        return DecompositionTotals(
            fills=self._fills,
            fills_without_mid=self._no_mid,
            duplicates=self.duplicates,
            spread_capture=self._spread,
            adverse_selection=tuple(self._adverse.items()),
            markouts_resolved=tuple(self._resolved.items()),
            fees=decimals["fees"].of(self._fees_sum),
            realized=decimals["gross"].of(self._gross_sum),
        )

    def mark_x2(self, instrument: str) -> int | None:
        """The doubled-tick price positions of `instrument` are marked at: the latest mid, else
        the last fill price, else None."""
        return self._holdings[instrument].mark_x2

    def traded(self) -> tuple[str, ...]:
        """Instruments with at least one booked fill, sorted."""
        return tuple(sorted(self._traded))

    def pending_markouts(self) -> int:
        return sum(len(heap) for heap in self._pending.values())

    def reconcile(self, venue: VenuePositions) -> list[ReconciliationDrift]:
        """One drift per instrument where our signed lots differ from the venue's. An instrument
        we hold that the venue omits counts as venue 0; one the venue reports that we never
        traded (or cannot value) counts as ours 0. Sorted by instrument."""
        theirs = dict(venue.positions)
        names = set(theirs) | {n for n, h in self._holdings.items() if h.held}
        drifts = []
        for name in sorted(names):
            holding = self._holdings.get(name)
            ours = 0 if holding is None else holding.held
            if ours != theirs.get(name, 0):
                drifts.append(ReconciliationDrift(name, ours, theirs.get(name, 0), venue.recv_ns))
        return drifts

    # -- internals -----------------------------------------------------------------------------
    def _decompose(self, fill: OwnFill, sign: int, h: Holding, realized: Fraction) -> FillRecord:
        value = self._value[fill.instrument]
        mid_x2 = fill.mid_x2_at_fill if fill.mid_x2_at_fill is not None else h.mid_x2
        spread: Decimal | None = None
        if mid_x2 is None:
            self._no_mid += 1
        else:
            edge = sign * (mid_x2 - 2 * fill.price) * fill.qty
            spread = _half(_EXACT.multiply(Decimal(edge), value))
            self._spread = _EXACT.add(self._spread, spread)
        record = FillRecord(
            fill_id=fill.fill_id,
            instrument=fill.instrument,
            strategy=fill.strategy,
            side=fill.side,
            qty=fill.qty,
            price=fill.price,
            fee=fill.fee,
            recv_ns=fill.recv_ns,
            notional=_EXACT.multiply(Decimal(fill.qty * fill.price), value),
            realized=to_decimal(realized),
            mid_x2=mid_x2,
            spread_capture=spread,
        )
        if mid_x2 is not None:
            heap = self._pending.setdefault(fill.instrument, [])
            for horizon in self.horizons_ns:
                entry = (fill.recv_ns + horizon, next(self._sequence), horizon, record)
                heapq.heappush(heap, entry)
        self.records.append(record)
        return record

    def _realized(self) -> Fraction:
        """The sum over the holdings of realized after fees (kept as each fill books)."""
        return self._realized_net

    def _unrealized(self) -> Fraction:
        """The sum over the holdings of unrealized (kept as each fill and mark changes it)."""
        return self._sums.unrealized()

    def _over_marks(self, fixed: Fraction, sign: int) -> Decimal:
        """sign x fixed + marked / D as a Decimal: one integer quotient when fixed x D is whole
        (remembered while `fixed` stands), else the exact Fraction's."""
        sums, memo = self._sums, self._scaled
        scaled = memo.get(sign)
        if scaled is None or scaled[0] is not fixed:
            scaled = memo[sign] = (fixed, sums.scaled(fixed))
        if scaled[1] is None:
            return to_decimal(sign * fixed + Fraction(sums.marked, sums.denominator))
        return over(sign * scaled[1] + sums.marked, sums.denominator)

    def _roll_day(self, epoch_ns: int) -> None:
        """Start a new UTC day when `epoch_ns` is past the current one. Time going backwards
        (a clock step) never reopens a closed day: the fill books into the current day."""
        day = epoch_ns // NS_PER_DAY
        if self._day is None or day > self._day:
            self._day = day
            self._daily = _ZERO
