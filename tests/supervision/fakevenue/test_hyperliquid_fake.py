"""The fake Hyperliquid over real loopback sockets, driven by ccxt's real `hyperliquid` client
(signing included) and trio-websocket: what it answers, and each fault as a client sees it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import ccxt
import pytest
import trio
import trio_websocket

from supervision.fakevenue import FakeVenueThread
from supervision.fakevenue.hyperliquid import HyperliquidFakeVenue
from supervision.venues.hyperliquid.client import classify_action, make_client

CLOID = "0x" + "ab" * 16


@pytest.fixture
def venue() -> Iterator[tuple[HyperliquidFakeVenue, dict[str, str]]]:
    fake = HyperliquidFakeVenue.build(dex_coins={"xyz": ("XYZ100",)}, speed=10)
    with FakeVenueThread(fake) as urls:
        yield fake, urls


def client(urls: dict[str, str]) -> Any:
    return make_client(urls["rest"], wallet="0x" + "22" * 20, private_key="0x" + "11" * 32,
                       timeout_s=3)


def signed(c: Any, action: dict[str, Any], nonce: int) -> Any:
    return c.privatePostExchange({"action": action, "nonce": nonce,
                                  "signature": c.sign_l1_action(action, nonce)})


def order(price: str, tif: str, cloid: str = CLOID, asset: int = 0) -> dict[str, Any]:
    return {"a": asset, "b": True, "p": price, "s": "0.001", "r": False,
            "t": {"limit": {"tif": tif}}, "c": cloid}


def test_info_lists_the_default_dex_and_a_builder_dex(venue: Any) -> None:
    _fake, urls = venue
    c = client(urls)
    meta = c.publicPostInfo({"type": "meta"})
    assert [m["name"] for m in meta["universe"]] == ["BTC"]
    assert [m["name"] for m in c.publicPostInfo({"type": "meta", "dex": "xyz"})["universe"]] == [
        "xyz:XYZ100"]
    assert c.publicPostInfo({"type": "perpDexs"})[1]["name"] == "xyz"
    assert abs(c.publicPostInfo({"type": "exchangeStatus"})["time"] - time.time() * 1000) < 5000
    assert c.publicPostInfo({"type": "userFees", "user": "0x"})["userCrossRate"] == "0.00045"


def test_orders_by_cloid_nonces_and_duplicates(venue: Any) -> None:
    fake, urls = venue
    c = client(urls)
    now = int(time.time() * 1000)
    rest = signed(c, {"type": "order", "grouping": "na", "orders": [order("100000", "Gtc")]},
                  now)
    assert "resting" in rest["response"]["data"]["statuses"][0]
    with pytest.raises(ccxt.ExchangeError, match="duplicate nonce"):
        signed(c, {"type": "order", "grouping": "na", "orders": [order("100000", "Gtc")]}, now)
    again = signed(c, {"type": "order", "grouping": "na", "orders": [order("100000", "Gtc")]},
                   now + 1)
    assert "Duplicate cloid" in again["response"]["data"]["statuses"][0]["error"]
    assert fake.desk.creates[CLOID] == 2 and len(fake.desk.open_orders()) == 1
    status = c.publicPostInfo({"type": "orderStatus", "user": "0x", "oid": CLOID})
    assert status["order"]["status"] == "open"
    cancel = signed(c, {"type": "cancelByCloid", "cancels": [{"asset": 0, "cloid": CLOID}]},
                    now + 2)
    assert cancel["response"]["data"]["statuses"] == ["success"]
    gone = signed(c, {"type": "cancelByCloid", "cancels": [{"asset": 0, "cloid": CLOID}]},
                  now + 3)
    assert "never placed" in gone["response"]["data"]["statuses"][0]["error"]
    bad = signed(c, {"type": "order", "grouping": "na",
                     "orders": [order("100000.5", "Gtc", "0x" + "cd" * 16)]}, now + 4)
    assert "tick size" in bad["response"]["data"]["statuses"][0]["error"]
    with pytest.raises(ccxt.ExchangeError, match="outside the accepted window") as refused:
        signed(c, {"type": "cancelByCloid", "cancels": []}, now - 3 * 24 * 3600 * 1000)
    assert classify_action(refused.value) == "refused"  # it did not land: never UNKNOWN
    mixed = signed(c, {"type": "order", "grouping": "na", "orders": [
        order("90000", "Alo", "0x" + "e1" * 16), order("90000", "Ioc", "0x" + "e2" * 16)]},
        now + 5)
    assert len(mixed["response"]["data"]["statuses"]) == 2
    assert fake.desk.counts["mixed_alo_actions"] == 1


async def read(url: str, subscriptions: list[dict[str, Any]], n: int,
               on_open: Any = None) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    async with trio_websocket.open_websocket_url(url) as ws:
        for sub in subscriptions:
            await ws.send_message(json.dumps({"method": "subscribe", "subscription": sub}))
        if on_open is not None:
            on_open()
        with trio.fail_after(10):
            while len(frames) < n:
                frames.append(json.loads(await ws.get_message()))
    return frames


def test_streams_greet_replay_trades_and_fault_a_null_bbo(venue: Any) -> None:
    fake, urls = venue
    subs = [{"type": kind, "coin": "BTC"} for kind in ("l2Book", "trades", "bbo",
                                                         "activeAssetCtx")]
    time.sleep(1.5)  # the replay has sent its first trades
    first = trio.run(read, urls["ws"], subs, 30)
    second = trio.run(read, urls["ws"], subs[1:2], 2)
    channels = {f["channel"] for f in first}
    assert {"subscriptionResponse", "l2Book", "trades", "bbo", "activeAssetCtx"} <= channels
    ctx = next(f for f in first if f["channel"] == "activeAssetCtx")["data"]["ctx"]
    assert ctx["synthetic"] is True and float(ctx["oraclePx"]) > 0
    replayed = next(f for f in second if f["channel"] == "trades")["data"]
    seen = {t["tid"] for f in first if f["channel"] == "trades" for t in f["data"]}
    assert {t["tid"] for t in replayed} <= seen  # a fresh subscription repeats old trades
    fake.faults.update({"null_bbo": 2})
    frames = trio.run(read, urls["ws"], [{"type": "bbo", "coin": "BTC"}], 6)
    nulls = [f for f in frames if f["channel"] == "bbo" and f["data"]["bbo"][0] is None]
    assert len(nulls) == 2
    error = trio.run(read, urls["ws"], [{"type": "l2Book", "coin": "NOPE"}], 1)
    assert error[0]["channel"] == "error" and "unknown coin" in error[0]["data"]


def test_user_events_and_a_rate_limit(venue: Any) -> None:
    fake, urls = venue
    c = client(urls)
    holder: list[Any] = []

    def place() -> None:
        now = int(time.time() * 1000)
        holder.append(signed(c, {"type": "order", "grouping": "na",
                                 "orders": [order("200000", "Ioc", "0x" + "f1" * 16)]}, now))

    frames = trio.run(read, urls["ws"], [{"type": "orderUpdates", "user": "0x"},
                                         {"type": "userFills", "user": "0x"}], 5, place)
    assert "filled" in holder[0]["response"]["data"]["statuses"][0]
    fills = [f for f in frames if f["channel"] == "userFills" and f["data"].get("fills")]
    assert fills and fills[-1]["data"]["fills"][0]["cloid"] == "0x" + "f1" * 16
    fake.faults.update({"rate_limit": 1})
    with pytest.raises(ccxt.RateLimitExceeded) as throttled:
        c.publicPostInfo({"type": "meta"})
    assert classify_action(throttled.value) == "throttled"  # the budget backs off
    assert c.publicPostInfo({"type": "meta"})["universe"]
