"""The strict structuring behind `supervision.config.load`: TOML values into attrs classes, every
problem collected with its path.

cattrs does the dispatch (type -> hook); the hooks are ours, because what we want from them is
the exact message and the path of every problem, not the first exception:

- no coercion: a string is not a number, a number is not a string, 1.5 is not an integer;
- unknown keys are errors, with the closest known key as a hint;
- money and prices are `Decimal`, from a TOML string or integer. A TOML float is refused, since
  the binary float nearest 0.1 is not 0.1; a float typed on the command line (`ExactFloat`)
  keeps its text and is exact, so it is accepted;
- each field's converter and validator run on their own, so two bad values in one table are
  two problems, and the constructor then runs the cross-field checks;
- a problem reads in the words of `supervision.config.fields` even when the validator is one of
  attrs' own (`in_`, `ge`, `min_len`, used by classes embedded from other layers): `plain_message`
  turns their tuple, `Attribute(...)` repr and all, into `must be ..., got ...`;
- a secret reference resolves into a `Secret` through the environment the caller passes in.
"""

from __future__ import annotations

import difflib
import enum
import functools
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
import cattrs

from actors.strategies.registry import (
    NODE_SET_PARAMS,
    StrategyEntry,
    UnknownStrategy,
)
from protocols.errors import TroupeError
from supervision.config.fields import NONE_WORD, show
from supervision.config.secrets import Secret, SecretError, resolve_secret
from supervision.config.trading import StrategyConfig

Where = tuple[str | int, ...]


class Problems(TroupeError):
    """(path, message) pairs raised by the hooks and prefixed on the way up."""

    def __init__(self, items: list[tuple[Where, str]]) -> None:
        super().__init__(items)
        self.items = items

    @classmethod
    def one(cls, message: str) -> Problems:
        return cls([((), message)])


class FloatText(float):
    """A TOML float that remembers how it was written, for the "use a string" hint."""

    text: str

    def __new__(cls, text: str) -> FloatText:
        value = super().__new__(cls, text)
        value.text = text
        return value


class ExactFloat(FloatText):
    """A float typed on the command line: its text is exact, so it may be money."""


def dotted(where: Where) -> str:
    return ".".join(str(part) for part in where) or "(top level)"


def describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {getattr(value, 'text', show(value))}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"the {type(value).__name__} {value}"


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def init_fields(cls: type) -> dict[str, attrs.Attribute[Any]]:
    return {(f.alias or f.name): f for f in attrs.fields(cls) if f.init}


