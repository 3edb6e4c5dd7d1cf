"""The ledger, by hand-computed scenarios: average cost, realized on reduce and flip, fees,
marks, the UTC day, drawdown, the per-fill decomposition and reconciliation.

Unless a test says otherwise the instrument is BTC with tick 0.1 and lot 0.001, so one tick on
one lot is worth V = 0.0001 USDT and a price of 100000 ticks is 10000.0 USDT.
"""

from __future__ import annotations

from decimal import Decimal as D
from fractions import Fraction

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.portfolio.ledger import NS_PER_DAY, Ledger, UnknownInstrument
from actors.portfolio.running_sums import to_decimal
from protocols.codec import Side
from protocols.instruments import ContractType, InstrumentSpec
from protocols.orders import Liquidity
from protocols.portfolio import OwnFill, ReconciliationDrift, VenuePositions

BTC = InstrumentSpec("BTCUSDT", "binance", D("0.1"), D("0.001"), 0, 0, D("-0.0001"), D("0.0004"))
ETH = InstrumentSpec("ETHUSDT", "binance", D("0.01"), D("0.01"), 0, 0, 0, D("0.0005"))
V = D("0.0001")
SECOND = 10**9
MIDNIGHT = 1_700_006_400 * SECOND  # 2023-11-15 00:00:00 UTC
T0 = MIDNIGHT - 3_600 * SECOND  # an hour before it

_ids = iter(range(10**9))


def fill(side: Side, qty: int, price: int, *, instrument: str = "BTCUSDT", fee: str = "0",
         mid_x2: int | None = None, recv_ns: int = 0, fill_id: str | None = None) -> OwnFill:
    return OwnFill(
        instrument=instrument, strategy="mm", client_order_id="c1",
        fill_id=fill_id if fill_id is not None else f"f{next(_ids)}", side=side, qty=qty,
        price=price, fee=D(fee), liquidity=Liquidity.MAKER, recv_ns=recv_ns, mid_x2_at_fill=mid_x2,
    )


def buy(qty: int, price: int, **kw: object) -> OwnFill:
    return fill(Side.BUY, qty, price, **kw)  # type: ignore[arg-type]


def sell(qty: int, price: int, **kw: object) -> OwnFill:
    return fill(Side.SELL, qty, price, **kw)  # type: ignore[arg-type]


def ledger(**kw: object) -> Ledger:
    return Ledger({"BTCUSDT": BTC, "ETHUSDT": ETH}, **kw)  # type: ignore[arg-type]


# -- positions and realized PnL ----------------------------------------------------------------
def test_open_add_partial_close_flip_and_close_by_hand():
    book = ledger()
    book.apply(buy(10, 100_000), T0)
    p = book.position("BTCUSDT")
    assert (p.qty, p.avg_price, p.realized_pnl) == (10, D(100_000), D(0))
    assert p.notional == D("100")  # 0.01 BTC at 10000.0, marked at the last fill: no mid yet

    book.apply(buy(20, 100_300), T0)  # avg = (10 x 100000 + 20 x 100300) / 30
    assert book.position("BTCUSDT").avg_price == D(100_200)

    record = book.apply(sell(15, 100_500), T0)  # closes 15 at +300 ticks: 15 x 300 x V
    assert record is not None and record.realized == D("0.45")
    p = book.position("BTCUSDT")
    assert (p.qty, p.avg_price, p.realized_pnl) == (15, D(100_200), D("0.45"))

    book.apply(sell(25, 100_100), T0)  # closes 15 at -100 ticks (-0.15), opens 10 short at 100100
    p = book.position("BTCUSDT")
    assert (p.qty, p.avg_price, p.realized_pnl) == (-10, D(100_100), D("0.30"))

    book.apply(buy(10, 100_000), T0)  # the short gains 100 ticks on 10 lots
    p = book.position("BTCUSDT")
    assert (p.qty, p.avg_price, p.realized_pnl, p.unrealized_pnl) == (0, D(0), D("0.40"), D(0))
    assert book.totals().realized == D("0.40")


def test_a_flip_exactly_to_zero_then_reopening_starts_a_fresh_average():
    book = ledger()
    book.apply(sell(5, 100_000), T0)
    book.apply(buy(5, 100_000), T0)
    book.apply(buy(2, 90_000), T0)
    assert book.position("BTCUSDT").avg_price == D(90_000)


