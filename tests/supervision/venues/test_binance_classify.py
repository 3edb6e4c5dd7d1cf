"""A refusal's kind is read from the venue's status code, never from digits elsewhere in it."""

import ccxt
import pytest

from supervision.venues.binance.client import classify


@pytest.mark.parametrize(("text", "kind"), [
    # ccxt's Binance handler: "<id> <status> <reason> <body>"
    ("binance 418 I'm a teapot {\"code\":-1003,\"msg\":\"IP banned until 1764953000000\"}",
     "banned"),
    ("binance 429 Too Many Requests {\"code\":-1003,\"msg\":\"Too much request weight\"}",
     "throttled"),
    # ccxt's generic handler: "<id> <method> <url> <status> <reason> <body>"
    ("hyperliquid POST http://127.0.0.1:41853/info 429 Too Many Requests null", "throttled"),
    ("binance GET http://127.0.0.1:34180/api/v3/order 429 Too Many Requests {}", "throttled"),
    ("hyperliquid POST http://127.0.0.1:8000/info 418 I'm a teapot null", "banned"),
    # a throttle whose body happens to say 418 is still a throttle
    ("binance 429 Too Many Requests {\"msg\":\"used 418 of 1200 418 \"}", "throttled"),
])
def test_a_rate_limit_refusal_is_a_ban_only_when_its_status_is_418(text, kind):
    for error in (ccxt.DDoSProtection, ccxt.RateLimitExceeded):
        assert classify(error(text)) == kind
