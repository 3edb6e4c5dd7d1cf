"""The fake venue's REST API: the calls ccxt's binance client makes, as an ASGI app for hypercorn.

Spot paths are under `/api/v3`, USD-M ones under `/fapi/v1` (and `/fapi/v2`, `/fapi/v3` for
account and positions), as on Binance; ccxt reaches them when its `urls['api']` point here.
Parameters are read from the query string and a form body alike; signatures are not checked
(a fake has nothing to protect), but a private call without `X-MBX-APIKEY` is refused as on
Binance (-2015), so a client that forgets its key finds out here.

Every answer carries `X-MBX-USED-WEIGHT-1M` (the weight spent in the current minute) and, on
order placements, the order counts (`supervision.fakevenue.limits`, which counts as Binance
does); a request past a limit, or one the `rate_limit` fault catches, is answered 429 with
`Retry-After`.
`/fake/faults` (POST a JSON object) arms faults, `/fake/state` (GET) shows the desk and faults.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import trio

from supervision.fakevenue.desk import VenueError
from supervision.fakevenue.faults import FaultError
from supervision.fakevenue.limits import PLACEMENTS, Throttled, VenueCounters, weight_of

__all__ = ["RestApp"]

Reply = tuple[int, Any, list[tuple[bytes, bytes]]]
_PRIVATE = ("order", "cancelReplace", "batchOrders", "openOrders", "allOpenOrders", "account",
            "myTrades", "userTrades", "positionRisk", "userDataStream", "listenKey", "balance")


class RestApp:
    def __init__(self, venue: Any) -> None:  # the FakeVenue (which imports this module)
        self.venue = venue
        self.requests = 0
        self.limits = VenueCounters(getattr(venue, "dialect", "spot"))
        self.storm_until = 0.0  # trio time: a storm_s fault answers 429 until then
        self.ban_until = 0.0  # trio time: a ban_s fault answers 418 until then
        # The last requests: (trio time, method, endpoint, client order id, status).
        self.log: deque[tuple[float, str, str, str, int]] = deque(maxlen=10_000)

    async def __call__(self, scope: Any, receive: Callable[..., Any],
                       send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                reply = {"lifespan.startup": "lifespan.startup.complete",
                         "lifespan.shutdown": "lifespan.shutdown.complete"}.get(message["type"])
                if reply:
                    await send({"type": reply})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, payload, headers = await self.handle(scope, body)
        data = json.dumps(payload, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), *headers]})
        await send({"type": "http.response.body", "body": data})

    async def handle(self, scope: Any, body: bytes) -> Reply:
        method, path = scope["method"], scope["path"]
        self.requests += 1
        if path.startswith("/fake/"):
            return self._fake(method, path, body)
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", ())}
        params = dict(parse_qsl(scope.get("query_string", b"").decode()))
        if body and headers.get("content-type", "").startswith("application/x-www-form"):
            params.update(parse_qsl(body.decode()))
        endpoint = path.rsplit("/", 1)[-1]
        arrived = trio.current_time()
        status, payload, out = await self._answer(method, endpoint, path, params, headers)
        self.log.append((arrived, method, endpoint,
                         params.get("newClientOrderId") or params.get("origClientOrderId")
                         or params.get("cancelOrigClientOrderId") or "", status))
        return status, payload, out

    async def _answer(self, method: str, endpoint: str, path: str, params: dict[str, str],
                      headers: dict[str, str]) -> Reply:
        venue, faults = self.venue, self.venue.faults
        weight = weight_of(self.limits.dialect, method, endpoint, params)
        orders = 0
        if (method, endpoint) in PLACEMENTS:
            orders = len(json.loads(params.get("batchOrders", "[]") or "[]")) or 1
        try:
            counted = self.limits.charge(weight, orders, venue.now_ms(), faults.weight_limit,
                                         faults.order_limit)
        except Throttled as exc:
            venue.count("rate_limited")
            used = [(b"x-mbx-used-weight-1m", str(self.limits.used(venue.now_ms())).encode())]
            if exc.retry_after_s is None:  # the order count's 429 does not say
                return 429, exc.body(), used
            return 429, exc.body(), [(b"retry-after", str(exc.retry_after_s).encode()), *used]
        now = trio.current_time()
        if faults.ban_s > 0:
            self.ban_until, faults.ban_s = now + faults.ban_s, 0.0
        if faults.storm_s > 0:
            self.storm_until, faults.storm_s = now + faults.storm_s, 0.0
        if now < self.ban_until:  # Binance's answer to 429s it was not spared: an IP ban
            venue.count("banned")
            until_ms = venue.now_ms() + int((self.ban_until - now) * 1000)
            return 418, {"code": -1003, "msg": f"Way too much request weight used; IP banned "
                         f"until {until_ms}. Please use WebSocket Streams for live updates to "
                         "avoid bans."}, [(b"retry-after", _seconds_left(self.ban_until, now)),
                                          *counted[:1]]
        if now < self.storm_until:
            venue.count("rate_limited")
            return 429, {"code": -1003, "msg": "Too many requests; current limit of IP is "
                         "exceeded. Please use the websocket for live updates."}, [
                (b"retry-after", _seconds_left(self.storm_until, now)), *counted[:1]]
        if faults.take("rate_limit"):
            venue.count("rate_limited")
            retry = str(faults.retry_after_s).encode()
            return 429, {"code": -1003, "msg": "Too many requests; current limit of IP is "
                         "exceeded. Please use the websocket for live updates."}, [
                (b"retry-after", retry), *counted[:1]]
        if endpoint in _PRIVATE:
            venue.count("private_requests")
        if endpoint in _PRIVATE and not headers.get("x-mbx-apikey"):
            return 401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for "
                         "action."}, counted[:1]
        try:
            status, payload = await self._route(method, path, endpoint, params)
        except VenueError as exc:
            return exc.status, exc.body(), counted[:1]
        return status, payload, counted

    async def _route(self, method: str, path: str, endpoint: str,
                     p: dict[str, str]) -> tuple[int, Any]:
        venue, desk = self.venue, self.venue.desk
        key = (method, endpoint)
        if endpoint in ("ping",):
            return 200, {}
        if endpoint == "time":
            return 200, {"serverTime": venue.now_ms()}
        if endpoint == "exchangeInfo":
            return 200, venue.exchange_info()
        if endpoint == "depth":
            if p.get("symbol") not in desk.specs:
                raise VenueError(400, -1121, "Invalid symbol.")
            venue.count("snapshots")
            return 200, venue.market.snapshot(int(p.get("limit", "1000")))
        if key == ("POST", "order"):
            return 200, await venue.create_order(p)
        if key == ("DELETE", "order"):
            return 200, await venue.apply(desk.cancel(p))
        if key == ("POST", "cancelReplace"):
            return 200, await venue.amend(desk.cancel_replace(p))
        if key == ("PUT", "order"):
            return 200, await venue.amend(desk.modify(p))
        if key == ("POST", "batchOrders"):
            return 200, await venue.apply(desk.batch_create(p))
        if key == ("DELETE", "batchOrders"):
            return 200, await venue.apply(desk.batch_cancel(p))
        if key == ("GET", "order"):
            return 200, desk.query(p)
        if key == ("GET", "openOrders"):
            return 200, desk.open_orders(p.get("symbol"))
        if method == "DELETE" and endpoint in ("openOrders", "allOpenOrders"):
            bodies = await venue.apply(desk.cancel_all(p.get("symbol", "")))
            return 200, bodies if endpoint == "openOrders" else {"code": 200, "msg": "ok"}
        if endpoint == "account":
            return 200, venue.account()
        if endpoint == "balance":
            return 200, venue.account()["assets"]
        if endpoint == "positionRisk":
            return 200, desk.positions()
        if endpoint in ("myTrades", "userTrades"):
            return 200, desk.my_trades(p)
        if endpoint in ("userDataStream", "listenKey"):
            return 200, {"listenKey": venue.listen_key} if method != "DELETE" else {}
        raise VenueError(404, -1000, f"fake venue: no endpoint {method} {path}")

    def _fake(self, method: str, path: str, body: bytes) -> Reply:
        venue = self.venue
        if path == "/fake/faults" and method == "POST":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise FaultError("the body must be a JSON object")
                venue.faults.update(changes)
            except (FaultError, ValueError) as exc:
                return 400, {"error": str(exc)}, []
            return 200, venue.faults.as_dict(), []
        if path == "/fake/state":
            return 200, venue.state(), []
        return 404, {"error": f"no {method} {path}"}, []


def _seconds_left(until: float, now: float) -> bytes:
    """A Retry-After's whole seconds to `until`, at least 1."""
    return str(max(1, math.ceil(until - now))).encode()
