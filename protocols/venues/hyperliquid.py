"""Hyperliquid wire format, market side: `l2Book`, `trades`, `bbo`, `activeAssetCtx`.

`l2Book` is always a full snapshot (20 levels a side), never a diff, so there is no sequence to
chain; a feed only has to refuse snapshots whose venue time goes backwards. `trades` replays
recent trades on subscribe, with non-monotonic `tid`s: see `protocols.codec.TradeDeduper` and
`new_trades`. `bbo` is the best bid and offer, either side null when that side of the book is
empty. `activeAssetCtx` (`activeSpotAssetCtx` for spot) carries the oracle and mark prices, open
interest and funding of one coin. A subscription is one JSON request per (channel, coin):
`subscribe` writes it. The account side (order updates, fills, `/exchange`) is in
`protocols.venues.hyperliquid_user`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import attrs

from protocols.codec import (
    DecodeError,
    Side,
    TradeDeduper,
    decimal_field,
    field,
    load_json,
    parse_decimal,
    require_mapping,
)
from protocols.venue_state import FundingUpdate, OracleUpdate

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


@attrs.frozen(slots=True)
class Bbo:
    """Best bid and offer; a side is None when the venue sends null for it (an empty side)."""

    coin: str
    time_ms: int
    bid: HlLevel | None
    ask: HlLevel | None

    @property
    def one_sided(self) -> bool:
        return self.bid is None or self.ask is None


@attrs.frozen(slots=True)
class AssetCtx:
    """`activeAssetCtx`: prices as the venue's decimal strings (oracle and mark), open interest
    in coins, `funding` the current hourly rate. Spot contexts have no oracle, funding or open
    interest (None)."""

    coin: str
    mark_px: str
    oracle_px: str | None
    mid_px: str | None
    open_interest: str | None
    funding: str | None
    spot: bool = False


HyperliquidMessage = L2Book | Trades | Bbo | AssetCtx | Control

_CONTROL_CHANNELS = frozenset({"subscriptionResponse", "pong", "error", "post"})


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


def parse_bbo(data: Any) -> Bbo:
    what = "hyperliquid bbo"
    data = require_mapping(data, what)
    sides = field(data, "bbo", list, what)
    if len(sides) != 2:
        raise DecodeError(f"{what}: 'bbo' should be [bid, ask], got {len(sides)} entries")
    bid, ask = (None if side is None else _parse_levels([side], f"{what} {name}")[0]
                for side, name in zip(sides, ("bid", "ask"), strict=True))
    return Bbo(field(data, "coin", str, what), field(data, "time", int, what), bid, ask)


def parse_asset_ctx(data: Any, *, spot: bool = False) -> AssetCtx:
    what = "hyperliquid activeAssetCtx"
    data = require_mapping(data, what)
    ctx = require_mapping(data.get("ctx"), f"{what} ctx")

    def number(key: str, required: bool = False) -> str | None:
        if key not in ctx and not required:
            return None
        text = field(ctx, key, str, f"{what} ctx")
        parse_decimal(text, f"{what}: field {key!r}")
        return text

    mark = number("markPx", required=True)
    assert mark is not None
    return AssetCtx(field(data, "coin", str, what), mark, number("oraclePx"), number("midPx"),
                    number("openInterest"), number("funding"), spot)


def subscribe(kind: str, *, coin: str | None = None, user: str | None = None,
              unsubscribe: bool = False) -> str:
    """The request for one subscription: `{"method": "subscribe", "subscription": {...}}`."""
    subscription: dict[str, str] = {"type": kind}
    if coin is not None:
        subscription["coin"] = coin
    if user is not None:
        subscription["user"] = user
    return json.dumps({"method": "unsubscribe" if unsubscribe else "subscribe",
                       "subscription": subscription}, separators=(",", ":"))


PING = '{"method":"ping"}'


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
    if channel == "bbo":
        return parse_bbo(obj["data"])
    if channel in ("activeAssetCtx", "activeSpotAssetCtx"):
        return parse_asset_ctx(obj["data"], spot=channel == "activeSpotAssetCtx")
    raise DecodeError(f"hyperliquid message: unsupported channel {channel!r}")


def new_trades(message: Trades, deduper: TradeDeduper) -> tuple[Trade, ...]:
    """The trades of `message` not seen before, in venue order (replays removed by `tid`)."""
    return tuple(t for t in message.trades if deduper.is_new(t.tid))


def _x2(text: str | None, tick: Decimal) -> int | None:
    if text is None:
        return None
    return int((2 * Decimal(text) / tick).to_integral_value(ROUND_HALF_EVEN))


def asset_ctx_updates(name: str, ctx: AssetCtx, tick: Decimal,
                      recv_ns: int) -> list[OracleUpdate | FundingUpdate]:
    """What an `activeAssetCtx` tells the Market actor: `OracleUpdate` (oracle and mark in
    doubled ticks of `tick`) and, for a perp, `FundingUpdate`. One translation for the live
    adapter and the simulated venue replaying a recorded context."""
    out: list[OracleUpdate | FundingUpdate] = [
        OracleUpdate(name, _x2(ctx.oracle_px, tick), _x2(ctx.mark_px, tick), None, recv_ns)]
    if ctx.funding is not None:
        out.append(FundingUpdate(name, ctx.funding, None, recv_ns))
    return out