def unknown_key(key: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    return f"unknown key (allowed: {', '.join(known)})"


def union_arms(typ: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(typ) in (typing.Union, types.UnionType):
        return typing.get_args(typ)
    return None


def is_sequence(typ: Any) -> bool:
    return typing.get_origin(typ) in (tuple, list)


def _missing(typ: Any) -> str:
    if isinstance(typ, type) and issubclass(typ, enum.Enum):
        choices = ", ".join(repr(member.value) for member in typ)
        return f"required key missing (one of {choices})"
    return "required key missing"


# attrs' own validators (`in_`, `ge`..., `min_len`, `instance_of`) raise in their words: the
# field's name quoted, and for `in_` and `instance_of` a tuple whose repr holds the whole
# `Attribute(...)`. Classes the config embeds from other layers (the simulated venue's
# `MarketModel`) use them, so their messages are put in the words of `fields` here, once.
_ATTRS_BOUND = re.compile(r"'\w+' must be (?P<op>[<>]=?) (?P<bound>[^:]+): .*", re.DOTALL)
_ATTRS_LENGTH = re.compile(r"Length of '\w+' must be (?P<op>[<>]=) (?P<count>\d+): .*", re.DOTALL)


def plain_message(exc: Exception, name: str = "", value: Any = None) -> str:
    """`exc` as the part of a problem line after `path: `, without the field's name."""
    args = exc.args
    if len(args) == 4 and isinstance(args[1], attrs.Attribute):
        if isinstance(exc, TypeError):  # instance_of: (message, attribute, type, value)
            wanted = getattr(args[2], "__name__", str(args[2]))
            return f"must be a {wanted}, got {show(args[3])}"
        listed = ", ".join(show(option) for option in args[2])  # in_: (..., options, value)
        return f"must be one of {listed}, got {show(args[3])}"
    message = str(args[0]) if args and isinstance(args[0], str) else str(exc)
    if bound := _ATTRS_BOUND.fullmatch(message):
        return f"must be {bound['op']} {_number_text(bound['bound'])}, got {show(value)}"
    if length := _ATTRS_LENGTH.fullmatch(message):
        count = int(length["count"])
        extent = "at least" if length["op"] == ">=" else "at most"
        items = "item" if count == 1 else "items"
        return f"must have {extent} {count} {items}, got {_length(value)}"
    return message.removeprefix(f"{name} ") if name else message


def _number_text(text: str) -> str:
    try:
        return show(float(text))
    except ValueError:
        return text


def _length(value: Any) -> str:
    try:
        return str(len(value))
    except TypeError:
        return show(value)


def check_field(field: attrs.Attribute[Any], value: Any) -> str | None:
    """Run one field's converter and validator on their own, so every bad field is reported.
    Validators that need the whole instance (cross-field) fail here with something other than
    ValueError/TypeError and are left to the constructor."""
    try:
        if callable(field.converter) and not isinstance(field.converter, attrs.Converter):
            value = field.converter(value)
        if field.validator is not None:
            field.validator(None, field, value)
    except (ValueError, TypeError) as exc:
        return plain_message(exc, field.name, value)
    except Exception:
        return None
    return None


def _structure_attrs(conv: cattrs.Converter, value: Any, cls: type) -> Any:
    if not isinstance(value, dict):
        raise Problems.one(f"expected a table, got {describe(value)}")
    fields = init_fields(cls)
    problems: list[tuple[Where, str]] = []
    for key in value:
        if key not in fields:
            problems.append(((key,), unknown_key(key, list(fields))))
    kwargs: dict[str, Any] = {}
    for key, field in fields.items():
        typ = type_hints(cls)[field.name]
        if key not in value:
            if field.default is attrs.NOTHING:
                if attrs.has(typ):  # a missing section: report its own missing keys
                    value = {**value, key: {}}
                else:
                    problems.append(((key,), _missing(typ)))
                    continue
            else:
                continue
        raw = value[key]
        try:
            if raw == field.metadata.get(NONE_WORD, object()):
                item = None
            else:
                item = conv.structure(raw, typ)
        except Problems as exc:
            problems.extend(((key, *where), message) for where, message in exc.items)
            continue
        bad = check_field(field, item)
        if bad is not None:
            problems.append(((key,), bad))
        kwargs[key] = item
    if problems:
        raise Problems(problems)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise Problems.one(plain_message(exc)) from None


def _structure_strategy(conv: cattrs.Converter, value: Any, cls: type) -> StrategyConfig:
    """A strategy, with its params typed against its kind's config class (found through
    `actors.strategies.registry`): an unknown kind or a failing import, unknown or node-set
    names, wrong types and missing required params."""
    if not isinstance(value, dict):
        raise Problems.one(f"expected a table, got {describe(value)}")
    problems: list[tuple[Where, str]] = []
    strategy: StrategyConfig | None = None
    try:
        strategy = _structure_attrs(conv, value, cls)
    except Problems as exc:
        problems.extend(exc.items)
    entry: StrategyEntry | None = None
    if strategy is not None:
        try:
            entry = strategy.entry
        except UnknownStrategy as exc:
            problems.append((("kind",), str(exc)))
    params = value.get("params", {})
    typed: dict[str, Any] = {}
    if entry is not None and isinstance(params, dict):
        typed, found = _strategy_params(conv, entry, params)
        problems.extend(found)
    if problems or strategy is None:
        raise Problems(problems)
    return attrs.evolve(strategy, params=typed)


def _strategy_params(
    conv: cattrs.Converter, entry: StrategyEntry, params: dict[str, Any]
) -> tuple[dict[str, Any], list[tuple[Where, str]]]:
    cls, kind = entry.config_class, entry.kind
    fields = {f.name: f for f in attrs.fields(cls)}
    settable = list(entry.params)
    typed: dict[str, Any] = {}
    problems: list[tuple[Where, str]] = []
    for name, value in params.items():
        where: Where = ("params", name)
        if name in NODE_SET_PARAMS:
            problems.append((where, "set by the node, not by the config"))
        elif name not in fields:
            hint = unknown_key(name, settable).removeprefix("unknown key")
            problems.append((where, f"unknown parameter of a {kind}{hint}"))
        else:
            try:
                typed[name] = conv.structure(value, type_hints(cls)[name])
            except Problems as exc:
                problems.extend(((*where, *sub), message) for sub, message in exc.items)
                continue
            bad = check_field(fields[name], typed[name])
            if bad is not None:
                problems.append((where, bad))
    for name, field in fields.items():
        if field.default is attrs.NOTHING and name not in NODE_SET_PARAMS and name not in params:
            problems.append((("params", name), f"required parameter of a {kind} missing"))
    return typed, problems


def _structure_str(value: Any, typ: Any) -> Any:
    if typ is not str:  # a StrEnum: cattrs dispatches str subclasses here
        return _structure_enum(value, typ)
    if not isinstance(value, str):
        raise Problems.one(f"expected a string, got {describe(value)}")
    return value


def _structure_bool(value: Any, _typ: Any) -> bool:
    if not isinstance(value, bool):
        raise Problems.one(f"expected true or false, got {describe(value)}")
    return value


def _structure_int(value: Any, typ: Any) -> Any:
    if typ is not int:  # an IntEnum
        return _structure_enum(value, typ)
    if type(value) is not int:
        raise Problems.one(f"expected an integer, got {describe(value)}")
    return value


def _structure_float(value: Any, _typ: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Problems.one(f"expected a number, got {describe(value)}")
    if not math.isfinite(value):
        raise Problems.one(f"must be a finite number, got {show(value)}")
    return float(value)


# Money, prices and sizes far outside these are typos (an exponent gone wrong), and Decimal
# arithmetic on them overflows the context or silently rounds to zero.
SANE_DECIMAL_MAX = Decimal("1e30")
SANE_DECIMAL_MIN = Decimal("1e-30")


def _structure_decimal(value: Any, _typ: Any) -> Decimal:
    if isinstance(value, ExactFloat):
        value = value.text
    elif isinstance(value, float):
        text = getattr(value, "text", repr(value))
        raise Problems.one(
            f"got the float {text}, which binary floating point cannot hold exactly: "
            f'use a string, e.g. "{text}"'
        )
    if type(value) is int:
        return Decimal(value)
    if not isinstance(value, str):
        raise Problems.one(
            f'expected a decimal number as a string, e.g. "0.01", got {describe(value)}'
        )
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise Problems.one(f'expected a decimal number, e.g. "0.01", got {value!r}') from None
    if not number.is_finite():
        raise Problems.one(f"must be a finite number, got {value!r}")
    if number and not SANE_DECIMAL_MIN <= number.copy_abs() <= SANE_DECIMAL_MAX:
        raise Problems.one(
            f"must be a number of sane size (at most {SANE_DECIMAL_MAX:e} and at least "
            f"{SANE_DECIMAL_MIN:e} away from zero), got {value!r}"
        )
    return number


def _structure_enum(value: Any, typ: Any) -> Any:
    allowed = [member.value for member in typ]
    if value in allowed and type(value) is type(allowed[0]):
        return typ(value)
    listed = ", ".join(repr(a) for a in allowed)
    raise Problems.one(f"must be one of {listed}, got {show(value)}")


def _structure_sequence(conv: cattrs.Converter, value: Any, typ: Any) -> Any:
    if not isinstance(value, list):
        raise Problems.one(f"expected an array, got {describe(value)}")
    item_type = typing.get_args(typ)[0] if typing.get_args(typ) else Any
    items: list[Any] = []
    problems: list[tuple[Where, str]] = []
    for index, item in enumerate(value):
        try:
            items.append(conv.structure(item, item_type))
        except Problems as exc:
            problems.extend(((index, *where), message) for where, message in exc.items)
    if problems:
        raise Problems(problems)
    return tuple(items) if typing.get_origin(typ) is tuple else items


def _structure_mapping(conv: cattrs.Converter, value: Any, typ: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Problems.one(f"expected a table, got {describe(value)}")
    value_type = typing.get_args(typ)[1] if typing.get_args(typ) else Any
    items: dict[str, Any] = {}
    problems: list[tuple[Where, str]] = []
    for key, item in value.items():
        try:
            items[key] = conv.structure(item, value_type)
        except Problems as exc:
            problems.extend(((key, *where), message) for where, message in exc.items)
    if problems:
        raise Problems(problems)
    return items


def _structure_union(conv: cattrs.Converter, value: Any, typ: Any) -> Any:
    arms = [arm for arm in typing.get_args(typ) if arm is not type(None)]
    if value is None:
        return None
    first: Problems | None = None
    for arm in arms:
        try:
            return conv.structure(value, arm)
        except Problems as exc:
            first = first or exc
    assert first is not None
    raise first


def strict_converter(environ: Mapping[str, str]) -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True)

    def secret(value: Any, _typ: Any) -> Secret | None:
        try:
            return resolve_secret(value, environ)
        except SecretError as exc:
            raise Problems.one(str(exc)) from None

    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(Decimal, _structure_decimal)
    conv.register_structure_hook(Secret, secret)
    conv.register_structure_hook_func(lambda t: t is Any, lambda v, _t: v)
    conv.register_structure_hook(enum.Enum, _structure_enum)
    conv.register_structure_hook_func(is_sequence, functools.partial(_structure_sequence, conv))
    conv.register_structure_hook_func(
        lambda t: typing.get_origin(t) is dict, functools.partial(_structure_mapping, conv)
    )
    conv.register_structure_hook_func(
        lambda t: union_arms(t) is not None, functools.partial(_structure_union, conv)
    )
    conv.register_structure_hook_func(attrs.has, functools.partial(_structure_attrs, conv))
    conv.register_structure_hook(StrategyConfig, functools.partial(_structure_strategy, conv))
    return conv
