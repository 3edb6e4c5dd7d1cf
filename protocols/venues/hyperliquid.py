"""Hyperliquid wire format: `l2Book` snapshots and `trades`.

`l2Book` is always a full snapshot (20 levels a side), never a diff, so there is no sequence to
chain; a feed only has to refuse snapshots whose venue time goes backwards. `trades` replays
recent trades on subscribe, with non-monotonic `tid`s: see `protocols.codec.TradeDeduper` and
`new_trades`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from protocols.codec import (
    DecodeError,
    Side,
    TradeDeduper,
    decimal_field,
    field,
    load_json,
    require_mapping,
)

# (px, sz, n): price and size as the venue's decimal strings, n = number of orders at the level.
HlLevel = tuple[str, str, int]

_SIDES = {"B": Side.BUY, "A": Side.SELL}


@attrs.frozen(slots=True)
class L2Book:
    """Full book snapshot; `time_ms` is venue time, used to refuse out-of-order snapshots."""

    coin: str
    time_ms: int
    bids: tuple[HlLevel, ...]
    asks: tuple[HlLevel, ...]


@attrs.frozen(slots=True)
class Trade:
    """One trade. `side` is the aggressor: "B" (buyer took the ask) or "A" (seller hit the bid)."""

    coin: str
    tid: int
    price: Decimal
    size: Decimal
    side: Side
    time_ms: int
    hash: str


@attrs.frozen(slots=True)
class Trades:
    trades: tuple[Trade, ...]


@attrs.frozen(slots=True)
class Control:
    """Channels that carry no market data (`subscriptionResponse`, `pong`, `error`)."""

    channel: str
    data: Any = attrs.field(eq=False, hash=False)


HyperliquidMessage = L2Book | Trades | Control

_CONTROL_CHANNELS = frozenset({"subscriptionResponse", "pong", "error"})


def parse_l2book(data: Any) -> L2Book:
    what = "hyperliquid l2Book"
    data = require_mapping(data, what)
    levels = field(data, "levels", list, what)
    if len(levels) != 2:
        raise DecodeError(f"{what}: 'levels' should be [bids, asks], got {len(levels)} lists")
    return L2Book(
        coin=field(data, "coin", str, what),
        time_ms=field(data, "time", int, what),
        bids=_parse_levels(levels[0], f"{what} bids"),
        asks=_parse_levels(levels[1], f"{what} asks"),
    )


def _parse_levels(raw: Any, what: str) -> tuple[HlLevel, ...]:
    if not isinstance(raw, list):
        raise DecodeError(f"{what}: expected a list of levels, got {type(raw).__name__}")
    out: list[HlLevel] = []
    for i, item in enumerate(raw):
        where = f"{what}[{i}]"
        level = require_mapping(item, where)
        px, sz = field(level, "px", str, where), field(level, "sz", str, where)
        out.append((px, sz, field(level, "n", int, where)))
    return tuple(out)


def parse_trade(data: Any) -> Trade:
    what = "hyperliquid trade"
    data = require_mapping(data, what)
    side = field(data, "side", str, what)
    if side not in _SIDES:
        raise DecodeError(f"{what}: field 'side' should be 'B' or 'A', got {side!r:.20}")
    return Trade(
        coin=field(data, "coin", str, what),
        tid=field(data, "tid", int, what),
        price=decimal_field(data, "px", what),
        size=decimal_field(data, "sz", what),
        side=_SIDES[side],
        time_ms=field(data, "time", int, what),
        hash=field(data, "hash", str, what),
    )


def parse_trades(data: Any) -> Trades:
    if not isinstance(data, list):
        raise DecodeError(f"hyperliquid trades: expected a list, got {type(data).__name__}")
    return Trades(tuple(parse_trade(t) for t in data))


def parse_message(raw: str | bytes | Mapping[str, Any]) -> HyperliquidMessage:
    """Classify and parse one websocket frame `{"channel": ..., "data": ...}`."""
    obj = load_json(raw, "hyperliquid message") if isinstance(raw, str | bytes) else raw
    obj = require_mapping(obj, "hyperliquid message")
    channel = field(obj, "channel", str, "hyperliquid message")
    if channel in _CONTROL_CHANNELS:
        return Control(channel, obj.get("data"))
    if "data" not in obj:
        raise DecodeError(f"hyperliquid {channel}: missing field 'data'")
    if channel == "l2Book":
        return parse_l2book(obj["data"])
    if channel == "trades":
        return parse_trades(obj["data"])
    raise DecodeError(f"hyperliquid message: unsupported channel {channel!r}")


def new_trades(message: Trades, deduper: TradeDeduper) -> tuple[Trade, ...]:
    """The trades of `message` not seen before, in venue order (replays removed by `tid`)."""
    return tuple(t for t in message.trades if deduper.is_new(t.tid))
