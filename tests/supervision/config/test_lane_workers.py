"""`venue.rest_workers` and `venue.exit_workers`: the Binance REST lanes' worker processes.
"auto" (the default) is 4 and 2, or the node's instruments if fewer, since a lane gives each
symbol one worker at a time; a number is taken as it is; 0 or more than 32 is refused in one
line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervision.config.load import ConfigError, load_config
from supervision.config.node import NodeConfig
from supervision.config.venue import VenueConfig

CONFIG = Path(__file__).resolve().parents[3] / "config"
ENV = {"TROUPE_CONTROL_TOKEN": "t" * 32}


@pytest.mark.parametrize(("instruments", "lanes"), [(0, (1, 1)), (1, (1, 1)), (3, (3, 2)),
                                                    (20, (4, 2))])
def test_auto_is_four_and_two_or_the_instruments_if_fewer(instruments: int,
                                                          lanes: tuple[int, int]) -> None:
    assert VenueConfig().lane_workers(instruments) == lanes


def test_a_number_is_taken_as_it_is_and_the_live_configs_say_auto() -> None:
    config = load_config(CONFIG / "live.toml", ["venue.rest_workers=6"], environ=ENV)
    assert isinstance(config, NodeConfig)
    assert config.venue.rest_workers == 6 and config.venue.exit_workers is None
    assert config.venue.lane_workers(len(config.instruments)) == (
        6, min(2, len(config.instruments)))
    for name in ("live.toml", "live_usdm.toml"):
        text = (CONFIG / name).read_text()
        assert 'rest_workers = "auto"' in text and 'exit_workers = "auto"' in text


@pytest.mark.parametrize(("key", "value"), [("rest_workers", 0), ("exit_workers", 33)])
def test_out_of_range_is_refused(key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=f"venue.{key}"):
        load_config(CONFIG / "live.toml", [f"venue.{key}={value}"], environ=ENV)
