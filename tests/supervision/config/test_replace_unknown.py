"""`venue.replace_unknown_s`: how long a replace whose answer was lost may stay unresolved
before the connection gives it up. Five seconds unless a config says otherwise; it reaches the
node's venue connection; zero or less is refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.execution.venue_connection import VenuePeers
from supervision.config.load import ConfigError, load_config
from supervision.config.node import NodeConfig
from supervision.node.live_guard import Mode
from supervision.node.venues import connection_factory

CONFIG = Path(__file__).resolve().parents[3] / "config"


def test_the_default_is_five_seconds_and_a_config_sets_the_connections_bound() -> None:
    default = load_config(CONFIG / "paper.toml", environ={})
    assert isinstance(default, NodeConfig) and default.venue.replace_unknown_s == 5.0
    config = load_config(CONFIG / "paper.toml", ["venue.replace_unknown_s=2.5"], environ={})
    assert isinstance(config, NodeConfig)
    factory = connection_factory(config, Mode.PAPER, {}, VenuePeers(), lambda: "s1")
    assert factory().config.replace_unknown_s == 2.5


@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_bound_of_zero_or_less_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="replace_unknown_s"):
        load_config(CONFIG / "paper.toml", [f"venue.replace_unknown_s={value}"], environ={})
