"""The fake venue's rate limits, counted as Binance counts them, and the headers that say so.

Binance counts in fixed windows of the wall clock (a minute starts at :00), per IP for request
weight and per account for orders, and tells the client its count on every answer:

| dialect | every answer             | order placements (new, replace, batch)            |
|---------|--------------------------|---------------------------------------------------|
| spot    | `X-MBX-USED-WEIGHT-1M`   | `X-MBX-ORDER-COUNT-10S`, `X-MBX-ORDER-COUNT-1D`   |
| USD-M   | `X-MBX-USED-WEIGHT-1M`   | `X-MBX-ORDER-COUNT-10S`, `X-MBX-ORDER-COUNT-1M`   |

A request that would pass a limit is refused 429 with Binance's words (-1003 for weight, -1015
for orders); it still costs its weight, as on Binance. The weight's refusal says `Retry-After`
(seconds to the window's end); the order count's does not ("If you exceed this, you will
receive a 429 error without the Retry-After header", Binance's LIMITS page): the client knows
its windows. The published limits are exchangeInfo's (spot 6000 weight a minute, 100 orders per
10 s, 200000 a day; USD-M 2400 a minute, 300 per 10 s, 1200 a minute); a test lowers the weight
limit with the `weight_limit` fault, and sets the orders per 10 s with `order_limit` (the
tick-to-trade benchmark raises it: it measures latency, not the venue's quota). Weights are
the venue's documented ones for the calls ccxt makes here (a depth snapshot costs by its size,
`openOrders` without a symbol costs more).
"""

from __future__ import annotations

import math

import attrs

from supervision.fakevenue.desk import VenueError

__all__ = ["LIMITS", "Throttled", "VenueCounters", "weight_of"]

_TEN_S, _MINUTE, _DAY = 10_000, 60_000, 86_400_000
LIMITS = {  # dialect -> (weight a minute, [(order window ms, limit, header suffix)])
    "spot": (6000, [(_TEN_S, 100, "10S"), (_DAY, 200_000, "1D")]),
    "usdm": (2400, [(_TEN_S, 300, "10S"), (_MINUTE, 1200, "1M")]),
}
_SPOT = {"exchangeInfo": 20, "account": 20, "myTrades": 20, "order": 1, "cancelReplace": 1,
         "userDataStream": 2, "allOpenOrders": 1}
_USDM = {"exchangeInfo": 1, "account": 5, "positionRisk": 5, "userTrades": 5, "order": 1,
         "batchOrders": 5, "listenKey": 1, "allOpenOrders": 1, "balance": 5}
PLACEMENTS = {("POST", "order"), ("POST", "cancelReplace"), ("PUT", "order"),
              ("POST", "batchOrders")}


def weight_of(dialect: str, method: str, endpoint: str, params: dict[str, str]) -> int:
    if endpoint == "depth":
        limit = int(params.get("limit", "100") or 100)
        if dialect == "usdm":
            return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    if endpoint == "openOrders":
        if method == "DELETE":
            return 1
        if dialect == "usdm":
            return 1 if params.get("symbol") else 40
        return 6 if params.get("symbol") else 80
    if endpoint == "myTrades" and params.get("orderId"):
        return 5
    if endpoint == "order" and method == "GET":
        return 4 if dialect == "spot" else 1
    if endpoint == "batchOrders" and method == "DELETE":
        return 1
    return (_USDM if dialect == "usdm" else _SPOT).get(endpoint, 1)


class Throttled(VenueError):
    """A 429, with the seconds to wait if the venue says them."""

    def __init__(self, code: int, msg: str, retry_after_s: int | None) -> None:
        super().__init__(429, code, msg)
        self.retry_after_s = retry_after_s


@attrs.define
class VenueCounters:
    dialect: str
    counts: dict[tuple[str, int], int] = attrs.Factory(dict)  # (counter, window start) -> used

    def charge(self, weight: int, orders: int, now_ms: int, weight_limit: int = 0,
               order_limit: int = 0) -> list[tuple[bytes, bytes]]:
        """Counts one request; its headers, or `Throttled` if it passes a limit.
        `weight_limit`, `order_limit` (orders per 10 s): instead of the published ones."""
        per_minute, order_limits = LIMITS[self.dialect]
        if order_limit:
            order_limits = [(w, order_limit if w == _TEN_S else cap, suffix)
                            for w, cap, suffix in order_limits]
        limit = weight_limit or per_minute
        used = self._add("weight", _MINUTE, weight, now_ms)
        headers = [(b"x-mbx-used-weight-1m", str(used).encode())]
        if used > limit:
            raise Throttled(-1003, f"Too many requests; current limit of IP is {limit} "
                            "requests per minute. Please use the websocket for live updates "
                            "to avoid polling the API.", _retry(_MINUTE, now_ms))
        if orders:
            for window, cap, suffix in order_limits:
                if self._peek("orders", window, now_ms) + orders > cap:
                    raise Throttled(-1015, f"Too many new orders; current limit is {cap} orders "
                                    f"per {suffix}.", None)
            for window, _cap, suffix in order_limits:
                count = self._add("orders", window, orders, now_ms)
                headers.append((f"x-mbx-order-count-{suffix.lower()}".encode(),
                                str(count).encode()))
        return headers

    def used(self, now_ms: int) -> int:
        """Request weight used in the current minute."""
        return self._peek("weight", _MINUTE, now_ms)

    def _peek(self, counter: str, window: int, now_ms: int) -> int:
        return self.counts.get((f"{counter}/{window}", now_ms // window), 0)

    def _add(self, counter: str, window: int, amount: int, now_ms: int) -> int:
        key = (f"{counter}/{window}", now_ms // window)
        for old in [k for k in self.counts if k[0] == key[0] and k[1] != key[1]]:
            del self.counts[old]  # a window that ended
        self.counts[key] = self.counts.get(key, 0) + amount
        return self.counts[key]


def _retry(window: int, now_ms: int) -> int:
    return max(1, math.ceil((window - now_ms % window) / 1000))
