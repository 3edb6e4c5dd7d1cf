"""Hyperliquid market discovery and its preflight, pure: what the venue lists -> our markets.

`discover(client, dex, wallet)` (on the REST worker, or at start-up before the node runs) asks
`/info` for what the checks need: the configured DEX's `metaAndAssetCtxs`, the default DEX's
`meta` (for a builder DEX), `perpDexs`, `spotMeta`, the account's `userFees` (with a wallet)
and the server time (`exchangeStatus`). `resolve(settings, found)` then checks, and refuses
with one line (`PreflightError`) on the first failure:

1. the DEX is named: "default" for the venue's own (its empty name on the wire, never written
   empty in a config), or a builder-deployed (HIP-3) DEX that `perpDexs` lists;
2. every configured coin is listed on that DEX, and its bare name is not also listed on the
   other DEX (the default one for a builder DEX, and back): a coin two DEXs list is ambiguous,
   and an order meant for one must never reach the other;
3. spot and perp are never mixed in one node (their asset ids, price rules and accounts differ);
4. the subscriptions the node needs (4 market channels a coin, plus the user's order updates and
   fills) fit the venue's limit per connection (`max_subscriptions`, 1000).

Each market becomes a `HlMarketInfo`: the asset id actions use (default DEX: its index; the
n-th builder DEX: 100000 + 10000 x n + index; spot: 10000 + index), `szDecimals`, and the spec:
tick = the price step near the current mid (`protocols.venues.hyperliquid_format.price_step`),
lot = 10^-szDecimals, the venue's $10 minimum order value, and the fees of the account's tier
(`userFees`: maker `userAddRate`, taker `userCrossRate`) times the builder DEX's fee multiple
(HIP-3 markets charge a multiple of the usual fees; `venue.hyperliquid.hip3_fee_multiple`),
or the configured fees without a wallet.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from protocols.errors import TroupeError
from protocols.instruments import ContractType, InstrumentSpec
from protocols.venues.hyperliquid_format import price_step

__all__ = ["DEFAULT_DEX", "HlMarketInfo", "PreflightError", "discover", "resolve",
           "subscriptions_needed"]

DEFAULT_DEX = "default"
MARKET_CHANNELS = ("l2Book", "trades", "bbo", "activeAssetCtx")
USER_CHANNELS = ("orderUpdates", "userFills")
MIN_ORDER_VALUE = Decimal(10)


class PreflightError(TroupeError, ValueError):
    """The venue's markets do not fit the config: the node refuses to start (one line)."""


@attrs.frozen(slots=True)
class HlMarketInfo:
    name: str  # our instrument
    coin: str  # the venue's name ("BTC", "xyz:XYZ100", "@107")
    asset: int
    sz_decimals: int
    spec: InstrumentSpec
    spot: bool = False
    oi_cap: Decimal | None = None  # a builder DEX's open-interest cap (notional), if listed


def subscriptions_needed(coins: int, user: bool) -> int:
    return coins * len(MARKET_CHANNELS) + (len(USER_CHANNELS) if user else 0)


def discover(client: Any, dex: str, wallet: str = "") -> dict[str, Any]:
    """The `/info` answers `resolve` reads (blocking: a worker thread or the start-up)."""
    wire_dex = "" if dex == DEFAULT_DEX else dex
    info = client.publicPostInfo
    found: dict[str, Any] = {"dex": dex, "dexs": info({"type": "perpDexs"}),
                             "spot": info({"type": "spotMeta"}),
                             "status": info({"type": "exchangeStatus"})}
    found["meta"], found["ctxs"] = info({"type": "metaAndAssetCtxs", "dex": wire_dex})
    found["other_meta"] = info({"type": "meta"}) if wire_dex else None
    found["fees"] = info({"type": "userFees", "user": wallet}) if wallet else None
    found["local_ms"] = time.time_ns() // 1_000_000  # against the server's, for the drift
    return found


def _dex_index(dexs: Sequence[Any], dex: str) -> int | None:
    for n, entry in enumerate(dexs):
        if isinstance(entry, Mapping) and entry.get("name") == dex:
            return n
    return None


def _bare(coin: str) -> str:
    return coin.split(":", 1)[-1]


