"""From a config and some parameter values to `Job`s a worker can run anywhere.

`Base` is what every variant of one experiment shares: the config file, the `--set` overrides
given once for all, and the data to replay. A variant is the base plus its own overrides:
`Base.job(name, params)` loads the config exactly as `--set` would (same checks, same
messages), so a bad key or value is caught here, in the client, before anything runs.

The data is prepared once, in the client, before any job: the span is cut
(`supervision.experiments.spans`), then decoded into the catalog when the config asks for one,
and every job's config names the result by its absolute path. So no two workers race to build
the same catalog, a worker started in another directory finds the file, and a variant's
progress bar is off (the sweep reports progress, variant by variant).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs

from supervision.catalog import build_catalog, is_catalog
from supervision.config.load import ConfigError, load_config
from supervision.config.node import NodeConfig
from supervision.experiments.spans import Span, cut_recording
from supervision.experiments.variants import BACKTEST_RUNNER, Job
from supervision.node.backtest import backtest_data

__all__ = ["Base", "prepare_data"]


def prepare_data(config: NodeConfig, span: Span, directory: Path) -> Path:
    """The file every variant replays, absolute: `span` of the config's recording (cut under
    `directory`), as a catalog when `data.catalog` is on. ValueError/OSError if unreadable."""
    path = backtest_data(config)
    if not path.is_file():
        raise ValueError(f"{path}: no such recording")
    if not span.whole:
        if is_catalog(path):
            raise ValueError(f"{path}: a span is cut from a recording, not from a catalog")
        path = cut_recording(path, span, directory)
    if config.data.catalog and not is_catalog(path):
        path, _ = build_catalog(path, Path(config.data.catalog_dir))
    return path.resolve()


@attrs.frozen(slots=True)
class Base:
    """A config file, the overrides every variant has, and the data they replay (absolute)."""

    config_path: str
    overrides: tuple[str, ...]
    data: Path | None = None
    runner: str = BACKTEST_RUNNER

    def load(self, params: Sequence[tuple[str, str]] = ()) -> NodeConfig:
        """The effective config of a variant; ConfigError listing every problem."""
        overrides = [*self.overrides, *(f"{key}={value}" for key, value in params)]
        if self.data is not None:
            overrides += [f"data.path={_toml_string(str(self.data))}", "data.progress=off"]
        config = load_config(self.config_path, overrides)
        if not isinstance(config, NodeConfig):
            raise ConfigError([f"{self.config_path}: an experiment config, not a backtest"])
        return config

    def job(self, name: str, params: Sequence[tuple[str, str]]) -> Job:
        return Job(name, tuple(params), self.load(params), self.runner)

    def problems(self, params: Sequence[tuple[str, str]]) -> list[str]:
        """What is wrong with a variant's values ([] if nothing), without running anything."""
        try:
            self.load(params)
        except ConfigError as exc:
            return list(exc.problems)
        return []


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
