"""Orders as data: what a strategy intends, what a venue reports, and what our logic concluded.

Everything here is an attrs frozen, slotted class or an enum, so a record can be journaled, sent
to another actor and compared in a test without anyone being able to change it afterwards.

Units, chosen so that no float ever touches money:

- quantities are positive `int` lots and prices are `int` ticks of the instrument (the venue
  adapter quantizes with the venue's rules before anything reaches us);
- fees are `Decimal` (or `int`) in `fee_asset`, negative for a maker rebate;
- times are `int` nanoseconds of the local monotonic clock (`recv_ns`), plus the venue's own
  timestamp where it sends one (`venue_ns`, epoch ns), because freshness is measured locally but
  an audit wants the venue's word.

The validators reject floats and booleans at construction: a float quantity is a bug upstream,
and it is cheaper to fail where it enters than to find a rounding drift in the PnL a week later.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Any

import attrs

from protocols.codec import Side

# --------------------------------------------------------------------------------------------
# Validators


def _lots(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not int or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive int of lots, got {value!r}")


def _nonneg_int(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not int or value < 0:
        raise ValueError(f"{attribute.name} must be a non-negative int, got {value!r}")


def _ticks(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not int:
        raise ValueError(f"{attribute.name} must be an int of ticks, got {value!r}")


def _opt_ticks(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _ticks(inst, attribute, value)


def _money(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not (isinstance(value, Decimal) or type(value) is int):
        raise ValueError(f"{attribute.name} must be a Decimal or an int, got {value!r}")


def _id(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be a non-empty str, got {value!r}")


# --------------------------------------------------------------------------------------------
# Enums


class OrderType(enum.Enum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(enum.Enum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    POST_ONLY = "post_only"


class Liquidity(enum.Enum):
    MAKER = "maker"
    TAKER = "taker"


class OrderState(enum.Enum):
    """The lifecycle of one order; the rules are in `actors.execution.order_lifecycle`."""

    NEW = "new"
    PENDING_SUBMIT = "pending_submit"
    ACKED = "acked"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED, OrderState.EXPIRED}
)


class RejectCode(enum.Enum):
    """Why a venue refused an order.

    The split that matters is `request_level`: the request never reached the matching engine
    (throttled, venue down), so it says nothing about an *earlier* attempt with the same client
    order id. `DUPLICATE_CLIENT_ORDER_ID` is not a refusal at all: it proves an order with our id
    already exists at the venue. `NOT_SENT` is not the venue's either: the node answered the
    request itself, having taken it back (or kept it) before it left, so the venue never saw
    it; it is its own reason so that `troupe_orders_rejected_total` does not blame the venue
    for it. Everything else treats it as `OTHER`.
    """

    INSUFFICIENT_FUNDS = "insufficient_funds"
    INVALID_PRICE = "invalid_price"
    INVALID_QUANTITY = "invalid_quantity"
    POST_ONLY_WOULD_TAKE = "post_only_would_take"
    REDUCE_ONLY_WOULD_INCREASE = "reduce_only_would_increase"
    MARKET_CLOSED = "market_closed"
    RATE_LIMITED = "rate_limited"
    VENUE_UNAVAILABLE = "venue_unavailable"
    DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"
    MIN_NOTIONAL = "min_notional"  # price x qty below the venue's minimum order value
    UNKNOWN_ORDER = "unknown_order"  # a replace of an order the venue does not have open
    NOT_SENT = "not_sent"  # answered by the node: the request never left it
    OTHER = "other"

    @property
    def request_level(self) -> bool:
        return self in (RejectCode.RATE_LIMITED, RejectCode.VENUE_UNAVAILABLE)


class CancelRejectCode(enum.Enum):
    """Why a venue refused a cancel. `UNKNOWN_ORDER` is ambiguous on every venue we know: the
    order may be done (fills still in flight) or may never have arrived."""

    UNKNOWN_ORDER = "unknown_order"
    TOO_LATE = "too_late"
    RATE_LIMITED = "rate_limited"
    OTHER = "other"


class VenueOrderStatus(enum.Enum):
    """An order's status as a venue query (reconciliation) reports it."""

    OPEN = "open"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    NOT_FOUND = "not_found"