def resolve(found: Mapping[str, Any], instruments: Mapping[str, str],
            configured: Mapping[str, InstrumentSpec], *, max_subscriptions: int = 1000,
            user: bool = False, hip3_fee_multiple: Decimal = Decimal(2),
            venue: str = "hyperliquid") -> dict[str, HlMarketInfo]:
    """`instruments`: our name -> the venue's coin. Raises `PreflightError` (see above)."""
    dex = str(found.get("dex") or "")
    if not dex:
        raise PreflightError('venue.hyperliquid.dex is empty: name the DEX ("default" for '
                             "Hyperliquid's own, or a builder DEX's name)")
    kinds = {spec.contract_type for spec in configured.values()}
    spot_coins = [c for c in instruments.values() if "/" in c or c.startswith("@")]
    if len(kinds) > 1 or (spot_coins and len(spot_coins) != len(instruments)):
        raise PreflightError("hyperliquid: spot and perp instruments are mixed in one node "
                             f"({', '.join(sorted(instruments.values()))}); run one node each")
    needed = subscriptions_needed(len(instruments), user)
    if needed > max_subscriptions:
        raise PreflightError(
            f"hyperliquid: {len(instruments)} instruments need {needed} websocket "
            f"subscriptions; the venue allows at most {max_subscriptions} a connection")
    if spot_coins:
        return _resolve_spot(found, instruments, configured, venue)
    offset = 0
    if dex != DEFAULT_DEX:
        n = _dex_index(found.get("dexs") or [], dex)
        if n is None or n == 0:
            names = [d.get("name") for d in found.get("dexs") or [] if isinstance(d, Mapping)]
            raise PreflightError(f"hyperliquid has no DEX named {dex!r} (builder DEXs: "
                                 f"{', '.join(map(str, names)) or 'none'})")
        offset = 100_000 + 10_000 * n
    universe = [u for u in found["meta"].get("universe", []) if isinstance(u, Mapping)]
    ctxs = list(found.get("ctxs") or [])
    here = {u["name"]: i for i, u in enumerate(universe)}
    other = found.get("other_meta") or {}
    elsewhere = {_bare(u["name"]) for u in other.get("universe", []) if isinstance(u, Mapping)}
    caps = _oi_caps(found.get("dexs") or [], dex)
    out: dict[str, HlMarketInfo] = {}
    for name, coin in instruments.items():
        index = here.get(coin)
        if index is None:
            raise PreflightError(
                f"hyperliquid: coin {coin!r} (instrument {name}) is not listed on the "
                f"{dex} DEX")
        if _bare(coin) in elsewhere:
            raise PreflightError(
                f"hyperliquid: coin {_bare(coin)!r} is listed on the {dex} DEX and on the "
                "default DEX: a collision, refusing to start (trade it from one node per DEX, "
                "on a DEX where its name is unique)")
        row = universe[index]
        ctx = ctxs[index] if index < len(ctxs) and isinstance(ctxs[index], Mapping) else {}
        out[name] = _market(name, coin, offset + index, int(row["szDecimals"]), ctx=ctx,
                            configured=configured.get(name), fees=found.get("fees"),
                            multiple=hip3_fee_multiple if dex != DEFAULT_DEX else Decimal(1),
                            venue=venue, oi_cap=caps.get(coin))
    return out


def _resolve_spot(found: Mapping[str, Any], instruments: Mapping[str, str],
                  configured: Mapping[str, InstrumentSpec],
                  venue: str) -> dict[str, HlMarketInfo]:
    spot = found.get("spot") or {}
    tokens = {t.get("index"): t for t in spot.get("tokens", []) if isinstance(t, Mapping)}
    pairs = {}
    for u in spot.get("universe", []):
        if isinstance(u, Mapping):
            pairs[u["name"]] = u
            pairs[f"@{u['index']}"] = u
    out: dict[str, HlMarketInfo] = {}
    for name, coin in instruments.items():
        pair = pairs.get(coin)
        if pair is None:
            raise PreflightError(f"hyperliquid: spot pair {coin!r} (instrument {name}) is not "
                                 "listed")
        base = tokens.get(pair["tokens"][0], {})
        out[name] = _market(name, coin, 10_000 + int(pair["index"]),
                            int(base.get("szDecimals", 0)), ctx={},
                            configured=configured.get(name), fees=found.get("fees"),
                            multiple=Decimal(1), venue=venue, oi_cap=None, spot=True)
    return out


def _oi_caps(dexs: Sequence[Any], dex: str) -> dict[str, Decimal]:
    for entry in dexs:
        if isinstance(entry, Mapping) and entry.get("name") == dex:
            return {str(c): Decimal(str(v)) for c, v in entry.get("assetToStreamingOiCap") or []}
    return {}


def _market(name: str, coin: str, asset: int, sz_decimals: int, *, ctx: Mapping[str, Any],
            configured: InstrumentSpec | None, fees: Any, multiple: Decimal, venue: str,
            oi_cap: Decimal | None, spot: bool = False) -> HlMarketInfo:
    reference = next((Decimal(str(ctx[k])) for k in ("midPx", "markPx", "oraclePx")
                      if ctx.get(k) not in (None, "")), None)
    if reference is not None and reference > 0:
        tick = price_step(reference, sz_decimals, spot)
    elif configured is not None:
        tick = configured.tick_size
    else:
        raise PreflightError(f"hyperliquid: no price for {coin!r} and no configured tick")
    lot = Decimal(1).scaleb(-sz_decimals)
    if isinstance(fees, Mapping) and fees.get("userAddRate") is not None:
        maker = Decimal(str(fees["userAddRate"])) * multiple
        taker = Decimal(str(fees["userCrossRate"])) * multiple
    elif configured is not None:
        maker, taker = configured.maker_fee, configured.taker_fee
    else:
        maker, taker = Decimal("0.00015") * multiple, Decimal("0.00045") * multiple
    spec = InstrumentSpec(name, venue, tick, lot, lot, MIN_ORDER_VALUE, maker.normalize(),
                          taker.normalize(), ContractType.SPOT if spot else ContractType.PERP)
    return HlMarketInfo(name, coin, asset, sz_decimals, spec, spot, oi_cap)
