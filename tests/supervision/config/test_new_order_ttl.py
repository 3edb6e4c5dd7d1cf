"""`venue.new_order_ttl_s`: how long the budget may hold a new order before it is dropped as
stale. One second unless a config says otherwise; "none" turns it off; every shipped paper and
live config names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervision.config.load import load_config
from supervision.config.node import NodeConfig

CONFIG = Path(__file__).resolve().parents[3] / "config"
SHIPPED = ("paper.toml", "paper_taker.toml", "live.toml", "live_usdm.toml",
           "live_hyperliquid.toml")


@pytest.mark.parametrize("name", SHIPPED)
def test_the_shipped_configs_drop_a_new_order_held_past_a_second(name: str) -> None:
    assert "new_order_ttl_s = 1.0" in (CONFIG / name).read_text()
    config = load_config(CONFIG / name, environ={"TROUPE_CONTROL_TOKEN": "t" * 32})
    assert isinstance(config, NodeConfig)
    assert config.venue.to_venue_limits().new_order_ttl_ns == 1_000_000_000


def test_the_default_is_a_second_and_none_turns_it_off() -> None:
    config = load_config(CONFIG / "backtest.toml", environ={})
    assert isinstance(config, NodeConfig) and config.venue.new_order_ttl_s == 1.0
    off = load_config(CONFIG / "paper.toml", ["venue.new_order_ttl_s=none"], environ={})
    assert isinstance(off, NodeConfig) and off.venue.to_venue_limits().new_order_ttl_ns is None