class Priority(enum.IntEnum):
    """Rate-limit spending order: lower value goes first. See `actors.execution.action_queue`."""

    REDUCE_ONLY = 0
    CANCEL = 1
    NEW = 2


# --------------------------------------------------------------------------------------------
# Intents: what a strategy (through the risk gate) asks for


@attrs.frozen(slots=True)
class OrderIntent:
    """A new order. `price` is None exactly for MARKET orders."""

    client_order_id: str = attrs.field(validator=_id)
    instrument: str = attrs.field(validator=_id)
    side: Side
    order_type: OrderType
    qty: int = attrs.field(validator=_lots)
    price: int | None = attrs.field(validator=_opt_ticks)
    tif: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False

    def __attrs_post_init__(self) -> None:
        if (self.order_type is OrderType.LIMIT) != (self.price is not None):
            raise ValueError("a LIMIT order needs a price and a MARKET order must not have one")
        if self.tif is TimeInForce.POST_ONLY and self.order_type is not OrderType.LIMIT:
            raise ValueError("POST_ONLY only makes sense for a LIMIT order")


@attrs.frozen(slots=True)
class CancelIntent:
    client_order_id: str = attrs.field(validator=_id)
    instrument: str = attrs.field(validator=_id)


@attrs.frozen(slots=True)
class ReplaceIntent:
    """Amend a resting order's price and/or quantity. Coalesced per order in the action queue."""

    client_order_id: str = attrs.field(validator=_id)
    instrument: str = attrs.field(validator=_id)
    qty: int = attrs.field(validator=_lots)
    price: int = attrs.field(validator=_ticks)
    reduce_only: bool = False


Intent = OrderIntent | CancelIntent | ReplaceIntent

# --------------------------------------------------------------------------------------------
# Venue reports. `recv_ns` is local monotonic receive time; `venue_ns` the venue's timestamp.


class IntentAnswer:
    """Base of every answer a strategy can get about one of its intents: the venue's reports,
    the risk gate's `RiskRefused` and `Scaled`, the budget's `Dropped`, our own `OwnFill`.

    Each has a top-level `client_order_id`, so a strategy routes any answer with one attribute
    read, never a `getattr` default that silently ignores a class whose id sits elsewhere."""

    __slots__ = ()
    client_order_id: str


@attrs.frozen(slots=True)
class Ack(IntentAnswer):
    client_order_id: str
    venue_order_id: str = ""
    venue_ns: int | None = attrs.field(default=None, kw_only=True)
    recv_ns: int = attrs.field(default=0, kw_only=True)


@attrs.frozen(slots=True)
class Reject(IntentAnswer):
    client_order_id: str
    code: RejectCode
    message: str = ""
    venue_ns: int | None = attrs.field(default=None, kw_only=True)
    recv_ns: int = attrs.field(default=0, kw_only=True)


@attrs.frozen(slots=True)
class Fill(IntentAnswer):
    """One execution. `fill_id` is the venue's trade id: the key that makes fills idempotent."""

    client_order_id: str
    fill_id: str = attrs.field(validator=_id)
    qty: int = attrs.field(validator=_lots)
    price: int = attrs.field(validator=_ticks)
    fee: Decimal | int = attrs.field(default=Decimal(0), validator=_money)
    liquidity: Liquidity = Liquidity.TAKER
    fee_asset: str = ""
    venue_ns: int | None = attrs.field(default=None, kw_only=True)
    recv_ns: int = attrs.field(default=0, kw_only=True)


@attrs.frozen(slots=True)
class CancelAck(IntentAnswer):
    client_order_id: str
    venue_ns: int | None = attrs.field(default=None, kw_only=True)
    recv_ns: int = attrs.field(default=0, kw_only=True)


@attrs.frozen(slots=True)
class CancelReject(IntentAnswer):
    client_order_id: str
    code: CancelRejectCode
    message: str = ""
    venue_ns: int | None = attrs.field(default=None, kw_only=True)
    recv_ns: int = attrs.field(default=0, kw_only=True)


@attrs.frozen(slots=True)
class Expired(IntentAnswer):
    """The venue ended the order (IOC/FOK remainder, GTT expiry, post-only slide refused)."""

    client_order_id: str
    venue_ns: int | None = attrs.field(default=None, kw_only=True)
    recv_ns: int = attrs.field(default=0, kw_only=True)