def test_a_non_terminating_average_is_kept_exact_and_realizes_without_residue():
    book = ledger()
    book.apply(buy(1, 100), T0)
    book.apply(buy(2, 101), T0)  # average 100 2/3 ticks: no finite decimal
    avg = book.position("BTCUSDT").avg_price
    assert avg == to_decimal(Fraction(302, 3)) and str(avg).startswith("100.6666666")
    book.apply(sell(3, 102), T0)  # 3 x 102 - 302 = 4 tick-lots, exactly
    assert book.position("BTCUSDT").realized_pnl == 4 * V


def test_fees_and_rebates_accumulate_and_realized_is_after_fees():
    book = ledger()
    book.apply(buy(10, 100_000, fee="0.04"), T0)  # taker fee
    book.apply(sell(10, 100_500, fee="-0.01"), T0)  # maker rebate
    p = book.position("BTCUSDT")
    assert p.fees == D("0.03")
    assert p.realized_pnl == D("0.5") - D("0.03")  # 10 x 500 x V gross
    totals = book.totals()
    assert (totals.fees, totals.realized) == (D("0.03"), D("0.5"))
    assert book.snapshot(epoch_ns=T0, recv_ns=0).realized_pnl == D("0.47")


def test_a_duplicate_fill_is_ignored_and_counted():
    book = ledger()
    first = buy(10, 100_000, fill_id="t-1")
    assert book.apply(first, T0) is not None
    assert book.apply(first, T0) is None
    assert book.apply(sell(3, 1, fill_id="t-1"), T0) is None  # same id, same instrument: ignored
    assert book.position("BTCUSDT").qty == 10
    assert book.duplicates == 2 and book.totals().fills == 1
    # venues number trades per symbol: the same id on another instrument is another fill
    assert book.apply(buy(1, 100, instrument="ETHUSDT", fill_id="t-1"), T0) is not None


def test_bad_fills_are_refused_without_being_remembered():
    book = ledger()
    with pytest.raises(UnknownInstrument):
        book.apply(buy(1, 100, instrument="DOGE", fill_id="x"), T0)
    with pytest.raises(ValueError):
        book.apply(buy(0, 100, fill_id="y"), T0)
    with pytest.raises(TypeError, match="float"):
        book.apply(attrs.evolve(buy(1, 100, fill_id="y"), fee=0.01), T0)
    assert book.apply(buy(1, 100, fill_id="y"), T0) is not None  # a corrected resend books
    assert book.duplicates == 0


def test_inverse_contracts_are_refused_loudly():
    inverse = InstrumentSpec("BTCUSD_PERP", "binance", D("0.1"), 1, 0, 0, 0, 0,
                             contract_type=ContractType.INVERSE, multiplier=100)
    with pytest.raises(ValueError, match="inverse"):
        Ledger({"BTCUSD_PERP": inverse})


# -- marks, exposure, the day, drawdown --------------------------------------------------------
def test_unrealized_and_notional_use_the_latest_mid_for_longs_and_shorts():
    book = ledger()
    book.apply(buy(10, 100_000), T0)
    book.apply(sell(200, 200_000, instrument="ETHUSDT"), T0)  # 2 ETH short at 2000.00
    book.on_mid("BTCUSDT", 200_201, 0)  # mid 100100.5 ticks: half a tick is exact
    book.on_mid("ETHUSDT", 400_100, 0)  # mid 2000.50: the short loses 50 ticks on 200 lots
    btc, eth = book.position("BTCUSDT"), book.position("ETHUSDT")
    assert btc.unrealized_pnl == D("0.1005")  # 10 x 100.5 x V
    assert btc.notional == D("100.1005")  # 0.01 BTC x 10010.05
    assert eth.unrealized_pnl == D("-1.00")  # -200 x 50 x 0.0001
    assert eth.notional == D("4001.00")  # 2 ETH x 2000.50
    snap = book.snapshot(epoch_ns=T0, recv_ns=0)
    assert snap.total_exposure == D("4101.1005")
    assert snap.unrealized_pnl == D("-0.8995") == snap.equity


def test_daily_realized_resets_at_utc_midnight_and_never_reopens_a_closed_day():
    book = ledger()
    book.apply(buy(10, 100_000), MIDNIGHT - 60 * SECOND)
    book.apply(sell(5, 100_100), MIDNIGHT - 30 * SECOND)  # +0.05 before midnight
    assert book.snapshot(epoch_ns=MIDNIGHT - 1, recv_ns=0).daily_realized_pnl == D("0.05")
    assert book.snapshot(epoch_ns=MIDNIGHT, recv_ns=0).daily_realized_pnl == D(0)
    book.apply(sell(5, 100_200, fee="0.01"), MIDNIGHT + SECOND)  # +0.10 - 0.01 on the new day
    snap = book.snapshot(epoch_ns=MIDNIGHT + 2 * SECOND, recv_ns=0)
    assert (snap.daily_realized_pnl, snap.realized_pnl) == (D("0.09"), D("0.14"))
    book.apply(buy(1, 100_000), MIDNIGHT - SECOND)  # a clock step back: stays on today
    assert book.snapshot(epoch_ns=MIDNIGHT + 3 * SECOND, recv_ns=0).daily_realized_pnl == D("0.09")
    assert book.snapshot(epoch_ns=MIDNIGHT + NS_PER_DAY, recv_ns=0).daily_realized_pnl == D(0)


