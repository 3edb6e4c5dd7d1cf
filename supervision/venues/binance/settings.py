"""The Binance transport's settings, and the ccxt methods it calls in each dialect.

`BinanceSettings` is what the adapter (`supervision.venues.binance.adapter.settings_of`) reads
from the node's config for `supervision.venues.binance.transport.BinanceTransport`; `METHODS`
names ccxt's implicit API method of each request (spot `/api/v3`, USD-M `/fapi/v1`).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from actors.market.book_feed import BookFeed
from protocols.feed import Stream
from protocols.instruments import InstrumentSpec
from supervision.venues.binance.reconcile import SpotInventory

__all__ = ["METHODS", "BinanceSettings"]


@attrs.frozen(slots=True)
class BinanceSettings:
    """`instruments`: our name -> Binance symbol; `specs`: the configured specs (their lot and
    fees are kept; tick, step and minimums come from the venue)."""

    name: str
    dialect: str  # "spot" or "usdm"
    rest_url: str
    ws_url: str
    instruments: Mapping[str, str]
    specs: Mapping[str, InstrumentSpec]
    api_key: str = attrs.field(default="", repr=False)
    api_secret: str = attrs.field(default="", repr=False)
    observe: bool = False
    timeout_s: float = 10.0
    heartbeat_s: float = 45.0
    lane_workers: tuple[int, int] = (1, 1)  # the order and exits lanes' processes (`rest_pool`)
    keepalive_s: float = 30 * 60.0
    retry_min_s: float = 1.0
    retry_max_s: float = 60.0
    expected_open: frozenset[str] = frozenset()
    known_fills: frozenset[str] = frozenset()  # fill ids the journal holds: never passed again
    # Where the journal expects each position now (USD-M's start-up summary compares).
    expected_positions: Mapping[str, int] = attrs.Factory(dict)
    # The node's strategy ids: one of our order ids names one (`<prefix>-<strategy>-<n>`).
    strategies: frozenset[str] = frozenset()
    # The market streams subscribed: only what some actor reads (issue 12). The books read
    # depth and trades; nothing reads bookTicker, which was 68% of the frames, each decoded
    # only to be dropped. The mark price (USD-M) is always taken: the Market actors read it.
    streams: frozenset[Stream] = BookFeed.STREAMS
    # The adapter's own requests (snapshots, reconciliations, look-ups, listen keys, sweeps)
    # are paid by the action budget before they go (`supervision.venues.rest_gate`). The node
    # always has a budget (`adapter.settings_of` sets it); a transport driven alone sends them
    # at once.
    charge_requests: bool = False
    # Spot: the node's inventory, which outlives this connection (None: a fresh one).
    inventory: SpotInventory | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def prefix(self) -> str:
        return "/fapi/v1" if self.dialect == "usdm" else "/api/v3"


METHODS: Mapping[str, Mapping[str, str]] = {
    "spot": {"create": "private_post_order", "cancel": "private_delete_order",
             "query": "private_get_order", "depth": "public_get_depth",
             "listen_key": "public_post_userdatastream",
             "keepalive": "public_put_userdatastream", "cancel_all": "private_delete_openorders",
             "trades": "private_get_mytrades"},
    "usdm": {"create": "fapiprivate_post_order", "cancel": "fapiprivate_delete_order",
             "query": "fapiprivate_get_order", "depth": "fapipublic_get_depth",
             "listen_key": "fapiprivate_post_listenkey", "keepalive": "fapiprivate_put_listenkey",
             "cancel_all": "fapiprivate_delete_allopenorders",
             "trades": "fapiprivate_get_usertrades"},
}
"""ccxt's implicit method for each request the transport makes, by dialect."""
