"""What a venue connection tells an OrderBook actor, and what the book asks of it.

The connection parses frames (`protocols.venues.binance`, `protocols.venues.hyperliquid`) and wraps
each parsed
message in a `FeedEvent` with the local monotonic receive time, taken as early as possible (in the
socket task, before any queueing), because that is the time freshness and tick-to-trade are
measured from. The venue's own timestamp stays inside the message: its clock is not ours.

`ResyncRequest` goes the other way: the book lost the thread (a gap, a crossed book, a snapshot
that does not join) and needs a fresh REST snapshot (Binance) or a resubscription (Hyperliquid).

`Subscribe` / `Unsubscribe` let a strategy or a risk gate attach to a running book (or market)
actor without rebuilding it; subscribers may also be given to the constructor.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

__all__ = ["ALL_STREAMS", "FeedBatch", "FeedEvent", "ResyncRequest", "Stream", "Subscribe",
           "Unsubscribe"]


class Stream(enum.Enum):
    """The kinds of market data a source can deliver. A source delivers only the streams some
    consumer declared it uses, and can skip the others before decoding them."""

    DEPTH = "depth"  # depth diffs and snapshots (Binance), full books (Hyperliquid l2Book)
    TRADES = "trades"  # public trades
    TICKER = "ticker"  # best bid/ask tickers (Binance bookTicker)
    CONTEXT = "context"  # the venue's asset context: oracle, mark, funding (activeAssetCtx)


ALL_STREAMS = frozenset(Stream)


def _non_negative_int(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not int or value < 0:
        raise ValueError(f"{attribute.name} must be a non-negative int, got {value!r}")


@attrs.frozen(slots=True)
class FeedEvent:
    """One parsed venue message for `instrument`, with its local monotonic receive time.

    `message` is a Binance `DepthDiff`, `DepthSnapshot`, `Trade` or `BookTicker` (a diff or trade
    already in the book's units as `DepthDiffInUnits` / `TradeInUnits`), or a Hyperliquid
    `L2Book` or `Trades`. The instrument is the runtime's name for it (the book actor checks it),
    not necessarily the venue's symbol. `recv_ns` is a non-negative int of ns; it is not
    validated here: every market event makes one or two of these, and their makers (sources,
    connections) take it from a clock.
    """

    instrument: str
    message: Any
    recv_ns: int


@attrs.frozen(slots=True)
class FeedBatch:
    """`FeedEvent`s that arrive at one instant, in order, as one message: a replay in virtual
    time sends the lines of one recorded instant so, and a simulated venue passes them on so to
    a book. A consumer handles them one by one, exactly as if each had come in a message of its
    own right after the one before (nothing else can come between two messages that land at the
    same instant back to back): the batch saves the hops, not the work, and changes nothing a
    consumer sees."""

    events: tuple[FeedEvent, ...]


@attrs.frozen(slots=True)
class ResyncRequest:
    """From a book to its venue connection: send me a fresh snapshot for `instrument`.

    `reason` is the `BookStale` reason that caused it ("gap", "resync", "crossed", ...). A
    connection may receive repeats (the book retries while it stays unsynced): it should
    coalesce them rather than spend snapshot weight once per request.
    """

    instrument: str
    reason: str


@attrs.frozen(slots=True)
class Subscribe:
    """Start publishing to `ref`. `depth` > 0 adds that many levels a side to each `BookTop`.
    `trades` False leaves out the public trades (`TradePrint`): a subscriber that only reads
    the book (a risk gate, a monitor) is not sent three prints in four of a busy feed.

    The new subscriber is sent the current state at once (if there is one to send), so it does
    not wait for the next change to learn where the market is. A subscriber may also be given
    to a book's constructor as a `Subscribe`.
    """

    ref: Any
    depth: int = attrs.field(default=0, validator=_non_negative_int)
    trades: bool = True


@attrs.frozen(slots=True)
class Unsubscribe:
    ref: Any
