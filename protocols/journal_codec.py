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
import os
from collections.abc import Mapping, Set
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
import cattrs

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
