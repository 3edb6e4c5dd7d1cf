"""Binance's account side: user-data events and REST order bodies parse to one record."""

from __future__ import annotations

import pytest

from protocols.codec import DecodeError
from protocols.venues.binance_user import (
    AccountUpdate,
    OrderUpdate,
    parse_order_body,
    parse_user_event,
)

SPOT_CANCEL = {"e": "executionReport", "E": 5, "s": "BTCUSDT", "c": "web_123", "C": "mm1-7",
               "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "0.001", "p": "60000.00",
               "x": "CANCELED", "X": "CANCELED", "r": "NONE", "i": 42, "l": "0", "z": "0",
               "L": "0", "n": "0", "N": None, "T": 5, "t": -1, "m": False}


def test_a_spot_cancel_names_the_order_by_its_original_client_id() -> None:
    update = parse_user_event(SPOT_CANCEL)
    assert isinstance(update, OrderUpdate)
    assert (update.client_order_id, update.execution, update.trade_id) == ("mm1-7", "CANCELED",
                                                                           None)


def test_a_futures_trade_is_read_from_under_o() -> None:
    event = {"e": "ORDER_TRADE_UPDATE", "E": 9, "T": 9, "o": {
        **{k: v for k, v in SPOT_CANCEL.items() if k not in ("e", "E", "C")},
        "c": "mm1-8", "x": "TRADE", "X": "FILLED", "t": 77, "l": "0.001", "L": "60000.10",
        "n": "0.01", "N": "USDT", "m": True}}
    update = parse_user_event(event)
    assert isinstance(update, OrderUpdate)
    assert (update.client_order_id, update.trade_id, update.last_price, update.maker) == (
        "mm1-8", 77, "60000.10", True)


def test_balances_and_unknown_events() -> None:
    spot = parse_user_event({"e": "outboundAccountPosition", "E": 1, "u": 1,
                             "B": [{"a": "BTC", "f": "0.5", "l": "0.25"}]})
    assert spot == AccountUpdate((("BTC", "0.75"),), (), 1)
    assert parse_user_event('{"e": "balanceUpdate", "E": 1}') is None
    with pytest.raises(DecodeError, match="no event type"):
        parse_user_event("{}")
    with pytest.raises(DecodeError, match="missing field 'i'"):
        parse_user_event({k: v for k, v in SPOT_CANCEL.items() if k != "i"})


def test_a_rest_order_body() -> None:
    body = {"symbol": "BTCUSDT", "orderId": 3, "clientOrderId": "mm1-1", "price": "1.00",
            "origQty": "2", "executedQty": "0.5", "status": "PARTIALLY_FILLED",
            "timeInForce": "GTC", "type": "LIMIT", "side": "SELL", "updateTime": 12}
    update = parse_order_body(body)
    assert (update.status, update.cum_qty, update.event_time_ms) == ("PARTIALLY_FILLED", "0.5",
                                                                     12)
