"""What a journal line is: the records the node writes, and the codec that turns them into JSON.

The journal is append-only JSON Lines. Every line is one object with the same six keys, in this
order, so a human with `jq` and a program replaying it at start-up read the same thing:

    {"seq": 17, "ts_ns": <epoch ns>, "mono_ns": <monotonic ns>, "kind": "OrderSent",
     "source": "mm1", "data": {...}}

- `seq` increases by one per record across the whole file, also across restarts of the node
  (the writer continues from the last record it finds);
- `kind` is the class name of the message that was journaled (or a `JournalEntry`'s own kind);
- `source` is who it came from: the record's `source` field, else its `strategy`, else "";
- `data` is the message unstructured with cattrs: Decimals as strings (exact), enums as their
  value, tuples as lists, refs as their name. A field that is not data (a lock, an exception)
  becomes the repr of its type and is counted, so an odd field never stops the journal.
  Anything whose class is named `Secret` is written as "***".

Any attrs instance can be journaled; the typed records below are the ones the node writes itself
and recovery reads back (`actors.recovery.structure_record`). This module is data and codec only:
file handling lives in `supervision.node.journal`.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
from collections.abc import Mapping, Set
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
import cattrs

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

LINE_KEYS = ("seq", "ts_ns", "mono_ns", "kind", "source", "data")
REDACTED = "***"


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


# --------------------------------------------------------------------------------------------
# Encoding


@attrs.frozen(slots=True)
class Encoded:
    """A record ready to be written but for its sequence number and times, which the writer
    stamps when the line actually reaches the file (a line retried after a failed write keeps
    the sequence without a gap)."""

    kind: str
    source: str
    data_json: str
    unserializable: int  # odd fields replaced by the repr of their type


def record_kind(message: Any) -> str:
    return message.kind if isinstance(message, JournalEntry) else type(message).__name__


def record_source(message: Any) -> str:
    for name in ("source", "strategy"):
        try:
            value = getattr(message, name, None)
        except Exception:  # a property that raises is not a source
            value = None
        if isinstance(value, str):
            return value
    return ""


def _is_secret(cls: Any) -> bool:
    return getattr(cls, "__name__", "") == "Secret"


def _is_ref(cls: Any) -> bool:
    """An actor ref (anything with a `tell`, not data): journaled as its name."""
    if not isinstance(cls, type) or attrs.has(cls) or issubclass(cls, BaseException):
        return False
    return callable(getattr(cls, "tell", None)) or "tell" in getattr(cls, "__slots__", ())


class JournalCodec:
    """Unstructures any message into a JSON line, never raising. One per writer (not shared
    between threads: it counts the odd fields of the record being encoded)."""

    def __init__(self) -> None:
        self._odd = 0
        conv = self._conv = cattrs.Converter()
        un = conv.unstructure

        def attrs_hook(cls: type) -> Any:
            # By each value's runtime type, not the annotation: a field typed `Any` or `Ref`
            # must not make cattrs guess, and a subclass must not lose fields.
            names = tuple(a.name for a in attrs.fields(cls))
            return lambda obj: {n: un(getattr(obj, n)) for n in names}

        def dataclass_hook(cls: type) -> Any:
            names = tuple(f.name for f in dataclasses.fields(cls))
            return lambda obj: {n: un(getattr(obj, n)) for n in names}

        conv.register_unstructure_hook_factory(attrs.has, attrs_hook)
        conv.register_unstructure_hook_factory(dataclasses.is_dataclass, dataclass_hook)
        conv.register_unstructure_hook(Decimal, str)
        conv.register_unstructure_hook(Fraction, str)
        conv.register_unstructure_hook_func(lambda t: isinstance(t, type) and issubclass(
            t, os.PathLike), os.fspath)
        conv.register_unstructure_hook_func(lambda t: isinstance(t, type) and issubclass(
            t, enum.Enum), lambda e: un(e.value))
        conv.register_unstructure_hook_func(lambda t: isinstance(t, type) and issubclass(
            t, Mapping), self._mapping)
        conv.register_unstructure_hook_func(lambda t: isinstance(t, type) and issubclass(
            t, Set), self._set)
        conv.register_unstructure_hook_func(lambda t: isinstance(t, type) and issubclass(
            t, BaseException), self._odd_value)
        conv.register_unstructure_hook_func(_is_ref, self._ref)
        conv.register_unstructure_hook_func(_is_secret, lambda _secret: REDACTED)

    def _mapping(self, obj: Mapping[Any, Any]) -> dict[Any, Any]:
        un = self._conv.unstructure
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            k = un(key)
            if not isinstance(k, str | int | float | bool) and k is not None:
                k = REDACTED if _is_secret(type(key)) else str(key)
            out[k] = un(value)
        return out

    def _set(self, obj: Set[Any]) -> list[Any]:
        items = [self._conv.unstructure(v) for v in obj]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)

    def _ref(self, ref: Any) -> str:
        name = getattr(ref, "name", None)
        return name if isinstance(name, str) else self._odd_value(ref)

    def _odd_value(self, obj: Any) -> str:
        """What an object that is not data becomes: its type's repr, counted."""
        if _is_secret(type(obj)):
            return REDACTED
        self._odd += 1
        return repr(type(obj))

    def encode(self, message: Any) -> Encoded:
        self._odd = 0
        kind, source = record_kind(message), record_source(message)
        try:
            data = self._conv.unstructure(message.data if isinstance(message, JournalEntry)
                                          else message)
            text = self._dumps(data)
        except Exception:  # the codec must never stop the journal; the record still says what
            self._odd += 1
            text = json.dumps({"unserializable": repr(type(message))})
        return Encoded(kind, source, text, self._odd)

    def _dumps(self, data: Any) -> str:
        odd = self._odd
        try:
            return json.dumps(data, separators=(",", ":"), default=self._odd_value,
                              allow_nan=False)
        except ValueError:  # NaN or infinity: not JSON; write them as strings
            self._odd = odd
            return json.dumps(_finite(data), separators=(",", ":"), default=self._odd_value)


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return str(data)
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def format_line(seq: int, ts_ns: int, mono_ns: int, record: Encoded) -> bytes:
    """The bytes of one journal line, newline included."""
    return (f'{{"seq":{seq},"ts_ns":{ts_ns},"mono_ns":{mono_ns},"kind":{json.dumps(record.kind)},'
            f'"source":{json.dumps(record.source)},"data":{record.data_json}}}\n').encode()


