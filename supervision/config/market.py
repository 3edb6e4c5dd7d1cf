"""Where a node's market data comes from: the `[market]` section (a live node's feed, a paper
node's replay or synthetic stream) and the `[data]` section (what a backtest replays).

A recording is named either as one shipped with Troupe (`SHIPPED_RECORDINGS`, or any file in
`supervision/sources/data`) or as a path, so the shipped configs run from a clean clone with no
download. Whether the named file exists is checked at load (`supervision.config.load`), not
here: a missing recording is refused before the node starts, with the shipped names listed.

`speed` is a multiple of the recorded pace; None (written "max") replays as fast as the node
can take it. The simulated venue has no feed of its own, so a `sim` venue with `source = "venue"`
is refused at load.
"""

from __future__ import annotations

import enum
from pathlib import Path

import attrs

from supervision.config.fields import NONE_WORD, gt, non_empty, one_of
from supervision.sources import data


class MarketSource(enum.StrEnum):
    VENUE = "venue"  # the venue's own feed (a real venue's websocket)
    REPLAY = "replay"
    SYNTHETIC = "synthetic"
    REPLAY_THEN_SYNTHETIC = "replay_then_synthetic"


@attrs.frozen(slots=True, kw_only=True)
class SyntheticConfig:
    step_ms: float = attrs.field(default=100.0, validator=gt(0))
    levels: int = attrs.field(default=10, validator=gt(0))
    seed: int = 1


SHIPPED_RECORDINGS = {
    "binance_spot_btcusdt": data.BINANCE_SPOT_BTCUSDT,
    "hyperliquid_btc": data.HYPERLIQUID_BTC,
}


@attrs.frozen(slots=True, kw_only=True)
class MarketConfig:
    source: MarketSource = MarketSource.REPLAY_THEN_SYNTHETIC
    # A shipped recording's name (SHIPPED_RECORDINGS, or a file name in
    # supervision/sources/data) or a path to a recording in the same format.
    recording: str = attrs.field(default="binance_spot_btcusdt", validator=non_empty)
    # x recorded pace; None (written "max"): as fast as possible.
    speed: float | None = attrs.field(default=1.0, validator=gt(0), metadata={NONE_WORD: "max"})
    synthetic: SyntheticConfig = attrs.field(factory=SyntheticConfig)

    @property
    def uses_recording(self) -> bool:
        return self.source in (MarketSource.REPLAY, MarketSource.REPLAY_THEN_SYNTHETIC)

    def recording_path(self) -> Path:
        """The recording file: a shipped one by name, else the path as given."""
        shipped_path = SHIPPED_RECORDINGS.get(self.recording)
        if shipped_path is not None:
            return shipped_path
        shipped = data.DATA_DIR / self.recording
        return shipped if shipped.is_file() else Path(self.recording)


@attrs.frozen(slots=True, kw_only=True)
class DataConfig:
    """What a backtest replays (`profile = "backtest"`). `path`: a recording in any format the
    replay reads (Binance spot or USD-M, Hyperliquid), or a catalog directory; None replays
    `market.recording`. `catalog`: decode the recording once into the columnar catalog under
    `catalog_dir` (keyed by the file's content hash) and replay from it; false replays the raw
    file. `progress`: "auto" (a bar on a terminal, plain lines otherwise), "bar", "lines",
    "off"; it goes to stderr."""

    path: str | None = None
    catalog: bool = True
    catalog_dir: str = attrs.field(default="var/catalog", validator=non_empty)
    progress: str = attrs.field(
        default="auto", validator=one_of("auto", "bar", "lines", "off"))
    progress_interval_s: float = attrs.field(default=5.0, validator=gt(0))
