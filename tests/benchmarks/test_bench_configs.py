"""The benchmarks' node configs load as the node would load them: a placeholder added to the
shared config must be filled by every benchmark that uses it (the kill-switch benchmark once
stopped at start-up with a KeyError when the tick-to-trade config gained one)."""

from __future__ import annotations

from pathlib import Path

from benchmarks import kill_switch, tick_to_trade
from supervision.config.load import load_config
from supervision.config.node import NodeConfig

URLS = {"rest": "http://127.0.0.1:1", "ws": "ws://127.0.0.1:2"}
KEYS = {"BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s", "TROUPE_CONTROL_TOKEN": "t" * 32}


def loaded(tmp_path: Path, text: str) -> NodeConfig:
    path = tmp_path / "node.toml"
    path.write_text(text)
    config = load_config(path, environ=KEYS)
    assert isinstance(config, NodeConfig), config
    return config


def test_the_tick_to_trade_node_config_loads(tmp_path: Path) -> None:
    setup = tick_to_trade.Setup(instruments=3, rest_workers=6)
    config = loaded(tmp_path, tick_to_trade.config_text(tmp_path, URLS, setup))
    assert len(config.instruments) == 3 and config.venue.rest_workers == 6
    assert config.runtime.loop_cpus == (0,)


def test_the_kill_switch_node_config_loads(tmp_path: Path) -> None:
    config = loaded(tmp_path, kill_switch.config_text(tmp_path / "j.jsonl", URLS,
                                                      ["BTCUSDT", "S01USDT"], 3))
    assert config.venue.exit_workers == 3 and config.runtime.loop_cpus == ()
    assert config.control.listen_host == "127.0.0.1"
