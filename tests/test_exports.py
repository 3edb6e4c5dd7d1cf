"""The public tiers, as trio's `_tests/test_exports.py` keeps its own: every name a tier exports
resolves, each public name belongs to exactly one tier, and Troupe's own modules import the
implementation modules, never a facade (so the facades cannot create an import cycle)."""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIERS = ("actors.strategies", "actors.testing", "supervision.runtime", "supervision.testing")
FACADES = ("actors.strategies", "supervision.runtime")  # packages whose __init__ re-exports
TESTING = ("actors.testing", "supervision.testing")


@pytest.mark.parametrize("tier", TIERS)
def test_every_exported_name_resolves(tier: str) -> None:
    module = importlib.import_module(tier)
    exported = module.__all__
    assert len(exported) == len(set(exported)), f"{tier}.__all__ lists a name twice"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"{tier} exports names it does not have: {missing}"


def test_no_public_name_is_exported_by_two_tiers() -> None:
    tiers_of: dict[str, list[str]] = defaultdict(list)
    for tier in TIERS:
        for name in importlib.import_module(tier).__all__:
            tiers_of[name].append(tier)
    shared = {name: tiers for name, tiers in tiers_of.items() if len(tiers) > 1}
    assert not shared, f"exported by more than one tier: {shared}"


def test_an_author_needs_one_import_line() -> None:
    strategies = importlib.import_module("actors.strategies")
    needed = {"Behaviour", "Context", "Engine", "StrategyShell", "Decision", "carry_out",
              "OrderSlots", "Inventory", "book_fill", "Wake", "strategy_entry", "BookTop",
              "TradePrint", "BookStale", "MarketState", "OrderIntent", "CancelIntent",
              "ReplaceIntent", "Ack", "Fill", "RiskRefused", "Scaled", "Dropped", "OwnFill",
              "NoTrade", "InstrumentSpec", "Side", "PauseQuoting", "ClientOrderIds"}
    assert needed <= set(strategies.__all__)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = {_module_name(path): path for package in ("actors", "protocols", "supervision")
           for path in sorted((ROOT / package).rglob("*.py"))}


def test_the_scan_sees_the_sources() -> None:
    assert {"actors.strategies", "actors.strategies.kit", "supervision.runtime.live"} <= set(
        SOURCES)
    assert "actors.strategies.kit" in _imports(SOURCES["actors.strategies.market_maker"])


def test_modules_import_implementation_modules_never_a_facade_or_a_test_kit() -> None:
    problems = []
    for name, path in SOURCES.items():
        for target in _imports(path):
            if target in FACADES and name != target:
                problems.append(f"{name} imports the facade {target}")
            if target in TESTING and name not in TESTING:
                problems.append(f"{name} imports the test kit {target}")
    assert not problems, "\n".join(problems)
