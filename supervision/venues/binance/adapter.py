"""The Binance adapter as the node's venue registry builds it: settings from the config, the
transport, and its I/O (two lanes of ccxt REST worker processes, one for exits, and two
websocket readers).

`venue.kind = "binance"` is spot, `"binance_usdm"` USD-M futures. `venue.rest_url` and
`venue.ws_url` say where; left out, they are Binance's test networks (spot:
testnet.binance.vision; USD-M: testnet.binancefuture.com), so nothing reaches the production
venue unless a config names it. The fake venue (`python -m supervision.fakevenue`) is reached the
same way: its two URLs. `build_account` makes, once per node, the spot inventory every
connection incarnation shares (`supervision.venues.binance.reconcile.SpotInventory`).
"""

from __future__ import annotations

import functools
from typing import Any

from supervision.node.live_guard import Mode
from supervision.node.venues import VenueBuild
from supervision.venues.binance.client import make_client
from supervision.venues.binance.io import StreamReader
from supervision.venues.binance.reconcile import SpotInventory
from supervision.venues.binance.rest_pool import RestPool
from supervision.venues.binance.transport import BinanceSettings, BinanceTransport

__all__ = ["TESTNET", "BinanceIO", "build_account", "build_transport", "settings_of"]

TESTNET = {
    "spot": ("https://testnet.binance.vision", "wss://stream.testnet.binance.vision"),
    "usdm": ("https://testnet.binancefuture.com", "wss://stream.binancefuture.com"),
}


class BinanceIO:
    """The transport's I/O, built when the connection opens: `rest` and `exits`, two REST
    lanes, each of worker processes with a ccxt client apiece (`rest_pool`: several symbols'
    requests at once), so exits never wait behind new orders
    (`supervision.venues.binance.exits`); `market`, `user`."""

    def __init__(self, settings: BinanceSettings, transport: BinanceTransport,
                 deliver: Any) -> None:
        client = functools.partial(
            make_client, settings.dialect, settings.rest_url, api_key=settings.api_key,
            secret=settings.api_secret, timeout_s=settings.timeout_s)
        # ccxt runs in processes of their own: its ~1 ms of Python per request would otherwise
        # take the GIL from the event loop, and so would a thread handing its answers over
        # (`rest_process`: the answers are read on the loop). Both start now, in parallel, so
        # the exits' lane is ready (its client made) before the first exit.
        rest_workers, exit_workers = settings.lane_workers
        self.rest = RestPool(client, deliver, "binance-rest", rest_workers)
        self.exits = RestPool(client, deliver, "binance-exits", exit_workers)
        self.rest.start()
        self.exits.start()
        self.market = StreamReader("market", transport.market_url, deliver,
                                   heartbeat_s=settings.heartbeat_s)
        self.user = StreamReader("user", transport.user_url, deliver,
                                 heartbeat_s=settings.heartbeat_s)

    def close(self) -> None:
        self.rest.close()
        self.exits.close()
        self.market.close()
        self.user.close()


def settings_of(build: VenueBuild) -> BinanceSettings:
    venue = build.config.venue
    dialect = "usdm" if venue.kind.value == "binance_usdm" else "spot"
    rest, ws = TESTNET[dialect]
    return BinanceSettings(
        name=venue.name, dialect=dialect, rest_url=venue.rest_url or rest,
        ws_url=venue.ws_url or ws,
        instruments={i.symbol: i.venue_symbol for i in build.config.instruments},
        specs=dict(build.specs),
        api_key=venue.api_key.reveal() if venue.api_key is not None else "",
        api_secret=venue.api_secret.reveal() if venue.api_secret is not None else "",
        observe=build.mode is Mode.OBSERVE, timeout_s=venue.request_timeout_s,
        heartbeat_s=venue.heartbeat_s, lane_workers=venue.lane_workers(
            len(build.config.instruments)), expected_open=build.expected_open,
        known_fills=build.known_fills, expected_positions=dict(build.journal_positions),
        strategies=frozenset(s.id for s in build.config.strategies), charge_requests=True,
        inventory=build.venue if isinstance(build.venue, SpotInventory) else None)


def build_account(build: VenueBuild) -> SpotInventory:
    """The registry's `venue` builder, once per node: what must outlive a connection (a spot
    account's inventory as its balances show it, counted from the configured starting
    inventory, else the journal's)."""
    return SpotInventory(configured=dict(build.config.venue.starting_inventory),
                         remembered=dict(build.starting_inventory),
                         expected=dict(build.journal_positions))


def build_transport(build: VenueBuild) -> BinanceTransport:
    settings = settings_of(build)
    return BinanceTransport(settings, lambda transport, deliver: BinanceIO(
        settings, transport, deliver))
