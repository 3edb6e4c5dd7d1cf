"""The fake venue over real loopback sockets, driven by the real ccxt client and trio-websocket.

Each fault is armed, then seen from the client's side as Binance would show it."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import ccxt
import pytest
import trio
import trio_websocket

from supervision.fakevenue import FakeVenue, FakeVenueThread
from supervision.venues.binance.client import (
    classify,
    make_client,
    retry_after_s,
    usage,
    used_weight,
)


@pytest.fixture
def venue() -> Iterator[tuple[FakeVenue, dict[str, str]]]:
    fake = FakeVenue.binance(speed=20)
    with FakeVenueThread(fake) as urls:
        yield fake, urls


def client(urls: dict[str, str], timeout_s: float = 2.0) -> Any:
    c = make_client("spot", urls["rest"], api_key="key", secret="secret", timeout_s=timeout_s)
    c.load_markets()
    return c


def test_ccxt_loads_markets_and_trades_with_our_client_ids(venue: Any) -> None:
    fake, urls = venue
    c = client(urls)
    info = c.market("BTC/USDT")["info"]
    assert {f["filterType"]: f for f in info["filters"]}["PRICE_FILTER"]["tickSize"] == "0.01"
    book = c.public_get_depth({"symbol": "BTCUSDT", "limit": 5})
    assert book["lastUpdateId"] == fake.market.last_update_id or book["lastUpdateId"] > 0
    assert float(book["bids"][0][0]) < float(book["asks"][0][0])
    order = c.create_order("BTC/USDT", "limit", "buy", 0.001, 50000,
                           {"newClientOrderId": "mm1-1"})
    assert (order["clientOrderId"], order["status"]) == ("mm1-1", "open")
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        c.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"newClientOrderId": "mm1-1"})
    assert [o["clientOrderId"] for o in c.fetch_open_orders("BTC/USDT")] == ["mm1-1"]
    cancelled = c.cancel_order(None, "BTC/USDT", {"origClientOrderId": "mm1-1"})
    assert cancelled["status"] == "canceled"
    taker = c.create_order("BTC/USDT", "limit", "buy", 0.001, 70000,
                           {"newClientOrderId": "mm1-2"})
    assert (taker["status"], taker["filled"]) == ("closed", 0.001)
    assert [t["order"] for t in c.fetch_my_trades("BTC/USDT")] == [taker["id"]]
    assert c.fetch_balance()["BTC"]["total"] == pytest.approx(1.001)
    assert used_weight(c) is not None
    assert fake.desk.creates == {"mm1-1": 1, "mm1-2": 1}


def test_429_storm_carries_retry_after(venue: Any) -> None:
    fake, urls = venue
    c = client(urls)
    fake.faults.update({"rate_limit": 2, "retry_after_s": 3})
    for _ in range(2):
        with pytest.raises(ccxt.DDoSProtection) as caught:
            c.fetch_open_orders("BTC/USDT")
        assert classify(caught.value) == "throttled"
        assert retry_after_s(c) == 3.0
    assert c.fetch_open_orders("BTC/USDT") == []
    assert fake.counts["rate_limited"] == 2


def test_an_order_accepted_but_its_response_lost_times_out_and_rests(venue: Any) -> None:
    fake, urls = venue
    c = client(urls, timeout_s=0.5)
    fake.faults.update({"lose_response": 1})
    with pytest.raises(ccxt.RequestTimeout) as caught:
        c.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"newClientOrderId": "x-1"})
    assert classify(caught.value) == "lost"
    assert [o["clientOrderId"] for o in c.fetch_open_orders("BTC/USDT")] == ["x-1"]
    # The resend under the same id is refused as a duplicate: nothing trades twice.
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate"):
        c.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"newClientOrderId": "x-1"})
    assert fake.desk.creates == {"x-1": 1}


def test_a_slow_gateway_places_an_order_after_a_cancel_all_that_found_nothing(
        venue: Any) -> None:
    fake, urls = venue
    c = client(urls, timeout_s=0.5)
    fake.faults.update({"insert_delay_s": 1.5})
    with pytest.raises(ccxt.RequestTimeout):
        c.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"newClientOrderId": "s-1"})
    assert c.private_delete_openorders({"symbol": "BTCUSDT"}) == []  # nothing to sweep yet
    with pytest.raises(ccxt.OrderNotFound):  # nor to cancel by id
        c.cancel_order(None, "BTC/USDT", {"origClientOrderId": "s-1"})
    fake.faults.update({"insert_delay_s": 0})
    deadline = time.monotonic() + 5
    while not fake.desk.open_orders(None) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [o["clientOrderId"] for o in c.fetch_open_orders("BTC/USDT")] == ["s-1"]
    assert fake.counts["delayed_inserts"] == 1 and fake.desk.creates == {"s-1": 1}


def test_refusals_are_binance_words(venue: Any) -> None:
    _fake, urls = venue
    c = client(urls)
    with pytest.raises(ccxt.InsufficientFunds):
        c.create_order("BTC/USDT", "limit", "buy", 10, 60000, {"newClientOrderId": "big"})
    with pytest.raises(ccxt.OrderNotFound) as caught:
        c.cancel_order(None, "BTC/USDT", {"origClientOrderId": "never"})
    assert classify(caught.value) == "unknown"


async def _collect(url: str, seconds: float, arm: dict[str, Any] | None = None,
                   faults: Any = None) -> list[Any]:
    """Frames received for `seconds`; `arm` goes to `faults` once the first depth diff came.

    Not on the first frame of any kind: a gap armed before we saw a diff could fall on the
    first diff we would see, and the diffs we collect would then chain without a visible gap."""
    frames: list[Any] = []
    armed = not arm
    try:
        async with trio_websocket.open_websocket_url(url) as ws:
            with trio.move_on_after(seconds):
                while True:
                    frames.append(await ws.get_message())
                    if not armed and "depthUpdate" in frames[-1]:
                        faults.update(arm)
                        armed = True
    except trio_websocket.ConnectionClosed:
        frames.append("closed")
    return frames


def test_streams_replay_the_recording_and_faults_break_them(venue: Any) -> None:
    fake, urls = venue
    url = urls["ws"] + "/stream?streams=btcusdt@depth@100ms/btcusdt@trade"
    frames = trio.run(_collect, url, 0.7)
    diffs = [json.loads(f)["data"] for f in frames if "depth" in f]
    assert diffs and all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(diffs))
    frames = trio.run(_collect, url, 0.7, {"gap": 1, "malformed": 1}, fake.faults)
    assert '{"stream": "broken", "data": {' in frames
    diffs = [json.loads(f)["data"] for f in frames if "depthUpdate" in f]
    assert any(b["U"] != a["u"] + 1 for a, b in itertools.pairwise(diffs))
    assert trio.run(_collect, url, 2.0, {"disconnect": 1}, fake.faults)[-1] == "closed"


def test_user_stream_reports_orders_with_duplicates_when_asked(venue: Any) -> None:
    fake, urls = venue
    c = client(urls)
    key = c.public_post_userdatastream()["listenKey"]

    async def run() -> list[Any]:
        async with trio.open_nursery() as nursery:
            got: list[Any] = []

            async def listen() -> None:
                got.extend(await _collect(f"{urls['ws']}/ws/{key}", 1.0))
            nursery.start_soon(listen)
            await trio.sleep(0.2)
            fake.faults.update({"duplicate_reports": 1})
            await trio.to_thread.run_sync(lambda: c.create_order(
                "BTC/USDT", "limit", "buy", 0.001, 50000, {"newClientOrderId": "u-1"}))
        return got

    events = [json.loads(f) for f in trio.run(run)]
    reports = [e for e in events if e["e"] == "executionReport"]
    assert [(e["c"], e["x"]) for e in reports] == [("u-1", "NEW"), ("u-1", "NEW")]


def test_the_command_line_binds_loopback_and_refuses_a_bad_fault() -> None:
    bad = subprocess.run([sys.executable, "-m", "supervision.fakevenue", "--fault", "nope=1"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: no fault named 'nope'")
    assert "Traceback" not in bad.stderr


def test_weight_and_order_counts_come_back_as_binance_counts_them(venue: Any) -> None:
    fake, urls = venue
    c = client(urls)  # exchangeInfo: 20
    start = usage(c)[0]
    assert start[0] == "request_weight" and start[1] >= 20
    c.public_get_depth({"symbol": "BTCUSDT", "limit": 1000})  # 50
    assert dict(usage(c))["request_weight"] == start[1] + 50
    c.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"newClientOrderId": "w-1"})
    counts = dict(usage(c))
    assert counts["request_weight"] == start[1] + 51
    assert counts["orders_10s"] == 1 and counts["orders_1d"] == 1
    c.fetch_open_orders("BTC/USDT")  # 6, and no order count on a query
    assert set(dict(usage(c))) == {"request_weight"}
    # A lower limit is passed at once: 429, Binance's words, and the seconds to the new minute.
    fake.faults.update({"weight_limit": 10})
    with pytest.raises(ccxt.DDoSProtection, match="-1003") as caught:
        c.fetch_open_orders("BTC/USDT")
    assert classify(caught.value) == "throttled"
    retry = retry_after_s(c)
    assert retry is not None and 1 <= retry <= 60
    assert fake.state()["weight_used"] >= start[1] + 57


def test_an_ip_ban_is_a_418_that_ccxt_and_the_adapter_read_as_a_ban(venue):
    fake, urls = venue
    c = client(urls)
    fake.faults.update({"ban_s": 3})
    with pytest.raises(ccxt.DDoSProtection, match="IP banned until") as caught:
        c.fetch_open_orders("BTC/USDT")
    assert classify(caught.value) == "banned"  # Banned in the budget: nothing at all is sent
    retry = retry_after_s(c)
    assert retry is not None and 1 <= retry <= 3
    with pytest.raises(ccxt.DDoSProtection):  # every request while it lasts, not only the next
        c.fetch_open_orders("BTC/USDT")


def test_spot_cancel_replace_keeps_our_id_and_a_resend_leaves_one_order(venue: Any) -> None:
    fake, urls = venue
    c = client(urls)
    c.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"newClientOrderId": "r-1"})
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
              "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrigClientOrderId": "r-1",
              "newClientOrderId": "r-1", "quantity": "0.002", "price": "51000",
              "newOrderRespType": "RESULT"}
    first = c.private_post_order_cancelreplace(params)
    assert first["cancelResult"] == first["newOrderResult"] == "SUCCESS"
    again = c.private_post_order_cancelreplace(params)  # a resend after a lost answer
    assert again["newOrderResponse"]["orderId"] != first["newOrderResponse"]["orderId"]
    [order] = c.fetch_open_orders("BTC/USDT")
    assert (order["clientOrderId"], order["price"], order["amount"]) == ("r-1", 51000, 0.002)
    assert fake.desk.creates == {"r-1": 1} and fake.desk.replaces == {"r-1": 2}
    with pytest.raises(ccxt.ExchangeError, match="-2022"):
        c.private_post_order_cancelreplace({**params, "cancelOrigClientOrderId": "never",
                                            "newClientOrderId": "never"})


def test_usdm_modify_batch_orders_and_batch_cancel() -> None:
    fake = FakeVenue.binance(speed=20, dialect="usdm")
    with FakeVenueThread(fake) as urls:
        c = make_client("usdm", urls["rest"], api_key="key", secret="secret")
        c.load_markets()
        orders = [{"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                   "quantity": "0.001", "price": str(50000 + i), "newClientOrderId": f"b-{i}"}
                  for i in range(3)]
        answers = c.fapiprivate_post_batchorders({"batchOrders": [*orders, orders[0]]})
        assert [a.get("clientOrderId") for a in answers[:3]] == ["b-0", "b-1", "b-2"]
        assert answers[3]["code"] == -2010 and "Duplicate" in answers[3]["msg"]
        modify = {"symbol": "BTCUSDT", "side": "BUY", "origClientOrderId": "b-0",
                  "quantity": "0.002", "price": "50500"}
        body = c.fapiprivate_put_order(modify)
        assert (body["clientOrderId"], body["price"], body["origQty"]) == ("b-0", "50500",
                                                                           "0.002")
        with pytest.raises(ccxt.ExchangeError, match="-5027"):  # a resend: already so
            c.fapiprivate_put_order(modify)
        fake.faults.update({"lose_amend": 1})  # applied, its answer lost
        lost = make_client("usdm", urls["rest"], api_key="key", secret="secret", timeout_s=0.5)
        lost.load_markets()
        with pytest.raises(ccxt.RequestTimeout):
            lost.fapiprivate_put_order({**modify, "price": "50600"})
        assert c.fapiprivate_get_order({"symbol": "BTCUSDT", "origClientOrderId": "b-0"})[
            "price"] == "50600"
        assert fake.counts["lost_amends"] == 1
        cancelled = c.fapiprivate_delete_batchorders({
            "symbol": "BTCUSDT", "origClientOrderIdList": ["b-1", "b-2", "nope"]})
        assert [a.get("status") for a in cancelled[:2]] == ["CANCELED", "CANCELED"]
        assert cancelled[2]["code"] == -2011
        assert [o["clientOrderId"] for o in c.fetch_open_orders("BTC/USDT:USDT")] == ["b-0"]
        assert fake.desk.creates == {"b-0": 1, "b-1": 1, "b-2": 1}
