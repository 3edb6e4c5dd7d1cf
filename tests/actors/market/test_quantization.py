"""Instrument specs and quantization: safe rounding, sizing that never reaches zero, refusals."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.market.quantization import (
    BELOW_MIN_NOTIONAL,
    BELOW_MIN_QTY,
    NON_POSITIVE,
    OFF_LOT,
    OFF_TICK,
    ContractType,
    InstrumentSpec,
    QuantizedOrder,
    Refusal,
    Side,
    lots_to_qty,
    notional,
    price_to_ticks,
    qty_to_lots,
    quantize_price,
    quantize_qty,
    size_from_notional,
    ticks_to_price,
    validate_order,
)

BTCUSDT = InstrumentSpec(
    symbol="BTCUSDT",
    venue="binance",
    tick_size=D("0.01"),
    lot_step=D("0.00001"),
    min_qty=D("0.00001"),
    min_notional=D("5"),
    maker_fee=D("0.001"),
    taker_fee=D("0.001"),
)
# A venue whose minimum quantity, not its minimum notional, is the binding rule.
BIG_MIN_QTY = InstrumentSpec(
    "ETHUSD", "test", D("0.1"), D("0.001"), D("0.01"), D("1"), D("-0.0001"), D("0.0005")
)
NO_MINIMUMS = InstrumentSpec("X", "test", D("0.01"), D("0.001"), 0, 0, 0, 0)


def spec(**overrides: object) -> InstrumentSpec:
    fields: dict[str, object] = {
        "symbol": "BTCUSDT",
        "venue": "binance",
        "tick_size": D("0.01"),
        "lot_step": D("0.00001"),
        "min_qty": D("0.00001"),
        "min_notional": D("5"),
        "maker_fee": D("0.001"),
        "taker_fee": D("0.001"),
    }
    fields.update(overrides)
    return InstrumentSpec(**fields)  # type: ignore[arg-type]


# --- spec validation ---------------------------------------------------------------------------


def test_spec_converts_ints_and_keeps_defaults() -> None:
    s = spec(min_notional=5, multiplier=1)
    assert s.min_notional == D(5) and isinstance(s.min_notional, D)
    assert s.contract_type is ContractType.SPOT
    assert s.spec_version == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tick_size": D(0)}, "tick_size must be positive"),
        ({"lot_step": D("-0.001")}, "lot_step must be positive"),
        ({"min_qty": D("-1")}, "min_qty must not be negative"),
        ({"min_notional": D("-5")}, "min_notional must not be negative"),
        ({"taker_fee": D(2)}, "taker_fee is a fraction"),
        ({"maker_fee": D(-1)}, "maker_fee is a fraction"),
        ({"multiplier": D(0)}, "multiplier must be positive"),
        ({"symbol": ""}, "symbol must be a non-empty string"),
        ({"tick_size": D("NaN")}, "tick_size must be finite"),
        ({"spec_version": -1}, "spec_version must be a non-negative int"),
    ],
)
def test_spec_rejects_bad_values_with_clear_messages(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**overrides)


def test_spec_accepts_maker_rebate() -> None:
    assert spec(maker_fee=D("-0.0001")).maker_fee == D("-0.0001")


@pytest.mark.parametrize("field", ["tick_size", "lot_step", "min_notional", "taker_fee"])
def test_spec_rejects_float_fields_naming_the_field(field: str) -> None:
    with pytest.raises(TypeError, match=f"{field} is a float"):
        spec(**{field: 0.01})


def test_spec_rejects_bool_and_str() -> None:
    with pytest.raises(TypeError, match="tick_size must be Decimal or int, got bool"):
        spec(tick_size=True)
    with pytest.raises(TypeError, match="lot_step must be Decimal or int, got str"):
        spec(lot_step="0.001")


def test_spec_is_frozen() -> None:
    with pytest.raises(AttributeError):
        BTCUSDT.tick_size = D("1")  # type: ignore[misc]


# --- exact conversions -------------------------------------------------------------------------


def test_ticks_and_lots_round_trip_exactly() -> None:
    assert price_to_ticks(BTCUSDT, D("61837.63")) == 6_183_763
    assert ticks_to_price(BTCUSDT, 6_183_763) == D("61837.63")
    assert price_to_ticks(BTCUSDT, 61837) == 6_183_700
    assert qty_to_lots(BTCUSDT, D("0.00017")) == 17
    assert lots_to_qty(BTCUSDT, 17) == D("0.00017")


def test_exact_conversion_refuses_off_grid_values() -> None:
    with pytest.raises(ValueError, match=r"price 61837\.635 is not a multiple of 0\.01"):
        price_to_ticks(BTCUSDT, D("61837.635"))
    with pytest.raises(ValueError, match=r"qty 0\.000015 is not a multiple of 0\.00001"):
        qty_to_lots(BTCUSDT, D("0.000015"))
    with pytest.raises(TypeError):
        ticks_to_price(BTCUSDT, 1.0)  # type: ignore[arg-type]


# --- safe price rounding -----------------------------------------------------------------------


def test_buy_rounds_down_sell_rounds_up() -> None:
    assert quantize_price(BTCUSDT, D("100.005"), Side.BUY) == D("100.00")
    assert quantize_price(BTCUSDT, D("100.005"), Side.SELL) == D("100.01")
    assert quantize_price(BTCUSDT, D("100.0099999"), Side.BUY) == D("100.00")
    assert quantize_price(BTCUSDT, D("100.0000001"), Side.SELL) == D("100.01")


def test_on_tick_price_is_unchanged_for_both_sides() -> None:
    for side in Side:
        assert quantize_price(BTCUSDT, D("61837.63"), side) == D("61837.63")
    assert quantize_price(BIG_MIN_QTY, 3000, Side.SELL) == D("3000")


def test_buy_below_one_tick_rounds_to_zero_and_is_then_refused() -> None:
    price = quantize_price(BTCUSDT, D("0.005"), Side.BUY)
    assert price == 0
    refusal = validate_order(BTCUSDT, price, D("1"))
    assert isinstance(refusal, Refusal) and refusal.reason == NON_POSITIVE


@given(
    units=st.integers(min_value=1, max_value=10**12),
    scale=st.integers(min_value=0, max_value=8),
    side=st.sampled_from(Side),
)
def test_quantized_price_is_on_tick_and_never_worse(units: int, scale: int, side: Side) -> None:
    price = D(units).scaleb(-scale)
    q = quantize_price(BTCUSDT, price, side)
    assert q % BTCUSDT.tick_size == 0
    assert abs(q - price) < BTCUSDT.tick_size
    if side is Side.BUY:
        assert q <= price  # never pay more than intended
    else:
        assert q >= price  # never sell for less than intended


def test_quantize_qty_floors_by_default_and_ceils_on_request() -> None:
    assert quantize_qty(BTCUSDT, D("0.000019")) == D("0.00001")
    assert quantize_qty(BTCUSDT, D("0.000019"), up=True) == D("0.00002")
    assert quantize_qty(BTCUSDT, D("0.00002"), up=True) == D("0.00002")


# --- sizing from a notional --------------------------------------------------------------------


def test_size_rounds_up_to_the_lot() -> None:
    # 10 / 60000 = 0.0001666.. -> 17 lots of 0.00001
    assert size_from_notional(BTCUSDT, D(10), D(60000)) == D("0.00017")
    # exactly on the lot: no bump
    assert size_from_notional(BTCUSDT, D(6), D(60000)) == D("0.0001")


def test_size_is_bumped_to_min_notional() -> None:
    # 1 USDT is below min_notional 5: 5 / 60000 = 0.0000833.. -> 9 lots, notional 5.4
    qty = size_from_notional(BTCUSDT, D(1), D(60000))
    assert qty == D("0.00009")
    assert notional(BTCUSDT, D(60000), D("0.00009")) == D("5.40000")


def test_size_is_bumped_to_min_qty() -> None:
    # 2 USD at 3000 is 0.000666.. -> 0.001, but min_qty is 0.01
    assert size_from_notional(BIG_MIN_QTY, D(2), D(3000)) == D("0.01")


def test_tiny_notional_never_becomes_zero() -> None:
    assert size_from_notional(NO_MINIMUMS, D("0.0000001"), D(60000)) == D("0.001")


def test_size_refuses_non_positive_input() -> None:
    for n, p in [(D(0), D(100)), (D(-5), D(100)), (D(5), D(0))]:
        result = size_from_notional(BTCUSDT, n, p)
        assert isinstance(result, Refusal) and result.reason == NON_POSITIVE
        assert not result


def test_size_for_linear_and_inverse_contracts() -> None:
    linear = spec(
        lot_step=D(1),
        min_qty=D(1),
        min_notional=0,
        multiplier=D("0.001"),
        contract_type=ContractType.PERP,
    )
    # one contract is 0.001 BTC = 60 USD: 100 USD needs 2 contracts
    assert size_from_notional(linear, D(100), D(60000)) == D(2)
    inverse = spec(
        lot_step=D(1),
        min_qty=D(1),
        min_notional=0,
        multiplier=D(100),
        contract_type=ContractType.INVERSE,
    )
    # one contract is 100 USD whatever the price: 250 USD needs 3 contracts
    assert size_from_notional(inverse, D(250), D(60000)) == D(3)
    assert notional(inverse, D(60000), D(3)) == D(300)


@given(
    notional_cents=st.integers(min_value=1, max_value=10**9),
    price_ticks=st.integers(min_value=1, max_value=10**9),
    s=st.sampled_from([BTCUSDT, BIG_MIN_QTY, NO_MINIMUMS]),
)
def test_size_is_the_smallest_valid_size_covering_the_notional(
    notional_cents: int, price_ticks: int, s: InstrumentSpec
) -> None:
    want = D(notional_cents) / 100
    price = price_ticks * s.tick_size
    qty = size_from_notional(s, want, price)
    assert isinstance(qty, D)
    assert qty > 0 and qty % s.lot_step == 0
    assert isinstance(validate_order(s, price, qty), QuantizedOrder)
    assert notional(s, price, qty) >= want
    smaller = qty - s.lot_step  # one lot less would break a rule or miss the notional
    assert (
        smaller <= 0
        or smaller < s.min_qty
        or notional(s, price, smaller) < max(want, s.min_notional)
    )


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("s", "price", "qty", "reason"),
    [
        (BTCUSDT, D(60000), D(0), NON_POSITIVE),
        (BTCUSDT, D(-1), D(1), NON_POSITIVE),
        (BTCUSDT, D("60000.005"), D("0.001"), OFF_TICK),
        (BTCUSDT, D(60000), D("0.000015"), OFF_LOT),
        (BIG_MIN_QTY, D(3000), D("0.005"), BELOW_MIN_QTY),
        (BTCUSDT, D(60000), D("0.00008"), BELOW_MIN_NOTIONAL),  # 4.8 < 5
    ],
)
def test_validate_order_refusals(s: InstrumentSpec, price: D, qty: D, reason: str) -> None:
    result = validate_order(s, price, qty)
    assert isinstance(result, Refusal)
    assert result.reason == reason
    assert result.detail  # says which value broke which rule
    assert not result


def test_validate_order_accepts_and_reports_integer_forms() -> None:
    order = validate_order(BTCUSDT, D("60000.01"), D("0.0001"))
    assert order == QuantizedOrder(
        price=D("60000.01"),
        qty=D("0.0001"),
        price_ticks=6_000_001,
        qty_lots=10,
        notional=D("6.000001"),
        spec_version=1,
    )
    # exactly at the minimum notional is allowed
    assert isinstance(validate_order(BTCUSDT, D(50000), D("0.0001")), QuantizedOrder)


def test_off_tick_is_reported_before_lot_and_minimums() -> None:
    result = validate_order(BTCUSDT, D("1.001"), D("0.0000001"))
    assert isinstance(result, Refusal) and result.reason == OFF_TICK


@pytest.mark.parametrize(
    "call",
    [
        lambda: quantize_price(BTCUSDT, 100.5, Side.BUY),
        lambda: quantize_qty(BTCUSDT, 0.1),
        lambda: size_from_notional(BTCUSDT, 10.0, D(60000)),
        lambda: size_from_notional(BTCUSDT, D(10), 60000.0),
        lambda: validate_order(BTCUSDT, D(60000), 0.001),
        lambda: notional(BTCUSDT, 60000.0, D(1)),
        lambda: price_to_ticks(BTCUSDT, 1.5),
    ],
)
def test_float_money_is_a_type_error(call: object) -> None:
    with pytest.raises(TypeError, match="float"):
        call()  # type: ignore[operator]


def test_quantize_price_requires_a_side() -> None:
    with pytest.raises(TypeError, match="side must be a Side"):
        quantize_price(BTCUSDT, D(1), "buy")  # type: ignore[arg-type]
