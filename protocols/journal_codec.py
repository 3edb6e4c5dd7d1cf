"""How a journal line is written and read back: the codec between records and JSON Lines.

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

**The fast way, the same bytes.** The writer encodes every record the node journals (~1,400 a
second in the tick-to-trade benchmark, 84 % of them `NoTrade`), on a thread that holds the
event loop's GIL while it does. So a record class whose field values are all plain (str, int,
bool, None, an enum of str or int, Decimal, Fraction) is encoded by a plan made once per class:
its fields read in one C call, Decimals and enums converted, the dict dumped by orjson (a line
in ~1.5-3 us instead of ~4-7 through cattrs and `json.dumps`). The plan gives up, and the
record takes the generic way above, whenever orjson's bytes could differ from `json.dumps`'s:
a float, a nested record or collection, a non-ASCII or DEL character (`json.dumps` escapes
them), an int beyond 64 bits, a lone surrogate. So a line is byte for byte what the generic way
writes (tests compare both on every record class), and the reader sees no difference.

The way back (`structure_record`, through `structure_converter`) reads a line's `data` into the
typed record its `kind` names, Decimals from their strings, for the kinds in `RECORD_TYPES`: the
ones recovery and the report read. This module is data and codec only: file handling
lives in `supervision.node.journal`.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import operator
import os
from collections.abc import Callable, Mapping, Set
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple

import attrs
import cattrs
import orjson

from protocols.decisions import NoTrade, RiskRefused, Scaled, TradingStateChanged
from protocols.journal import (
    ActorRestarted,
    CancelSent,
    ControlAction,
    IdsReserved,
    JournalEntry,
    JournalError,
    NodeStarted,
    NodeStopped,
    ObservedIntent,
    OrderSent,
    ReplaceSent,
    TornLine,
)
from protocols.orders import (
    Ack,
    CancelAck,
    CancelReject,
    Expired,
    Fill,
    ReconcileResult,
    Reject,
)
from protocols.portfolio import MidSampled, OwnFill, PositionAdopted, TradeAtFill
from protocols.risk import InstrumentHalted, InstrumentResumed, RiskPersistentState

LINE_KEYS = ("seq", "ts_ns", "mono_ns", "kind", "source", "data")
REDACTED = "***"


class Encoded(NamedTuple):
    """A record ready to be written but for its sequence number and times, which the writer
    stamps when it queues the line (a line retried after a failed write keeps the sequence
    without a gap). A tuple: made for every record, and an attrs frozen class costs ~0.3 us
    to build."""

    kind: str
    source: str
    data_json: bytes  # ASCII: the `data` object's JSON
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
        self._plans: dict[type, _FieldsPlan | None] = {}
        self._converters: dict[type, Callable[[Any], Any] | None] = {}
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
        cls = type(message)
        plan = self._plans.get(cls, _UNSEEN)
        if plan is _UNSEEN:
            plan = self._plans[cls] = _FieldsPlan.of(cls, self._plain_value)
        if plan is not None:
            encoded = plan.encode(message)
            if encoded is not None:
                return encoded
        return self.encode_generic(message)

    def encode_generic(self, message: Any) -> Encoded:
        """The generic way (cattrs, then `json.dumps`): every record the fast way declines."""
        self._odd = 0
        kind, source = record_kind(message), record_source(message)
        try:
            data = self._conv.unstructure(message.data if isinstance(message, JournalEntry)
                                          else message)
            text = self._dumps(data)
        except Exception:  # the codec must never stop the journal; the record still says what
            self._odd += 1
            text = json.dumps({"unserializable": repr(type(message))})
        return Encoded(kind, source, text.encode(), self._odd)

    def _plain_value(self, cls: type) -> Callable[[Any], Any] | None:
        """How the fast way writes a value of type `cls`, or None if it must not."""
        convert = self._converters.get(cls, _UNSEEN)
        if convert is _UNSEEN:
            convert = self._converters[cls] = _plain_converter(cls)
        return convert

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
    return b'{"seq":%d,"ts_ns":%d,"mono_ns":%d,"kind":%b,"source":%b,"data":%b}\n' % (
        seq, ts_ns, mono_ns, _json_string(record.kind), _json_string(record.source),
        record.data_json)


_JSON_STRINGS: dict[str, bytes] = {}  # kinds and sources: a few dozen in a node


def _json_string(text: str) -> bytes:
    out = _JSON_STRINGS.get(text)
    if out is None:
        out = json.dumps(text).encode()
        if len(_JSON_STRINGS) >= 4096:  # free-form kinds must not grow it for ever
            _JSON_STRINGS.clear()
        _JSON_STRINGS[text] = out
    return out


# --------------------------------------------------------------------------------------------
# The fast way


_UNSEEN: Any = object()
_PLAIN = frozenset({str, int, bool, type(None)})


def _plain_converter(cls: type) -> Callable[[Any], Any] | None:
    """Decimal and Fraction as their strings, an enum of str or int values as its value; any
    other type: None (the generic way decides)."""
    if cls is Decimal or cls is Fraction:
        return str
    if issubclass(cls, enum.Enum) and all(type(m.value) in (str, int) for m in cls):
        return operator.attrgetter("value")
    return None


class _FieldsPlan:
    """One record class's fast encoding (see the module's docstring)."""

    __slots__ = ("fields_of", "kind", "names", "plain_value", "sources")

    def __init__(self, kind: str, names: tuple[str, ...], sources: tuple[int, ...],
                 plain_value: Callable[[type], Callable[[Any], Any] | None]) -> None:
        self.kind, self.names, self.sources = kind, names, sources
        getter = operator.attrgetter(*names)
        self.fields_of: Callable[[Any], tuple[Any, ...]] = getter if len(names) > 1 else (
            lambda obj: (getter(obj),))
        self.plain_value = plain_value

    @classmethod
    def of(cls, record_type: type,
           plain_value: Callable[[type], Callable[[Any], Any] | None]) -> _FieldsPlan | None:
        """The plan for `record_type`, or None where the generic way must write it: anything
        not a plain attrs or dataclass record, or one the generic converter treats apart."""
        if attrs.has(record_type):
            names = tuple(a.name for a in attrs.fields(record_type))
        elif dataclasses.is_dataclass(record_type):
            names = tuple(f.name for f in dataclasses.fields(record_type))
        else:
            return None
        if (not names or _is_secret(record_type) or issubclass(record_type, JournalEntry)
                or issubclass(record_type, BaseException | os.PathLike | Mapping | Set
                              | enum.Enum)):
            return None
        sources = []
        for name in ("source", "strategy"):  # as `record_source` looks for them
            if name in names:
                sources.append(names.index(name))
            elif hasattr(record_type, name):  # a property or class attribute
                return None
        return cls(record_type.__name__, names, tuple(sources), plain_value)

    def encode(self, message: Any) -> Encoded | None:
        values = self.fields_of(message)
        plain = values
        if not _PLAIN.issuperset(map(type, values)):
            converted = []
            for value in values:
                if type(value) in _PLAIN:
                    converted.append(value)
                    continue
                convert = self.plain_value(type(value))
                if convert is None:
                    return None
                converted.append(convert(value))
            plain = tuple(converted)
        try:
            data = orjson.dumps(dict(zip(self.names, plain, strict=True)))
        except orjson.JSONEncodeError:  # an int beyond 64 bits, a lone surrogate
            return None
        if not data.isascii() or b"\x7f" in data:  # json.dumps escapes these, orjson does not
            return None
        source = ""
        for i in self.sources:
            if isinstance(values[i], str):
                source = values[i]
                break
        return Encoded(self.kind, source, data, 0)


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


RECORD_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    RiskPersistentState, ControlAction, NodeStarted, NodeStopped, ActorRestarted, OrderSent,
    CancelSent, ReplaceSent, ObservedIntent, TornLine, IdsReserved, Ack, Reject, Fill, CancelAck,
    CancelReject, Expired, ReconcileResult, OwnFill, NoTrade, RiskRefused, Scaled,
    TradingStateChanged, InstrumentHalted, InstrumentResumed, MidSampled, TradeAtFill,
    PositionAdopted,
)}
"""The kinds `structure_record` turns back into their class."""

_CONVERTER = structure_converter()


def structure_record(kind: str, data: Mapping[str, Any]) -> Any:
    """The typed record a journal line's `kind` and `data` were written from.

    Raises `JournalError` for a kind not in `RECORD_TYPES` or data that does not fit it."""
    cls = RECORD_TYPES.get(kind)
    if cls is None:
        raise JournalError(f"no record type named {kind!r}")
    try:
        return _CONVERTER.structure(data, cls)
    except Exception as exc:  # cattrs' grouped errors, attrs validators, bad decimals
        details = "; ".join(cattrs.transform_error(exc)) if isinstance(
            exc, cattrs.BaseValidationError) else str(exc)
        raise JournalError(f"{kind}: {details}") from None