def test_peak_equity_and_drawdown_follow_marks_and_fills():
    book = ledger()
    book.apply(buy(10, 100_000), T0)
    book.on_mid("BTCUSDT", 2 * 101_000, 0)  # +1000 ticks x 10 lots = 1.0
    assert (book.equity, book.peak_equity, book.drawdown) == (D("1.0"), D("1.0"), D(0))
    book.on_mid("BTCUSDT", 2 * 100_500, 0)
    assert (book.equity, book.peak_equity, book.drawdown) == (D("0.5"), D("1.0"), D("0.5"))
    book.apply(sell(10, 100_400, fee="0.02"), T0)  # realize 0.4, pay 0.02: equity 0.38
    assert (book.peak_equity, book.drawdown) == (D("1.0"), D("0.62"))
    snap = book.snapshot(epoch_ns=T0, recv_ns=7)
    assert (snap.equity, snap.peak_equity, snap.recv_ns) == (D("0.38"), D("1.0"), 7)


def test_a_loss_from_the_start_is_a_drawdown_from_zero():
    book = ledger()
    book.apply(buy(10, 100_000, fee="0.01"), T0)
    assert (book.peak_equity, book.drawdown) == (D(0), D("0.01"))


# -- per-fill decomposition --------------------------------------------------------------------
@pytest.mark.parametrize(("side", "price", "expected"), [
    (Side.BUY, 99_990, D("0.01")),  # bought 10 ticks below the mid: 10 lots x 10 x V
    (Side.SELL, 100_010, D("0.01")),  # sold above it
    (Side.BUY, 100_010, D("-0.01")),  # crossed the spread to buy: paid away the edge
    (Side.SELL, 99_990, D("-0.01")),
])
def test_spread_capture_sign_for_buys_and_sells(side, price, expected):
    book = ledger()
    record = book.apply(fill(side, 10, price, mid_x2=200_000), T0)
    assert record is not None and record.spread_capture == expected
    assert book.totals().spread_capture == expected


def test_markouts_resolve_at_each_horizon_from_the_first_mid_at_or_after_it():
    book = ledger(horizons_ns=(SECOND, 5 * SECOND))
    record = book.apply(buy(10, 99_990, mid_x2=200_000, recv_ns=100), T0)
    assert record is not None and book.pending_markouts() == 2
    assert book.on_mid("BTCUSDT", 200_040, 100 + SECOND // 2).resolved == 0
    assert book.on_mid("BTCUSDT", 199_980, 100 + SECOND).resolved == 1  # exactly at the horizon
    assert record.adverse_selection == {SECOND: D("-0.01")}  # mid fell 10 ticks under our long
    assert record.markout_pnl(SECOND) == D(0)  # bought at 99990, marked at 99990
    assert record.markout_pnl(5 * SECOND) is None
    book.on_mid("BTCUSDT", 200_100, 100 + 6 * SECOND)  # the first mid after 5 s: +50 ticks
    assert record.adverse_selection[5 * SECOND] == D("0.05")
    assert record.markout_mid_x2 == {SECOND: 199_980, 5 * SECOND: 200_100}
    totals = book.totals()
    assert totals.adverse_selection == ((SECOND, D("-0.01")), (5 * SECOND, D("0.05")))
    assert totals.markouts_resolved == ((SECOND, 1), (5 * SECOND, 1))
    assert book.pending_markouts() == 0


def test_a_sells_markout_is_adverse_when_the_mid_rises():
    book = ledger(horizons_ns=(SECOND,))
    record = book.apply(sell(10, 100_010, mid_x2=200_000), T0)
    book.on_mid("BTCUSDT", 200_060, 2 * SECOND)  # mid +30 ticks against the short
    assert record is not None and record.adverse_selection[SECOND] == D("-0.03")
    assert record.markout_pnl(SECOND) == D("-0.02")  # sold at 100010, marked at 100030


def test_markouts_of_other_instruments_wait_for_their_own_mids():
    book = ledger(horizons_ns=(SECOND,))
    book.apply(buy(1, 100_000, mid_x2=200_000), T0)
    assert book.on_mid("ETHUSDT", 400_000, 10 * SECOND).resolved == 0
    assert book.on_mid("BTCUSDT", 200_000, 10 * SECOND).resolved == 1


def test_a_fill_without_a_mid_uses_the_books_last_mid_or_is_left_undecomposed():
    book = ledger()
    bare = book.apply(buy(1, 100_000), T0)
    assert bare is not None and bare.spread_capture is None and book.pending_markouts() == 0
    book.on_mid("BTCUSDT", 200_004, 0)
    late = book.apply(buy(1, 100_000), T0)
    assert late is not None and late.mid_x2 == 200_004 and late.spread_capture == D("0.0002")
    assert book.totals().fills_without_mid == 1


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from(Side),
    qty=st.integers(1, 10**6),
    price=st.integers(1, 10**8),
    mid_x2=st.integers(2, 2 * 10**8),
    later_x2=st.integers(2, 2 * 10**8),
    horizon=st.sampled_from([SECOND, 5 * SECOND, 30 * SECOND]),
)
def test_spread_capture_plus_adverse_selection_is_the_fill_marked_at_the_later_mid(
    *, side, qty, price, mid_x2, later_x2, horizon
):
    book = ledger()
    record = book.apply(fill(side, qty, price, mid_x2=mid_x2), T0)
    book.on_mid("BTCUSDT", later_x2, horizon)
    sign = 1 if side is Side.BUY else -1
    marked = sign * (D(later_x2) / 2 - price) * qty * V  # independent, exact at these sizes
    assert record is not None
    assert record.spread_capture + record.adverse_selection[horizon] == marked
    assert record.markout_pnl(horizon) == marked


