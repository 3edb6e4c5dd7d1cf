"""Hyperliquid's wire, both sides: market channels (bbo, activeAssetCtx), user events, the
/exchange actions and answers, and the venue's price and size rules with its test vectors."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from protocols.codec import DecodeError
from protocols.venues import hyperliquid
from protocols.venues.hyperliquid_format import (
    format_price,
    format_size,
    is_valid_price,
    price_step,
    round_price,
)
from protocols.venues.hyperliquid_user import (
    OrderUpdates,
    OrderWire,
    UserFills,
    cancel_action,
    order_action,
    parse_statuses,
    parse_user_message,
)

LEVEL = {"px": "105055.0", "sz": "3.03622", "n": 5}


def frame(channel: str, data: object) -> str:
    return json.dumps({"channel": channel, "data": data})


def test_bbo_with_a_null_side_is_one_sided() -> None:
    both = hyperliquid.parse_message(frame("bbo", {"coin": "BTC", "time": 7,
                                                   "bbo": [LEVEL, LEVEL]}))
    bare = hyperliquid.parse_message(frame("bbo", {"coin": "BTC", "time": 8,
                                                   "bbo": [None, LEVEL]}))
    assert isinstance(both, hyperliquid.Bbo) and isinstance(bare, hyperliquid.Bbo)
    assert both.bid == ("105055.0", "3.03622", 5) and not both.one_sided
    assert bare.bid is None and bare.one_sided
    with pytest.raises(DecodeError, match=r"\[bid, ask\]"):
        hyperliquid.parse_message(frame("bbo", {"coin": "BTC", "time": 8, "bbo": [LEVEL]}))


def test_active_asset_ctx_keeps_the_venue_strings() -> None:
    ctx = hyperliquid.parse_message(frame("activeAssetCtx", {"coin": "xyz:XYZ100", "ctx": {
        "markPx": "105055.5", "oraclePx": "105050.0", "funding": "0.0000125",
        "openInterest": "1000.0", "midPx": "105055.5"}}))
    assert ctx == hyperliquid.AssetCtx("xyz:XYZ100", "105055.5", "105050.0", "105055.5",
                                       "1000.0", "0.0000125")
    with pytest.raises(DecodeError, match="markPx"):
        hyperliquid.parse_message(frame("activeAssetCtx", {"coin": "BTC", "ctx": {}}))
    with pytest.raises(DecodeError, match="not a decimal"):
        hyperliquid.parse_message(frame("activeAssetCtx", {"coin": "BTC", "ctx": {
            "markPx": "1", "oraclePx": "abc"}}))


def test_subscription_requests() -> None:
    assert json.loads(hyperliquid.subscribe("l2Book", coin="BTC")) == {
        "method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC"}}
    assert json.loads(hyperliquid.subscribe("userFills", user="0xab", unsubscribe=True)) == {
        "method": "unsubscribe", "subscription": {"type": "userFills", "user": "0xab"}}


def test_user_events() -> None:
    updates = parse_user_message(frame("orderUpdates", [{"order": {
        "coin": "BTC", "side": "B", "limitPx": "105000", "sz": "0.001", "oid": 12,
        "timestamp": 5, "origSz": "0.002", "cloid": "0x" + "ab" * 16},
        "status": "canceled", "statusTimestamp": 9}]))
    assert isinstance(updates, OrderUpdates)
    (u,) = updates.updates
    assert (u.oid, u.cloid, u.is_buy, u.sz, u.orig_sz, u.status, u.time_ms) == (
        12, "0x" + "ab" * 16, True, "0.001", "0.002", "canceled", 9)
    fills = parse_user_message(frame("userFills", {"isSnapshot": True, "user": "0x", "fills": [{
        "coin": "BTC", "px": "105056", "sz": "0.001", "side": "A", "time": 3, "oid": 12,
        "tid": 99, "crossed": False, "fee": "-0.001", "feeToken": "USDC"}]}))
    assert isinstance(fills, UserFills) and fills.is_snapshot
    assert (fills.fills[0].tid, fills.fills[0].cloid, fills.fills[0].is_buy) == (99, None, False)
    assert isinstance(parse_user_message(frame("l2Book", {"coin": "BTC", "time": 1,
                                                          "levels": [[LEVEL], []]})),
                      hyperliquid.L2Book)


def test_actions_and_answers() -> None:
    wire = OrderWire(3, True, "105000", "0.001", False, "Alo", "0x" + "01" * 16)
    assert order_action([wire]) == {"type": "order", "grouping": "na", "orders": [{
        "a": 3, "b": True, "p": "105000", "s": "0.001", "r": False,
        "t": {"limit": {"tif": "Alo"}}, "c": "0x" + "01" * 16}]}
    assert cancel_action([(3, "0xc1")]) == {"type": "cancelByCloid",
                                           "cancels": [{"asset": 3, "cloid": "0xc1"}]}
    with pytest.raises(ValueError):
        OrderWire(3, True, "1", "1", False, "Fok")
    statuses = parse_statuses({"status": "ok", "response": {"type": "order", "data": {
        "statuses": [{"resting": {"oid": 1}}, {"filled": {"oid": 2, "totalSz": "0.1",
                                                          "avgPx": "100"}},
                     {"error": "Post only order would have immediately matched"}, "success"]}}})
    assert [(s.kind, s.oid) for s in statuses] == [("resting", 1), ("filled", 2),
                                                   ("error", None), ("success", None)]
    assert statuses[2].message.startswith("Post only")
    with pytest.raises(DecodeError, match="duplicate nonce"):
        parse_statuses({"status": "err", "response": "Invalid nonce: duplicate nonce 5"})


# The venue's documented examples (perps), then our own at the edges.
VALID = [("1234.5", 0, True), ("1234.56", 0, False), ("0.001234", 0, True),
         ("0.0012345", 0, False), ("0.01234", 1, True), ("0.012345", 1, False),
         ("123456", 5, True), ("105055.5", 5, False), ("105055", 5, True)]


@pytest.mark.parametrize(("price", "sz_decimals", "valid"), VALID)
def test_price_rule_vectors(price: str, sz_decimals: int, valid: bool) -> None:
    assert is_valid_price(D(price), sz_decimals) is valid


def test_spot_allows_two_more_decimals() -> None:
    assert not is_valid_price(D("0.0000012"), 0)
    assert is_valid_price(D("0.0000012"), 0, spot=True)
    assert not is_valid_price(D("0.000000123"), 0, spot=True)


ROUNDING = [  # (price, szDecimals, buy, sell)
    ("1234.56", 0, "1234.5", "1234.6"),
    ("0.0012345", 0, "0.001234", "0.001235"),
    ("105055.5", 5, "105055", "105056"),
    ("99999.7", 0, "99999", "100000"),  # rounding up crosses a decade: an integer is valid
    ("3300.123", 4, "3300.1", "3300.2"),
]


@pytest.mark.parametrize(("price", "sz_decimals", "buy", "sell"), ROUNDING)
def test_rounding_never_pays_more_than_the_intent(price: str, sz_decimals: int, buy: str,
                                                   sell: str) -> None:
    assert format_price(D(price), sz_decimals, is_buy=True) == buy
    assert format_price(D(price), sz_decimals, is_buy=False) == sell
    assert D(buy) <= D(price) <= D(sell)
    for text in (buy, sell):
        assert is_valid_price(D(text), sz_decimals)


def test_an_edge_is_measured_on_the_rounded_price() -> None:
    # A buy at 1234.56 against an oracle of 1234.58 looks like 2 cents of edge; the venue
    # takes 1234.5, so the edge that counts is 8 cents.
    oracle = D("1234.58")
    assert oracle - round_price(D("1234.56"), 0, is_buy=True) == D("0.08")


def test_price_step_and_sizes() -> None:
    assert price_step(D("105055"), 5) == 1
    assert price_step(D("3300"), 4) == D("0.1")
    assert price_step(D("0.0012345"), 0) == D("0.000001")
    assert price_step(D("12.5"), 2) == D("0.001")
    assert format_size(D("0.123456789"), 5) == "0.12345"
    assert format_size(D("3"), 2) == "3"
    assert format_price(D("105055.0"), 5) == "105055"
    with pytest.raises(ValueError):
        price_step(D(0), 1)
