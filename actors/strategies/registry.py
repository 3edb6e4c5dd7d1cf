"""Strategies by kind: what a config's `kind = "..."` names, and how the node builds it.

Adding a strategy to Troupe is one module (an engine and its config class, see
`actors.strategies.engine`), one line in `BUILT_IN` below and its tests. A strategy that lives
outside the repository needs no line at all: the config names it by import path, as
NautilusTrader's `ImportableStrategyConfig` does,

    [[strategies]]
    id = "mine"
    kind = "my_package.my_module:MyEngine"
    instrument = "BTCUSDT"

What the path names, `module:attribute`, is one of
- an engine class (it has a `config_class` and is not a `Behaviour`): the node runs it in the
  shared `actors.strategies.shell.StrategyShell`;
- a `Behaviour` class with a `config_class`, built as `cls(config, risk_gate, journal)`;
- a ready `StrategyEntry`, for anything else.

The config class is an attrs class. The node sets `strategy` (the instance id) and `spec` (the
`InstrumentSpec`), and `id_high_water` (from the journal) and `ids` (the strategy's one
`ClientOrderIds`, shared by all its incarnations) when the class has those fields; every
other field is a parameter the config may set under `[strategies.params]`, checked by name, type
and validator with a `path: problem` line each. An unknown kind, a failing import or a target
that is none of the above raises `UnknownStrategy`, whose message is one line.
"""

from __future__ import annotations

import functools
import importlib
import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from actors.behaviour import Behaviour, Ref
from actors.strategies.engine import Engine
from actors.strategies.shell import StrategyShell
from protocols.errors import TroupeError
from protocols.instruments import InstrumentSpec

__all__ = ["BUILT_IN", "NODE_SET_PARAMS", "StrategyEntry", "UnknownStrategy", "strategy_entry"]

# kind -> "module:attribute". Resolved on first use, exactly like an outside strategy.
BUILT_IN: dict[str, str] = {
    "market_maker": "actors.strategies.market_maker:QuoteEngine",
    "taker": "actors.strategies.taker:TakerEngine",
}

# Config fields the node fills in itself: a config may not set them.
NODE_SET_PARAMS = frozenset({"strategy", "spec", "id_high_water", "ids"})
_REQUIRED = ("strategy", "spec")

Build = Callable[[Any, Ref, "Ref | None"], Behaviour]


class UnknownStrategy(TroupeError, ValueError):
    """A strategy kind that names nothing buildable: not built in, not importable, or not an
    engine, behaviour or `StrategyEntry`. The message is one line, for a config error."""


@attrs.frozen
class StrategyEntry:
    """One kind of strategy: its config class and how to build its behaviour from a config,
    the risk gate's ref and the journal's (or None)."""

    kind: str
    config_class: type
    build: Build

    def __attrs_post_init__(self) -> None:
        if not attrs.has(self.config_class):
            raise UnknownStrategy(f"{self.kind}: config_class {self.config_class.__name__} "
                                  "is not an attrs class")
        names = {field.name for field in attrs.fields(self.config_class)}
        missing = [name for name in _REQUIRED if name not in names]
        if missing:
            raise UnknownStrategy(f"{self.kind}: config_class {self.config_class.__name__} "
                                  f"has no field {' or '.join(missing)} for the node to set")

    @property
    def params(self) -> dict[str, attrs.Attribute[Any]]:
        """The fields a config may set, by name."""
        return {f.name: f for f in attrs.fields(self.config_class)
                if f.init and f.name not in NODE_SET_PARAMS}

    def make_config(self, *, strategy: str, spec: InstrumentSpec, params: Mapping[str, Any],
                    id_high_water: int = 0, ids: Any = None) -> Any:
        """The config of one instance; raises what its class raises for bad values."""
        kwargs = dict(params, strategy=strategy, spec=spec)
        fields = attrs.fields_dict(self.config_class)
        if "id_high_water" in fields:
            kwargs["id_high_water"] = id_high_water
        if "ids" in fields and ids is not None:
            kwargs["ids"] = ids
        return self.config_class(**kwargs)


def strategy_entry(kind: str) -> StrategyEntry:
    """The entry `kind` names: a `BUILT_IN` name or "package.module:attribute"."""
    return _resolve(kind)


@functools.cache
def _resolve(kind: str) -> StrategyEntry:
    target = BUILT_IN.get(kind, kind)
    if ":" not in target:
        known = ", ".join(repr(k) for k in BUILT_IN)
        raise UnknownStrategy(f"unknown strategy kind {kind!r} (built in: {known}; "
                              'or an import path "package.module:Class")')
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an outside module may fail in any way: one line, no traceback
        raise UnknownStrategy(f"cannot import {module_name!r} for strategy kind {kind!r}: "
                              f"{type(exc).__name__}: {exc}") from None
    try:
        obj = getattr(module, attribute)
    except AttributeError:
        raise UnknownStrategy(f"module {module_name!r} has no {attribute!r} "
                              f"(strategy kind {kind!r})") from None
    return entry_for(obj, kind)


def entry_for(obj: Any, kind: str) -> StrategyEntry:
    """The entry for what a kind's import path names (see the module docstring)."""
    if isinstance(obj, StrategyEntry):
        return obj
    config_class = getattr(obj, "config_class", None)
    if not isinstance(obj, type) or not isinstance(config_class, type):
        raise UnknownStrategy(f"strategy kind {kind!r} names {obj!r}, which is not an engine "
                              "or behaviour class with a config_class, nor a StrategyEntry")
    if issubclass(obj, Behaviour):
        return StrategyEntry(kind, config_class, obj)
    engine_class = typing.cast(Callable[[Any], Engine], obj)

    def build(config: Any, risk_gate: Ref, journal: Ref | None) -> Behaviour:
        return StrategyShell(engine_class(config), risk_gate, journal)

    return StrategyEntry(kind, config_class, build)