# -- reconciliation ----------------------------------------------------------------------------
def _held() -> Ledger:
    book = ledger()
    book.apply(buy(10, 100_000), T0)
    book.apply(sell(5, 200_000, instrument="ETHUSDT"), T0)
    return book


def test_no_drift_when_the_venue_agrees_including_zeros_we_do_not_hold():
    venue = VenuePositions((("ETHUSDT", -5), ("BTCUSDT", 10), ("SOLUSDT", 0)), (), 9)
    assert _held().reconcile(venue) == []


def test_drift_per_instrument_with_missing_and_unknown_instruments():
    venue = VenuePositions((("BTCUSDT", 12), ("SOLUSDT", 3)), (("USDT", D("1000")),), 9)
    assert _held().reconcile(venue) == [
        ReconciliationDrift("BTCUSDT", 10, 12, 9),
        ReconciliationDrift("ETHUSDT", -5, 0, 9),  # held by us, not reported: venue 0
        ReconciliationDrift("SOLUSDT", 0, 3, 9),  # reported, never traded by us
    ]


# -- the cash-flow identity --------------------------------------------------------------------
MULTI = InstrumentSpec("ETH-PERP", "test", D("0.5"), D("0.01"), 0, 0, 0, 0,
                       contract_type=ContractType.PERP, multiplier=D("10"))
