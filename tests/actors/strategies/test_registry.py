"""The strategy registry: built-in kinds and import paths resolve to a config class and a
builder; everything else is one line saying what is wrong."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import attrs
import pytest

from actors.behaviour import Behaviour
from actors.strategies.market_maker import MarketMakerConfig, QuoteEngine
from actors.strategies.registry import (
    BUILT_IN,
    StrategyEntry,
    UnknownStrategy,
    entry_for,
    strategy_entry,
)
from actors.strategies.shell import StrategyShell
from actors.strategies.taker import TakerConfig, TakerEngine
from actors.strategies.template import BlankConfig, BlankEngine
from actors.testing import FakeContext
from protocols.instruments import InstrumentSpec

SPEC = InstrumentSpec("BTCUSDT", "test", D("0.01"), D("0.001"), 0, 0, D("0.0001"), D("0.0005"))


@pytest.mark.parametrize(("kind", "config_class", "engine_class"), [
    ("market_maker", MarketMakerConfig, QuoteEngine),
    ("taker", TakerConfig, TakerEngine),
    ("actors.strategies.template:BlankEngine", BlankConfig, BlankEngine),
])
def test_a_kind_builds_its_engine_in_the_shared_shell(kind: str, config_class: type,
                                                       engine_class: type) -> None:
    entry = strategy_entry(kind)
    assert entry.config_class is config_class
    params = {"market_maker": {"quote_lots": 1, "max_inventory": 5, "gamma": 0.1, "k": 1.5},
              "taker": {"entry_lots": 1, "min_edge_bps": D(2)}}.get(kind, {})
    config = entry.make_config(strategy="s1", spec=SPEC, params=params, id_high_water=9)
    assert (config.strategy, config.spec, config.id_high_water) == ("s1", SPEC, 9)
    ctx = FakeContext("s1")
    behaviour = entry.build(config, ctx.ref("gate"), None)
    assert isinstance(behaviour, StrategyShell) and isinstance(behaviour.engine, engine_class)


def test_every_built_in_kind_resolves() -> None:
    assert set(BUILT_IN) == {"market_maker", "taker"}
    for kind in BUILT_IN:
        assert strategy_entry(kind).kind == kind


@pytest.mark.parametrize(("kind", "message"), [
    ("market_makr", "unknown strategy kind 'market_makr' (built in: 'market_maker', 'taker'; "
                    'or an import path "package.module:Class")'),
    ("no_such_package.engines:Mine", "cannot import 'no_such_package.engines' for strategy kind "
     "'no_such_package.engines:Mine': ModuleNotFoundError: No module named 'no_such_package'"),
    ("actors.strategies.template:Nope", "module 'actors.strategies.template' has no 'Nope' "
                                        "(strategy kind 'actors.strategies.template:Nope')"),
    ("actors.strategies.template:BlankWhy", "strategy kind 'actors.strategies.template:BlankWhy'"
     " names <enum 'BlankWhy'>, which is not an engine or behaviour class with a config_class, "
     "nor a StrategyEntry"),
])
def test_a_kind_that_names_nothing_buildable_is_one_line(kind: str, message: str) -> None:
    with pytest.raises(UnknownStrategy) as caught:
        strategy_entry(kind)
    assert str(caught.value) == message
    assert "\n" not in message


def test_an_import_that_raises_is_one_line_too(tmp_path: Any, monkeypatch: Any) -> None:
    (tmp_path / "broken_strategy.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UnknownStrategy, match=r"^cannot import 'broken_strategy' for strategy "
                       r"kind 'broken_strategy:X': RuntimeError: boom at import$"):
        strategy_entry("broken_strategy:X")


@attrs.frozen
class NoSpec:
    strategy: str


@attrs.frozen
class WithSpec:
    strategy: str
    spec: InstrumentSpec


class Custom(Behaviour):
    config_class = WithSpec

    def __init__(self, config: WithSpec, risk_gate: Any, journal: Any) -> None:
        self.config, self.risk_gate, self.journal = config, risk_gate, journal


def test_a_behaviour_class_is_built_with_config_gate_and_journal() -> None:
    entry = entry_for(Custom, "custom")
    config = entry.make_config(strategy="c1", spec=SPEC, params={}, id_high_water=3)
    assert config == WithSpec("c1", SPEC)  # no id_high_water field: not passed
    built = entry.build(config, "gate", "journal")  # type: ignore[arg-type]
    assert isinstance(built, Custom) and (built.risk_gate, built.journal) == ("gate", "journal")


def test_a_ready_entry_is_taken_as_it_is() -> None:
    entry = StrategyEntry("mine", WithSpec, Custom)
    assert entry_for(entry, "x.y:ENTRY") is entry


def test_a_config_class_the_node_cannot_fill_is_refused() -> None:
    with pytest.raises(UnknownStrategy, match="config_class NoSpec has no field spec"):
        StrategyEntry("bad", NoSpec, Custom)
    with pytest.raises(UnknownStrategy, match="is not an attrs class"):
        StrategyEntry("bad", dict, Custom)