@attrs.frozen(slots=True)
class ReconcileResult:
    """The answer of an order-status query, used to resolve UNKNOWN (and to audit the rest).

    `fills` are the venue's trades for this order, if the adapter fetched them; they go through
    the same idempotent path as live fills. `filled_qty` is the venue's cumulative figure: when
    it exceeds what our distinct fills add up to, fills are missing and the outcome says how many
    lots.
    """

    client_order_id: str
    status: VenueOrderStatus
    filled_qty: int = attrs.field(default=0, validator=_nonneg_int)
    fills: tuple[Fill, ...] = ()
    recv_ns: int = attrs.field(default=0, kw_only=True)


# --------------------------------------------------------------------------------------------
# Timeouts, scheduled by the owner of the order. `attempt` ties a timeout to one send, so a
# timer of an earlier attempt that fires late cannot knock a resend into UNKNOWN.


@attrs.frozen(slots=True)
class SubmitTimeout:
    client_order_id: str
    attempt: int


@attrs.frozen(slots=True)
class CancelTimeout:
    client_order_id: str
    attempt: int


VenueReport = Ack | Reject | Fill | CancelAck | CancelReject | Expired
OrderEvent = VenueReport | ReconcileResult | SubmitTimeout | CancelTimeout

# --------------------------------------------------------------------------------------------
# Outcomes of the order state machine: every event yields exactly one of these, never an
# exception, so a duplicate or out-of-order venue report is a journal line, not a crash.


@attrs.frozen(slots=True)
class Applied:
    """The event was accepted. `old` may equal `new` (a fill that leaves the order partially
    filled, a late ack). `fills` are the fills newly counted by this event. `note` flags what a
    human should know about (a late fill after a cancel, lots the venue reports but we lack)."""

    client_order_id: str
    event: str
    old: OrderState
    new: OrderState
    fills: tuple[Fill, ...] = ()
    note: str = ""
    missing_qty: int = 0


@attrs.frozen(slots=True)
class Ignored:
    """The event did not change the order. `reason` is for the journal and for metrics labels."""

    client_order_id: str
    event: str
    state: OrderState
    reason: str

    def __bool__(self) -> bool:
        # `if order.apply(report):` reads as "if it did something".
        return False


Outcome = Applied | Ignored

# --------------------------------------------------------------------------------------------
# Action budget records


@attrs.frozen(slots=True)
class Dropped(IntentAnswer):
    """An intent the budget will never send. `reason`: "stale" (older than its TTL when its turn
    came), "superseded" (a newer replace for the same order took its place),
    "cancelled_before_send" (a cancel arrived while the order was still queued), or whatever the
    owner passed to `drop_level` (e.g. "halted")."""

    intent: Intent
    priority: Priority
    reason: str
    enqueued_ns: int
    dropped_ns: int

    @property
    def client_order_id(self) -> str:  # type: ignore[override]
        return self.intent.client_order_id


@attrs.frozen(slots=True)
class Batch:
    """One venue request: one or more intents of one type from one priority level."""

    priority: Priority
    intents: tuple[Intent, ...]
    weight: int


@attrs.frozen(slots=True)
class Dispatch:
    """What `ActionQueue.dispatch(now)` decided: send these batches now, report these drops, and
    call again at `next_wakeup_ns` (None: nothing queued, wait for the next intent), and let
    these adapter requests go (`cleared`, in the order they were paid for)."""

    batches: tuple[Batch, ...]
    drops: tuple[Dropped, ...]
    next_wakeup_ns: int | None
    cleared: tuple[Any, ...] = ()  # the adapter's own requests paid for (`VenueRequest`s)


@attrs.frozen(slots=True)
class BudgetStatistics:
    """A reading of the action budget: queue depth per priority, tokens left per limit (whole
    tokens, rounded down), and whether new orders are currently held back by a 429 backoff."""

    depth: dict[Priority, int]
    tokens: dict[str, int]
    cancel_tokens: int | None
    blocked_until_ns: int | None
    blocked: frozenset[Priority]
    backoff_ns: int
    sent: int
    dropped: int
    rate_limited: int
