"""The simulated venue's asset context: the oracle model (lagged, noisy, seeded) and the faults
that break one market input each."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.sim.market_state import FaultKind, MarketFault, MarketModel, SimMarketState
from protocols.instruments import ContractType, InstrumentSpec
from protocols.market import TradingStatus
from protocols.venue_state import (
    FundingUpdate,
    OpenInterestCap,
    OracleUpdate,
    SpecUpdate,
    StatusUpdate,
)
from protocols.venues import hyperliquid

SPEC = InstrumentSpec("BTC", "sim", Decimal(1), Decimal("0.00001"), Decimal("0.00001"),
                      Decimal(10), Decimal("0.00015"), Decimal("0.00045"),
                      contract_type=ContractType.PERP)
MS, S = 1_000_000, 1_000_000_000


def model(**kw: object) -> SimMarketState:
    return SimMarketState(MarketModel(**{"lag_ms": 1000, "noise_bps": 0.0, "interval_ms": 500,
                                         **kw}), {"BTC": SPEC}, start_ns=0)


def oracles(updates: list[object]) -> list[OracleUpdate]:
    return [u for u in updates if isinstance(u, OracleUpdate)]


def test_the_oracle_is_the_mid_lag_ago_and_the_mark_between_it_and_the_mid() -> None:
    m = model()
    published = []
    for i in range(8):  # a mid rising 10 ticks (20 doubled) every 250 ms
        published += oracles(m.on_book("BTC", 200_000 + 20 * i, i * 250 * MS, i * 250 * MS))
    assert [u.recv_ns for u in published] == [0, 500 * MS, 1000 * MS, 1500 * MS]
    last = published[-1]  # at 1.5 s: the mid at 0.5 s (i=2) is the newest 1 s old
    assert last.oracle_x2 == 200_040
    assert last.mark_x2 == (200_040 + 200_120) // 2


def test_noise_is_seeded_and_of_the_configured_size() -> None:
    def run(seed: int) -> list[int | None]:
        m = model(noise_bps=5.0, lag_ms=0, interval_ms=1, seed=seed)
        return [u.oracle_x2 for i in range(400)
                for u in oracles(m.on_book("BTC", 2_000_000, None, i * MS))]
    first = run(7)
    assert first == run(7) and first != run(8)
    offsets = [o - 2_000_000 for o in first if o is not None]
    rms_bps = (sum(x * x for x in offsets) / len(offsets)) ** 0.5 / 2_000_000 * 10_000
    assert 4.0 < rms_bps < 6.0


def test_opening_says_spec_status_cap_and_funding() -> None:
    kinds = [type(u) for u in model().opening(0)]
    assert kinds == [SpecUpdate, StatusUpdate, OpenInterestCap, FundingUpdate]


@pytest.mark.parametrize(("kind", "expected"), [
    (FaultKind.HALT, [StatusUpdate("BTC", TradingStatus.HALTED, 2 * S),
                      StatusUpdate("BTC", TradingStatus.TRADING, 4 * S)]),
    (FaultKind.OI_CAP, [OpenInterestCap("BTC", True, 2 * S), OpenInterestCap("BTC", False, 4 * S)]),
])
def test_a_status_fault_switches_on_and_off(kind: FaultKind, expected: list[object]) -> None:
    m = model(faults=(MarketFault(kind=kind, at_s=2.0, for_s=2.0),))
    out = [u for t in range(6) for u in m.on_book("BTC", 200_000, None, t * S)
           if not isinstance(u, OracleUpdate)]
    assert out == expected


def test_an_oracle_stall_publishes_nothing_while_on() -> None:
    m = model(faults=(MarketFault(kind="oracle_stall", at_s=1.0, for_s=2.0),))
    times = [u.recv_ns for t in range(10)
             for u in oracles(m.on_book("BTC", 200_000, None, t * 500 * MS))]
    assert times == [0, 500 * MS, 3000 * MS, 3500 * MS, 4000 * MS, 4500 * MS]


def test_a_mark_divergence_puts_the_mark_value_bps_off_the_mid() -> None:
    m = model(faults=(MarketFault(kind="mark_divergence", at_s=0, value="50"),))
    (update,) = oracles(m.on_book("BTC", 200_000, None, 0))
    assert update.mark_x2 == 201_000


def test_a_spec_change_is_announced_once_with_the_new_value() -> None:
    m = model(faults=(MarketFault(kind="spec_change", at_s=1.0, value="taker_fee=0.0006"),))
    specs = [u for t in range(5) for u in m.on_book("BTC", 200_000, None, t * S)
             if isinstance(u, SpecUpdate)]
    assert len(specs) == 1 and specs[0].spec.taker_fee == Decimal("0.0006")
    assert specs[0].recv_ns == 1 * S


def book(time_ms: int) -> hyperliquid.L2Book:
    bids = tuple((str(100 - i), "1", 1) for i in range(5))
    asks = tuple((str(101 + i), "1", 1) for i in range(5))
    return hyperliquid.L2Book("BTC", time_ms, bids, asks)


def test_book_faults_change_only_what_our_books_get() -> None:
    m = model(faults=(MarketFault(kind="book_stall", at_s=1.0, for_s=1.0),
                      MarketFault(kind="spread_shock", at_s=3.0, for_s=1.0, value="2"),
                      MarketFault(kind="time_regression", at_s=5.0)))
    assert m.feed("BTC", book(0), 0) == book(0)
    assert m.feed("BTC", book(1000), 1 * S) is None
    shocked = m.feed("BTC", book(3000), 3 * S)
    assert (shocked.bids[0][0], shocked.asks[0][0]) == ("98", "103")
    assert m.feed("BTC", book(5000), 5 * S).time_ms == 0  # 5 s back, once
    assert m.feed("BTC", book(6000), 6 * S) == book(6000)


@pytest.mark.parametrize("bad", [dict(kind="spec_change", at_s=1, value="colour=1"),
                                 dict(kind="spec_change", at_s=1, value="taker_fee"),
                                 dict(kind="spread_shock", at_s=1, value="-2"),
                                 dict(kind="meteor", at_s=1)])
def test_a_malformed_fault_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        MarketFault(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("dislocation", "abc", "dislocation value: expected a whole number of basis points of the "
     "oracle off the mid, below 0 under it, from -9999 to 10000 (default 10), got 'abc'"),
    ("dislocation", "1.5", "dislocation value: expected a whole number"),
    ("dislocation", "-10000", "from -9999 to 10000 (default 10), got '-10000'"),
    ("mark_divergence", "0", "mark_divergence value: expected a whole number of basis points of "
     "the mark above the mid, from 1 to 10000 (default 100), got '0'"),
    ("spread_shock", "x", "spread_shock value: expected a whole number of book levels dropped "
     "from each side, from 1 to 1000 (default 3), got 'x'"),
    ("spec_change", "taker_fee=x", "spec_change value taker_fee: expected a number between -1 "
     "and 1, a fraction (0.0002 = 2 bps), got 'x'"),
    ("spec_change", "tick_size=0", "spec_change value tick_size: expected a number above 0, "
     "got '0'"),
    ("spec_change", "min_qty=NaN", "spec_change value min_qty: expected a number 0 or more"),
    ("halt", "5", "a halt fault takes no value, got '5'"),
])
def test_a_bad_fault_value_says_what_the_kind_expects(kind: str, value: str,
                                                      expected: str) -> None:
    with pytest.raises(ValueError) as caught:
        MarketFault(kind=kind, at_s=1, value=value)  # type: ignore[arg-type]
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_spec_change_written_with_spaces_applies() -> None:
    m = model(faults=(MarketFault(kind="spec_change", at_s=0, value="taker_fee = 0.0006"),))
    [spec] = [u.spec for u in m.on_book("BTC", 200_000, None, 0) if isinstance(u, SpecUpdate)]
    assert spec.taker_fee == Decimal("0.0006")


def test_a_dislocation_puts_the_oracle_value_bps_off_the_mid() -> None:
    m = model(faults=(MarketFault(kind="dislocation", at_s=1.0, for_s=1.0, value="-20"),))
    values = [u.oracle_x2 for t in range(3)
              for u in oracles(m.on_book("BTC", 200_000, None, t * S))]
    assert values == [200_000, 199_600, 200_000]
