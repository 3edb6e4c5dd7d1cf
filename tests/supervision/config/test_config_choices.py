"""A bad value in a field of choice kind (or any field an attrs validator guards) is one
`path: must be ..., got ...` line, in the words of `supervision.config.fields`: never the tuple
attrs raises, with its `Attribute(...)` repr, and never a traceback.

The schema's own choice fields use `fields.one_of`; the loader translates what attrs' own
validators raise in classes the config embeds from other layers (the simulated venue's
`MarketModel`), so both paths are tried here, and every attrs-validated field reachable from the
schema is tried with a bad value so a new one cannot leak the repr again.
"""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import attrs
import pytest

from supervision.config.experiment import ExperimentConfig
from supervision.config.load import ConfigError, load_config
from supervision.config.node import NodeConfig
from supervision.config.structure import check_field

ROOT = Path(__file__).resolve().parents[3]
PAPER = ROOT / "config" / "paper.toml"
EXPERIMENT = ROOT / "config" / "avellaneda_stoikov.toml"
SECRETS = {"TROUPE_CONTROL_TOKEN": "control-token-value-0123"}


def problems(path: Path, *overrides: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides, environ=SECRETS)
    return caught.value.problems


@pytest.mark.parametrize(
    ("path", "override", "line"),
    [
        (PAPER, 'report.go_no_go=[{metric="expectancy",op="!",threshold=0}]',
         "report.go_no_go.0.op: must be one of '>', '>=', '<', '<=', '==', got '!' (from --set)"),
        (PAPER, 'data.progress="x"',
         "data.progress: must be one of 'auto', 'bar', 'lines', 'off', got 'x' (from --set)"),
        (PAPER, "report.decomposition_horizon_s=7",
         "report.decomposition_horizon_s: must be one of 1, 5, 30, 60, 300, got 7 (from --set)"),
        (PAPER, "venue.sim.market.lag_ms=-1",
         "venue.sim.market.lag_ms: must be >= 0, got -1 (from --set)"),
        (PAPER, "venue.sim.market.interval_ms=0",
         "venue.sim.market.interval_ms: must be > 0, got 0 (from --set)"),
        (PAPER, 'venue.sim.market.faults=[{kind="halt",at_s=-1}]',
         "venue.sim.market.faults.0.at_s: must be >= 0, got -1 (from --set)"),
        (PAPER, 'venue.sim.market.faults=[{kind="dislocation",at_s=1,value="abc"}]',
         "venue.sim.market.faults.0: dislocation value: expected a whole number of basis points "
         "of the oracle off the mid, below 0 under it, from -9999 to 10000 (default 10), got "
         "'abc' (from --set)"),
        (PAPER, 'venue.sim.market.faults=[{kind="spec_change",at_s=1,value="taker_fee=x"}]',
         "venue.sim.market.faults.0: spec_change value taker_fee: expected a number between -1 "
         "and 1, a fraction (0.0002 = 2 bps), got 'x' (from --set)"),
        (PAPER, 'venue.sim.market.faults=[{kind="halt",at_s=1,value="3"}]',
         "venue.sim.market.faults.0: a halt fault takes no value, got '3' (from --set)"),
        (PAPER, 'venue.sim.market.faults=[{kind="halt",at_s=1,instrument="ETHUSDT"}]',
         "venue.sim.market.faults.0.instrument: no instrument 'ETHUSDT' in [[instruments]] "
         "(have: BTCUSDT) (from --set)"),
        (EXPERIMENT, "experiment.variants=[]",
         "experiment.variants: must have at least 1 item, got 0 (from --set)"),
    ],
)
def test_a_bad_choice_is_one_line_naming_the_allowed_values(
        path: Path, override: str, line: str) -> None:
    assert problems(path, override) == [line]


def test_main_refuses_a_bad_choice_with_one_line_and_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "supervision.main", "config/paper.toml", "--check-config",
         "--set", 'report.go_no_go=[{metric="expectancy",op="!",threshold=0}]',
         "--set", 'data.progress="x"'],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", **SECRETS})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "Attribute(" not in done.stderr
    lines = [line.strip() for line in done.stderr.splitlines()]
    assert "report.go_no_go.0.op: must be one of '>', '>=', '<', '<=', '==', got '!' " \
           "(from --set)" in lines
    assert "data.progress: must be one of 'auto', 'bar', 'lines', 'off', got 'x' " \
           "(from --set)" in lines


def _attrs_fields(root: type) -> list[tuple[type, attrs.Attribute[Any]]]:
    """Every field of every attrs class reachable from `root` through field types."""
    seen: set[type] = set()
    found: list[tuple[type, attrs.Attribute[Any]]] = []
    pending = [root]
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        hints = typing.get_type_hints(cls)
        for field in attrs.fields(cls):
            found.append((cls, field))
            stack = [hints[field.name]]
            while stack:
                typ = stack.pop()
                stack.extend(typing.get_args(typ))
                if isinstance(typ, type) and attrs.has(typ):
                    pending.append(typ)
    return found


_BAD = object()  # in no option set, comparable with nothing


def _bad_values(validator: Any) -> list[Any]:
    """Values this attrs validator refuses (none if it is not one of attrs' own)."""
    kind = type(validator).__name__
    if kind == "_AndValidator":
        return [bad for inner in validator._validators for bad in _bad_values(inner)]
    if kind == "_InValidator":
        return ["not-an-option"]
    if kind == "_NumberValidator":
        return [validator.bound - 1 if ">" in validator.compare_op else validator.bound + 1]
    if kind == "_MinLengthValidator":
        return [()]
    if kind == "_MaxLengthValidator":
        return [(0,) * (validator.max_length + 1)]
    return []


_VALIDATED = [
    (cls, field, bad)
    for root in (NodeConfig, ExperimentConfig)
    for cls, field in _attrs_fields(root)
    for bad in _bad_values(field.validator)
]


def test_the_schema_reaches_fields_guarded_by_attrs_validators() -> None:
    # MarketModel's lag_ms is one: the walk must find it, or the test below tries nothing.
    assert any(field.name == "lag_ms" for _cls, field, _bad in _VALIDATED)


@pytest.mark.parametrize(("cls", "field", "bad"), _VALIDATED,
                         ids=[f"{cls.__name__}.{field.name}" for cls, field, _ in _VALIDATED])
def test_every_attrs_validated_field_says_must_and_got(
        cls: type, field: attrs.Attribute[Any], bad: Any) -> None:
    message = check_field(field, bad)
    assert message is not None and message.startswith("must ") and ", got " in message, message
    assert "Attribute(" not in message and f"'{field.name}'" not in message


def test_bad_sim_faults_in_a_config_file_are_one_line_each_and_exit_2(tmp_path: Path) -> None:
    # a spec_change whose number is not one used to end in decimal.InvalidOperation's traceback
    config = tmp_path / "faults.toml"
    config.write_text((ROOT / "config" / "backtest_taker.toml").read_text() + """
[[venue.sim.market.faults]]
kind = "spec_change"
at_s = 1
value = "taker_fee=x"

[[venue.sim.market.faults]]
kind = "spread_shock"
at_s = 2
value = "lots"
""")
    done = subprocess.run([sys.executable, "-m", "supervision.main", str(config), "--check-config"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **SECRETS})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[1:] == [
        "  venue.sim.market.faults.0: spec_change value taker_fee: expected a number between -1 "
        "and 1, a fraction (0.0002 = 2 bps), got 'x'",
        "  venue.sim.market.faults.1: spread_shock value: expected a whole number of book levels "
        "dropped from each side, from 1 to 1000 (default 3), got 'lots'",
    ]