_LINE_TYPES: tuple[tuple[str, type], ...] = (
    ("seq", int), ("ts_ns", int), ("mono_ns", int), ("kind", str), ("source", str), ("data", dict),
)


def decode_line(raw: bytes) -> dict[str, Any]:
    """One line (without its newline) as a dict; `JournalError` saying what is wrong otherwise."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise JournalError(f"not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise JournalError(f"expected a JSON object, got {type(obj).__name__}")
    for key, kind in _LINE_TYPES:
        value = obj.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise JournalError(f"field {key!r} should be {kind.__name__}, got {value!r:.40}")
    return obj


# --------------------------------------------------------------------------------------------
# Structuring (the way back), for the kinds recovery needs


def structure_converter() -> cattrs.Converter:
    """A cattrs converter that reads what `JournalCodec` wrote back into typed records."""
    conv = cattrs.Converter()
    conv.register_structure_hook(Decimal, lambda v, _t: _decimal(v))
    conv.register_structure_hook(Decimal | int, lambda v, _t: v if type(v) is int else _decimal(v))
    return conv


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected a decimal string, got {value!r:.40}")
    try:
        return Decimal(value)
    except ArithmeticError:  # decimal.InvalidOperation
        raise ValueError(f"not a decimal: {value!r:.40}") from None
