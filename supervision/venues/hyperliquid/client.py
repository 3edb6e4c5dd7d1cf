"""ccxt's synchronous `hyperliquid` client, pointed where we say, signing our actions.

We use ccxt for what it does well here, the wire and the signature: `publicPostInfo` (the
`/info` queries), `privatePostExchange` (the `/exchange` actions) and `sign_l1_action` (the
EIP-712 "phantom agent" signature of the msgpack hash of action + nonce). The actions
themselves, their nonces and cloids are ours (`protocols.venues.hyperliquid_user`,
`supervision.venues.hyperliquid.nonces`), so a resend carries the same cloid and a fresh nonce,
never a new order id.

`make_client(rest_url, ...)` points both of ccxt's API bases at `rest_url` (the testnet, the
venue, or the fake venue) and turns on ccxt's sandbox mode on the testnet, whose signatures
differ (`source` "b" instead of "a").

Answers: ccxt raises on any error inside an answer, even one order's error among ten, which
would lose the nine others' statuses. `HyperliquidClient.handle_errors` lets an `ok` answer
through whole (its per-order statuses are read by `parse_statuses`) and leaves everything else
(`"status": "err"`, HTTP 429, network failures) to ccxt's own mapping, which
`supervision.venues.binance.client.classify` reads as for any ccxt venue: throttled, rejected,
unknown, lost.

`classify_action`: a whole-action refusal (`ExchangeError` with the venue's `err` words: a bad
nonce or signature, an unknown user) means the action did not land: its intents are refused
(`refused`), never UNKNOWN.
"""

from __future__ import annotations

from typing import Any

import ccxt

from supervision.venues.binance.client import classify

__all__ = ["TESTNET_URL", "HyperliquidClient", "classify_action", "make_client"]

TESTNET_URL = "https://api.hyperliquid-testnet.xyz"


class HyperliquidClient(ccxt.hyperliquid):
    def handle_errors(self, *args: Any) -> Any:
        # ccxt's signature: (code, reason, url, method, headers, body, response, ...)
        response = args[6]
        if isinstance(response, dict) and response.get("status") == "ok":
            return None
        return super().handle_errors(*args)


def make_client(rest_url: str, *, wallet: str = "", private_key: str = "",
                testnet: bool = True, timeout_s: float = 10.0) -> HyperliquidClient:
    client = HyperliquidClient({"walletAddress": wallet, "privateKey": private_key,
                                "timeout": int(timeout_s * 1000), "enableRateLimit": False})
    if testnet:
        client.set_sandbox_mode(True)
    base = rest_url.rstrip("/")
    client.urls["api"] = {"public": base, "private": base}
    return client


def classify_action(exc: BaseException) -> str:
    """`classify`, but a whole-action refusal (the venue's `err`) is `refused`."""
    kind = classify(exc)
    if kind == "lost" and type(exc) is ccxt.ExchangeError and '"status":"err"' in str(exc):
        return "refused"
    return kind