_fills = st.lists(
    st.tuples(st.sampled_from(Side), st.integers(1, 500), st.integers(1, 100_000),
              st.integers(-300, 300)),
    min_size=1, max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(fills=_fills, use_mid=st.booleans())
def test_realized_plus_unrealized_equals_cash_flow_pnl(fills, use_mid):
    """Independently: PnL = -sum(signed qty x price) x V + final qty x last price x V - fees."""
    book = Ledger({"X": MULTI})
    value = MULTI.tick_size * MULTI.lot_step * MULTI.multiplier
    cash, qty = D(0), 0
    for i, (side, lots, price, fee_cents) in enumerate(fills):
        signed = lots if side is Side.BUY else -lots
        fee = D(fee_cents) / 100
        book.apply(fill(side, lots, price, instrument="X", fee=str(fee), fill_id=str(i)), T0)
        cash += -signed * price * value - fee
        qty += signed
    last = fills[-1][2]
    if use_mid:  # otherwise the ledger marks at the last fill price by itself
        book.on_mid("X", 2 * last, 0)
    expected = cash + qty * last * value
    snap = book.snapshot(epoch_ns=T0, recv_ns=0)
    assert snap.equity == expected  # exact: computed from the unrounded components
    assert abs(snap.realized_pnl + snap.unrealized_pnl - expected) < D("1e-30")
    assert snap.position("X").qty == qty
    assert snap.total_exposure == abs(qty) * last * value


_events = st.lists(
    st.one_of(
        st.tuples(st.just("fill"), st.sampled_from(("BTCUSDT", "ETHUSDT")), st.sampled_from(Side),
                  st.integers(1, 50), st.integers(90_000, 110_000), st.integers(-5, 20)),
        st.tuples(st.just("mid"), st.sampled_from(("BTCUSDT", "ETHUSDT")),
                  st.integers(180_000, 220_000)),
        st.tuples(st.just("open"), st.sampled_from(("BTCUSDT", "ETHUSDT")),
                  st.integers(-40, 40))),
    min_size=1, max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(events=_events)
def test_running_totals_equal_a_full_recount_after_every_fill_and_mark(events):
    """The ledger keeps its realized, unrealized and exposure sums as each holding changes (a
    mark is O(1), not a sum over every instrument; an opening, priced now or at a later mark,
    too); recounted from the holdings after every event, and the peak checked against every
    equity seen, they agree exactly."""
    book = ledger()
    peak = Fraction(0)
    for i, event in enumerate(events):
        if event[0] == "fill":
            _, name, side, lots, price, fee = event
            book.apply(fill(side, lots, price, instrument=name, fee=str(D(fee) / 100),
                            fill_id=str(i)), T0)
        elif event[0] == "open":
            book.open_position(event[1], event[2])
        else:
            book.on_mid(event[1], event[2], i)
        holdings = book._holdings.values()
        realized = sum((h.realized - h.fees for h in holdings), Fraction(0))
        unrealized = sum((h.unrealized() for h in holdings), Fraction(0))
        assert book._realized() == realized
        assert book._unrealized() == unrealized
        assert book.snapshot(epoch_ns=T0, recv_ns=0).total_exposure == to_decimal(
            sum((h.notional() for h in holdings), Fraction(0)))
        totals = book.totals()
        assert totals.fees == to_decimal(sum((h.fees for h in holdings), Fraction(0)))
        assert totals.realized == to_decimal(sum((h.realized for h in holdings), Fraction(0)))
        held = any(h.qty for h in holdings)
        if event[0] in ("fill", "open") or held:  # the ledger looks for a new peak on these events
            peak = max(peak, realized + unrealized)
        assert book.peak_equity == to_decimal(peak)
        # The Decimals themselves, digit for digit (the running sums reach them another way).
        snap = book.snapshot(epoch_ns=T0, recv_ns=0)
        assert (str(snap.equity), str(snap.unrealized_pnl), str(snap.peak_equity)) == (
            str(to_decimal(realized + unrealized)), str(to_decimal(unrealized)),
            str(to_decimal(peak)))
        for name, h in book._holdings.items():
            p = book.position(name)
            assert (str(p.avg_price), str(p.unrealized_pnl), str(p.notional)) == (
                str(to_decimal(h.avg)), str(to_decimal(h.unrealized())),
                str(to_decimal(h.notional())))


# -- the opening position ----------------------------------------------------------------------
def test_an_opening_with_no_mark_counts_at_once_and_enters_at_the_first_mark():
    book = ledger()
    assert book.open_position("BTCUSDT", 5) == 5
    p = book.position("BTCUSDT")
    assert (p.qty, p.unrealized_pnl, p.realized_pnl) == (5, D(0), D(0))
    assert book.traded() == ("BTCUSDT",)
    assert book.reconcile(VenuePositions((("BTCUSDT", 5),), (), 1)) == []
    book.on_mid("BTCUSDT", 200_000, 1)  # mid 100000: the opening's price
    book.on_mid("BTCUSDT", 200_020, 2)  # +10 ticks on 5 lots
    p = book.position("BTCUSDT")
    assert (p.qty, p.avg_price, p.unrealized_pnl) == (5, D(100_000), 50 * V)


def test_a_corrected_opening_moves_the_position_and_never_realizes():
    """The opening held a fill the portfolio also booked: the correction takes it off at the
    average, realizing nothing; the position is what the account holds."""
    book = ledger()
    book.on_mid("BTCUSDT", 200_000, 1)
    book.open_position("BTCUSDT", 5)
    book.apply(buy(2, 100_010), T0)  # booked on top, but already in the opening
    assert book.open_position("BTCUSDT", 3) == -2
    p = book.position("BTCUSDT")
    assert (p.qty, p.realized_pnl) == (5, D(0))
    assert p.avg_price == to_decimal(Fraction(5 * 100_000 + 2 * 100_010, 7))
    assert book.open_position("BTCUSDT", 3) == 0  # the same opening again: no change
    assert book.open_position("BTCUSDT", -4) == -7  # past zero: the rest enters at the mark
    p = book.position("BTCUSDT")
    assert (p.qty, p.avg_price, p.realized_pnl) == (-2, D(100_000), D(0))
    with pytest.raises(UnknownInstrument):
        book.open_position("XRPUSDT", 1)
