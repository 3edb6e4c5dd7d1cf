"""What the node journals: the records it writes itself, and the messages to its journal writer.

Any attrs instance can be journaled (`protocols.journal_codec` says how a line is written); the
typed records here are the ones the node writes on purpose and recovery reads back
(`protocols.journal_codec.structure_record`):

- messages to the writer: `JournalEntry` (a free-form record), `Flush` and its `Flushed`
  answer, the `JournalHealth` the writer tells its watchers, and the `TornLine` marker it
  writes when it finds a line a crash left unfinished;
- the node's own records: start and stop, restarts and supervisors giving up, control actions,
  injected faults, reserved client order id ranges;
- the order path's records: `OrderSent`, `CancelSent` and `ReplaceSent`, journaled *before*
  the wire (so an id once sent is never reused), and `ObservedIntent` for what an observe node
  decided but did not send.

This module is data only: the codec lives in `protocols.journal_codec`, file handling in
`supervision.node.journal`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from protocols.codec import Side
from protocols.errors import TroupeError
from protocols.orders import (
    CancelIntent,
    Intent,
    OrderIntent,
    OrderType,
    ReplaceIntent,
    TimeInForce,
)


class JournalError(TroupeError, ValueError):
    """A journal could not be read or replayed. The message names the file, line or record."""


class FsyncPolicy(enum.StrEnum):
    """When the writer fsyncs: shared by the node config (`journal.fsync`) and the writer."""

    ALWAYS = "always"  # flush and fsync every record
    INTERVAL = "interval"  # flush every record, fsync at most every interval and on stop
    NEVER = "never"  # flush only; the OS decides when it reaches the disk


# --------------------------------------------------------------------------------------------
# Messages to the journal writer


def _kind(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{attribute.name} must be a non-empty str, got {value!r}")


@attrs.frozen(slots=True, eq=False)
class JournalEntry:
    """A free-form record (start/stop markers of a tool, operator notes): written with `kind`
    and `source` as given and `data` as its `data` field."""

    kind: str = attrs.field(validator=_kind)
    data: Mapping[str, Any] = attrs.field(factory=dict)
    source: str = ""


@attrs.frozen(slots=True)
class Flush:
    """Ask the writer to put everything on disk (write any backlog, fsync). Answered with
    `Flushed` once done; shutdown asks it last."""


@attrs.frozen(slots=True)
class Flushed:
    seq: int  # the last record on disk
    healthy: bool
    backlog: int  # records that could not be written yet (disk full)


@attrs.frozen(slots=True)
class JournalHealth:
    """The writer's word on whether records reach the disk, told to its watchers whenever it
    changes. `healthy` False: a write, an fsync or the open failed (`error` says how); the
    `backlog` records wait in memory, in order, and are retried. The risk gate stops new risk
    on it, the node is not ready while it lasts; it is never journaled (by what?)."""

    healthy: bool
    error: str = ""
    backlog: int = 0


@attrs.frozen(slots=True)
class TornLine:
    """Written by the writer when it finds an unfinished line at `offset` (the process died
    mid-write, or a write failed halfway). The reader skips exactly the line this names."""

    offset: int
    length: int


# --------------------------------------------------------------------------------------------
# Typed records: the node's own


@attrs.frozen(slots=True)
class ControlAction:
    """An operator or alert action on the control plane, whether it succeeded (`ok`) or not."""

    action: str
    reason: str
    source: str
    ok: bool = True
    detail: str = ""
    instrument: str | None = None  # resume, flatten, cancel_all of one instrument


@attrs.frozen(slots=True)
class NodeStarted:
    name: str
    profile: str
    mode: str  # "observe", "paper" or "live": what the node actually does
    version: str
    run_id: str = ""  # unique per process start; the simulated venue's fill ids carry it


@attrs.frozen(slots=True)
class NodeStopped:
    reason: str


@attrs.frozen(slots=True)
class ActorRestarted:
    actor: str
    reason: str


@attrs.frozen(slots=True)
class IdsReserved:
    """Client order id counters of `<prefix>-<strategy>` up to `up_to` may be in use: journaled
    before any of them is issued, so recovery starts above them (`ClientOrderIds`)."""

    prefix: str
    strategy: str
    up_to: int


@attrs.frozen(slots=True)
class SupervisorGaveUp:
    """Part of the tree exhausted its restarts: `actor` (a supervisor, or a child given up
    alone), which `subtree` of the node it was, why, and what the node did about it."""

    actor: str
    subtree: str
    reason: str
    action: str


@attrs.frozen(slots=True)
class FaultInjected:
    """An operator or a test armed (or, with `fault` empty, disarmed) a fault on `actor`."""

    actor: str
    fault: str
    source: str


@attrs.frozen(slots=True)
class OrderSent:
    """A new order handed to the venue. Journaled *before* the wire: its id is then used."""

    client_order_id: str
    instrument: str
    side: Side
    order_type: OrderType
    qty: int
    price: int | None
    tif: TimeInForce
    reduce_only: bool
    strategy: str
    sent_ns: int

    @classmethod
    def from_intent(cls, intent: OrderIntent, strategy: str, sent_ns: int) -> OrderSent:
        return cls(intent.client_order_id, intent.instrument, intent.side, intent.order_type,
                   intent.qty, intent.price, intent.tif, intent.reduce_only, strategy, sent_ns)

    def to_intent(self) -> OrderIntent:
        return OrderIntent(self.client_order_id, self.instrument, self.side, self.order_type,
                           self.qty, self.price, self.tif, self.reduce_only)


@attrs.frozen(slots=True)
class CancelSent:
    client_order_id: str
    instrument: str
    strategy: str
    sent_ns: int


@attrs.frozen(slots=True)
class ReplaceSent:
    """An amend handed to the venue: the order keeps its id, `qty` and `price` are the new ones."""

    client_order_id: str
    instrument: str
    qty: int
    price: int
    reduce_only: bool
    strategy: str
    sent_ns: int


@attrs.frozen(slots=True)
class ObservedIntent:
    """An intent the node did NOT send because it runs in observe mode. `action` is "new",
    "cancel" or "replace"; the fields a cancel lacks are None. Its id still counts as used."""

    action: str
    client_order_id: str
    instrument: str
    side: Side | None
    order_type: OrderType | None
    qty: int | None
    price: int | None
    tif: TimeInForce | None
    reduce_only: bool
    strategy: str
    observed_ns: int

    @classmethod
    def from_intent(cls, intent: Intent, strategy: str, observed_ns: int) -> ObservedIntent:
        cid, inst = intent.client_order_id, intent.instrument
        if isinstance(intent, OrderIntent):
            return cls("new", cid, inst, intent.side, intent.order_type, intent.qty,
                       intent.price, intent.tif, intent.reduce_only, strategy, observed_ns)
        if isinstance(intent, ReplaceIntent):
            return cls("replace", cid, inst, None, None, intent.qty, intent.price, None,
                       intent.reduce_only, strategy, observed_ns)
        return cls("cancel", cid, inst, None, None, None, None, None, False, strategy,
                   observed_ns)


def sent_record(intent: Intent, strategy: str,
                sent_ns: int) -> OrderSent | CancelSent | ReplaceSent:
    """The record to journal before `intent` goes on the wire."""
    if isinstance(intent, OrderIntent):
        return OrderSent.from_intent(intent, strategy, sent_ns)
    if isinstance(intent, ReplaceIntent):
        return ReplaceSent(intent.client_order_id, intent.instrument, intent.qty, intent.price,
                           intent.reduce_only, strategy, sent_ns)
    if isinstance(intent, CancelIntent):
        return CancelSent(intent.client_order_id, intent.instrument, strategy, sent_ns)
    raise TypeError(f"not an intent: {type(intent).__name__}")


