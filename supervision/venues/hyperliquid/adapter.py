"""The Hyperliquid adapter as the node's venue registry builds it: settings from the config, the
preflight, the transport, and its I/O (a ccxt REST worker thread and one websocket reader).

`venue.kind = "hyperliquid"`; `[venue.hyperliquid]` names the DEX (`dex = "default"` or a
builder DEX's name), the batching period, the subscription limit, the HIP-3 fee multiple and
the network (`testnet` signs as the testnet wants). `venue.rest_url` / `venue.ws_url` say where
and default to the testnet, so nothing reaches the production venue unless a config names it.
`venue.api_key` is the account's wallet address (public, given by reference all the same) and
`venue.api_secret` the API wallet's private key: both optional in observe mode, which streams
public data only; `--execute` without them is refused before the node starts.

`preflight(config, mode)` runs before the node starts: market discovery on the REST API and its
checks (`discovery.resolve`); a refusal stops the process with one line and exit code 2. A venue
that cannot be reached then is not a refusal: the connection checks again once it answers.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import ccxt

from protocols.venues.hyperliquid import PING
from supervision.config.node import NodeConfig
from supervision.node.live_guard import Mode
from supervision.node.venues import VenueBuild
from supervision.venues.binance.io import RestWorker, StreamReader
from supervision.venues.hyperliquid.client import TESTNET_URL, classify_action, make_client
from supervision.venues.hyperliquid.discovery import PreflightError, discover, resolve
from supervision.venues.hyperliquid.nonces import NonceStore, NonceWindowError
from supervision.venues.hyperliquid.transport import HyperliquidSettings, HyperliquidTransport

__all__ = ["TESTNET_WS", "HyperliquidIO", "build_transport", "preflight", "settings_of"]

log = logging.getLogger("troupe.venues.hyperliquid")
TESTNET_WS = "wss://api.hyperliquid-testnet.xyz/ws"


class HyperliquidIO:
    """The transport's I/O, built when the connection opens: `rest`, `stream`, and
    `post_action` (run on the REST worker: a nonce, the signature, the POST)."""

    def __init__(self, settings: HyperliquidSettings, transport: HyperliquidTransport,
                 deliver: Any) -> None:
        self.settings = settings
        self.nonces = NonceStore(time.time_ns() // 1_000_000, settings.nonce_path)
        self.rest = RestWorker(lambda: _client(settings), deliver, name="hyperliquid-rest")
        self.stream = StreamReader("ws", lambda: settings.ws_url, deliver,
                                   heartbeat_s=settings.heartbeat_s,
                                   greeting=lambda: transport.subscriptions, ping=PING,
                                   venue="hyperliquid")

    def post_action(self, client: Any, params: dict[str, Any]) -> dict[str, Any]:
        action = params["action"]
        try:
            nonce = self.nonces.next(time.time_ns() // 1_000_000)
        except NonceWindowError as exc:
            return {"refused": str(exc)}
        signature = client.sign_l1_action(action, nonce, None)
        try:
            return {"ok": client.privatePostExchange(
                {"action": action, "nonce": nonce, "signature": signature})}
        except ccxt.ExchangeError as exc:
            if classify_action(exc) == "refused":  # it did not land: not UNKNOWN
                return {"refused": str(exc).removeprefix("hyperliquid ")[:300]}
            raise

    def close(self) -> None:
        self.rest.close()
        self.stream.close()


def _client(settings: HyperliquidSettings) -> Any:
    return make_client(settings.rest_url, wallet=settings.wallet,
                       private_key=settings.private_key, testnet=settings.testnet,
                       timeout_s=settings.timeout_s)


def settings_of(config: NodeConfig, mode: Mode, specs: Any,
                expected_open: frozenset[str] = frozenset()) -> HyperliquidSettings:
    venue, hl = config.venue, config.venue.hyperliquid
    return HyperliquidSettings(
        name=venue.name, rest_url=venue.rest_url or TESTNET_URL,
        ws_url=venue.ws_url or TESTNET_WS,
        instruments={i.symbol: i.venue_symbol for i in config.instruments},
        specs=dict(specs), dex=hl.dex,
        wallet=venue.api_key.reveal() if venue.api_key is not None else "",
        private_key=venue.api_secret.reveal() if venue.api_secret is not None else "",
        observe=mode is Mode.OBSERVE, testnet=hl.network == "testnet",
        timeout_s=venue.request_timeout_s, heartbeat_s=venue.heartbeat_s,
        batch_period_ms=hl.batch_period_ms, max_subscriptions=hl.max_subscriptions,
        hip3_fee_multiple=hl.hip3_fee_multiple,
        nonce_path=f"{config.journal.path}.nonce", expected_open=expected_open)


def build_transport(build: VenueBuild) -> HyperliquidTransport:
    settings = settings_of(build.config, build.mode, build.specs, build.expected_open)
    return HyperliquidTransport(settings, lambda transport, deliver: HyperliquidIO(
        settings, transport, deliver))


def preflight(config: NodeConfig, mode: Mode) -> None:
    """Refuse to start (PreflightError, one line) when the venue's markets do not fit."""
    specs = {i.symbol: i.to_spec("hyperliquid") for i in config.instruments}
    settings = settings_of(config, mode, specs)
    if mode is Mode.LIVE and not (settings.wallet and settings.private_key):
        raise PreflightError(
            "hyperliquid --execute needs venue.api_key (the wallet address) and "
            "venue.api_secret (the API wallet's private key); observe mode needs neither")
    try:
        found = discover(_client(settings), settings.dex, settings.wallet)
    except ccxt.BaseError as exc:
        log.warning("hyperliquid preflight: the venue cannot be reached at %s (%s); the "
                    "connection checks the markets once it answers", settings.rest_url,
                    type(exc).__name__)
        return
    resolve(found, settings.instruments, settings.specs,
            max_subscriptions=settings.max_subscriptions, user=bool(settings.wallet),
            hip3_fee_multiple=settings.hip3_fee_multiple)
