"""ccxt's synchronous Binance client, pointed where we say, and what its answers mean for us.

`make_client` builds `ccxt.binance` (spot) or `ccxt.binanceusdm` (USD-M) with every REST base
URL replaced by `rest_url` (the fake venue, the testnet, or Binance itself), markets limited to
the one kind we trade, no currency or margin look-ups (private calls a testnet key cannot make),
and a request timeout. It is used only in the adapter's REST worker process: ccxt's
synchronous client blocks.

`classify` maps a ccxt exception to one `Outcome` kind, in the order the issue sets, most
specific first (ccxt's classes nest: `RateLimitExceeded` is a `DDoSProtection` is a
`NetworkError`, and `RequestTimeout` is a `NetworkError` too):

| ccxt exception                          | outcome       | what the adapter does            |
|-----------------------------------------|---------------|----------------------------------|
| RateLimitExceeded, DDoSProtection (429) | `throttled`   | budget backs off (Retry-After)   |
| InvalidOrder, InsufficientFunds, ...    | `rejected`    | a Reject with the venue's words  |
| OrderNotFound (on cancel)               | `unknown`     | CancelReject UNKNOWN_ORDER       |
| RequestTimeout, NetworkError            | `lost`        | UNKNOWN, then reconcile          |
| AuthenticationError, PermissionDenied   | `refused`     | a Reject (VENUE_UNAVAILABLE)     |
| anything else                           | `lost`        | as a timeout: never a guess      |

A 418 (IP ban) arrives as `DDoSProtection` with status 418: `banned`.

`usage` reads the venue's own counters from the last response's headers, named as the config
names its limits (`limit_name`): `X-MBX-USED-WEIGHT-1M` is `request_weight` (another interval:
`request_weight_<interval>`), `X-MBX-ORDER-COUNT-10S` is `orders_10s`, `-1D` `orders_1d`, `-1M`
`orders_1m`. `venue_time_ns` reads the venue's clock from the same answer (its `Date` header,
whole seconds): which of the venue's windows those counts are for, since the windows start on
whole seconds (see `actors.execution.fixed_window`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import attrs
import ccxt

__all__ = ["Reconciliation", "classify", "limit_name", "make_client", "retry_after_s", "usage",
           "used_weight", "venue_time_ns"]

_SPOT_KEYS = ("public", "private", "v1")
_USDM_KEYS = ("fapiPublic", "fapiPublicV2", "fapiPublicV3", "fapiPrivate", "fapiPrivateV2",
              "fapiPrivateV3")


def make_client(dialect: str, rest_url: str, *, api_key: str = "", secret: str = "",
                timeout_s: float = 10.0) -> Any:
    base = rest_url.rstrip("/")
    options: dict[str, Any] = {"fetchCurrencies": False, "fetchMargins": False,
                               "adjustForTimeDifference": False,
                               "warnOnFetchOpenOrdersWithoutSymbol": False}
    if dialect == "usdm":
        options["fetchMarkets"] = {"types": ["linear"]}
        client = ccxt.binanceusdm({"apiKey": api_key, "secret": secret, "options": options,
                                   "timeout": int(timeout_s * 1000), "enableRateLimit": False})
        for key in _USDM_KEYS:
            version = client.urls["api"][key].rsplit("/", 1)[-1]
            client.urls["api"][key] = f"{base}/fapi/{version}"
    else:
        options["fetchMarkets"] = {"types": ["spot"]}
        client = ccxt.binance({"apiKey": api_key, "secret": secret, "options": options,
                               "timeout": int(timeout_s * 1000), "enableRateLimit": False})
        for key in _SPOT_KEYS:
            client.urls["api"][key] = f"{base}/api/{'v1' if key == 'v1' else 'v3'}"
    return client


@attrs.frozen(slots=True)
class Reconciliation:
    """A reconciliation's requests, run as one on the REST worker: open orders, the account,
    (USD-M) positions, and `trades` (symbol -> `trades_method`'s parameters). A value rather
    than a closure, so that it can be carried to the worker process."""

    usdm: bool
    trades_method: str
    trades: tuple[tuple[str, dict[str, Any]], ...]
    asked_ns: int  # when we asked: the drift check's point in time

    def __call__(self, client: Any, _params: dict[str, Any]) -> dict[str, Any]:
        if self.usdm:
            out = {"open": client.fapiprivate_get_openorders({}),
                   "account": client.fapiprivatev2_get_account({}),
                   "positions": client.fapiprivatev2_get_positionrisk({})}
        else:
            out = {"open": client.private_get_openorders({}),
                   "account": client.private_get_account({}), "positions": []}
        method = getattr(client, self.trades_method)
        out["trades"] = {symbol: method(params) for symbol, params in self.trades}
        out["asked_ns"] = self.asked_ns
        return out


def classify(exc: BaseException) -> str:
    """One of: throttled, banned, rejected, unknown, refused, lost (see the table above)."""
    # RateLimitExceeded is a DDoSProtection in older ccxt, a sibling under NetworkError in 4.5
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return "banned" if _http_status(exc) == "418" else "throttled"
    if isinstance(exc, ccxt.OrderNotFound):
        return "unknown"
    if isinstance(exc, ccxt.InvalidOrder | ccxt.InsufficientFunds | ccxt.BadSymbol
                  | ccxt.BadRequest):
        return "rejected"
    if isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.AccountSuspended):
        return "refused"
    return "lost"  # RequestTimeout, NetworkError, and anything we cannot read


def _http_status(exc: BaseException) -> str | None:
    """The HTTP status ccxt put in its message, if any.

    Its Binance handler writes "<id> <status> <reason> <body>", its generic one
    "<id> <method> <url> <status> <reason> <body>": the status is the first three-digit word
    before the reason. Looking further would read digits of the body (or of a loopback port,
    as 127.0.0.1:41853 once did) as a status.
    """
    for word in str(exc).split(" ", 4)[1:4]:
        if len(word) == 3 and word.isdigit():
            return word
    return None


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


def retry_after_s(client: Any) -> float | None:
    """The last response's Retry-After, in seconds, if it gave one."""
    value = _header(getattr(client, "last_response_headers", None), "retry-after")
    try:
        return float(Decimal(value)) if value is not None else None
    except ArithmeticError:
        return None


def used_weight(client: Any) -> int | None:
    """The last response's X-MBX-USED-WEIGHT-1M: request weight spent this minute."""
    value = _header(getattr(client, "last_response_headers", None), "x-mbx-used-weight-1m")
    return int(value) if value is not None and value.isdigit() else None


_COUNTER = re.compile(r"x-mbx-(used-weight|order-count)-(\d+[smhd])")


def limit_name(header: str) -> str | None:
    """The config's name for the limit a Binance counter header reports; None if it is none."""
    found = _COUNTER.fullmatch(header.lower())
    if found is None:
        return None
    kind, interval = found.groups()
    if kind == "used-weight":
        return "request_weight" if interval == "1m" else f"request_weight_{interval}"
    return f"orders_{interval}"


def usage(client: Any) -> tuple[tuple[str, int], ...]:
    """Every counter the last response's headers gave, as (limit name, used), sorted."""
    headers = getattr(client, "last_response_headers", None) or {}
    out = []
    for key, value in headers.items():
        name = limit_name(str(key))
        if name is not None and str(value).isdigit():
            out.append((name, int(value)))
    return tuple(sorted(out))


def venue_time_ns(client: Any) -> int | None:
    """The venue's clock when it gave the last answer (its `Date` header), epoch ns; None if
    the answer had no readable date."""
    value = _header(getattr(client, "last_response_headers", None), "date")
    if value is None:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # an HTTP date is GMT
        return None
    return int(moment.timestamp()) * 1_000_000_000
