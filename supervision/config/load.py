"""Loading a node's or an experiment's configuration: TOML in, frozen attrs classes out, or every
problem at once.

    config = load_config("config/paper.toml", ["node.status_interval_s=1"])

The operator who mistypes a key should learn about it, and about the next mistake, before the
node starts, in lines they can act on: `path: problem`, where the path is the one they would
write in `--set` (`venue.sim.latency.insert_ms`, `instruments.0.tick_size`). Structuring is
strict and collects every problem (`supervision.config.structure`); then the checks that span
sections run (a strategy's instrument exists, its parameters are those of its config class, a
live venue has its keys, a paper node only ever reaches the simulated venue, a venue's limits
are counted as that venue counts them).

Overrides (`--set a.b=value`) edit the parsed TOML before structuring, so they get the same
checks. A value is read as a TOML value when it parses as one (`0.1`, `true`, `[1, 2]`, `"x"`),
else as a bare string, unless it starts as TOML (a quote, `[`, `{`) and does not parse: that is
refused. Their paths are checked against the schema as they are applied
(`supervision.config.overrides`), so a typo names the key instead of creating it, and a problem
caused by an override says `(from --set)`.

Nothing here reads the environment except to resolve a secret reference: no variable can change
the profile or turn on live trading.
"""

from __future__ import annotations

import os
import re
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cattrs

from actors.execution.ids import ClientOrderIds
from actors.execution.token_bucket import LimitModel
from protocols.control import MIN_TOKEN_CHARS, is_loopback
from protocols.errors import TroupeError
from supervision.config.dump import redacted, unstructure
from supervision.config.experiment import ExperimentConfig
from supervision.config.market import MarketSource
from supervision.config.node import NodeConfig, Profile
from supervision.config.overrides import apply_override
from supervision.config.secrets import Secret
from supervision.config.structure import (
    ExactFloat,
    FloatText,
    Problems,
    Where,
    dotted,
    plain_message,
    strict_converter,
)
from supervision.config.venue import VenueConfig, VenueKind

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "NodeConfig",
    "Secret",
    "load_config",
    "parse_override",
    "redacted",
    "unstructure",
]


class ConfigError(TroupeError):
    """A configuration that cannot be used. `problems`: one `path: problem` line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def load_config(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    environ: Mapping[str, str] | None = None,
) -> NodeConfig | ExperimentConfig:
    """The config in `path` (an experiment if it has an `[experiment]` table, else a node), with
    `overrides` ("a.b=value") applied. `environ` resolves `{ env = ... }` secret references
    (default: os.environ). Raises ConfigError listing every problem."""
    environ = os.environ if environ is None else environ
    if not str(path).strip():  # Path("") would be the current directory
        raise ConfigError(["no config file named: give one, e.g. config/paper.toml"])
    raw = _read_toml(Path(path))
    root: type[NodeConfig | ExperimentConfig] = (
        ExperimentConfig if "experiment" in raw else NodeConfig
    )
    problems: list[str] = []
    overridden: list[Where] = []
    for text in overrides:
        try:
            keys, value = parse_override(text)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        problem = apply_override(raw, keys, value, root)
        if problem is None:
            overridden.append(tuple(int(k) if k.isdigit() else k for k in keys))
        else:
            problems.append(f"{problem} (from --set)")

    converter = strict_converter(environ)
    items: list[tuple[Where, str]] = []
    config: Any = None
    try:
        config = converter.structure(raw, root)
    except Problems as exc:
        items = exc.items
    if isinstance(config, NodeConfig):
        config, items = _check_node(config, converter, _optional_keys(raw))
    elif isinstance(config, ExperimentConfig):
        items = _check_experiment(config)

    for where, message in items:
        from_set = any(where[: len(o)] == o for o in overridden)
        problems.append(f"{dotted(where)}: {message}" + (" (from --set)" if from_set else ""))
    if problems:
        raise ConfigError(problems)
    return typing.cast(NodeConfig | ExperimentConfig, config)


# ------------------------------------------------------------------------------------------
# Reading


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a directory, not a TOML file"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        text = data.decode("utf-8-sig")  # a Windows editor's byte-order mark is no error
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    try:
        return tomllib.loads(text, parse_float=FloatText)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = re.search(r" \(at line (\d+), column (\d+)\)$", message)
        if at is None:
            raise ConfigError([f"{path}: invalid TOML: {message}"]) from None
        line, column = at.groups()
        raise ConfigError(
            [f"{path}:{line}:{column}: invalid TOML: {message[: at.start()]}"]
        ) from None


# ------------------------------------------------------------------------------------------
# Overrides


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """`"a.b.c=value"` -> `(("a", "b", "c"), value)`. The key is a TOML dotted key (quote a
    part that holds a dot: `matchers."team.name"=x`); the value a TOML value if it parses as
    one, else the bare string. Raises ConfigError for text without `=` or a malformed key."""
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError([f"--set {text}: expected KEY=VALUE, e.g. strategy.gamma=0.1"])
    try:
        parsed = tomllib.loads(f"{key} = 0") if "\n" not in key else None
    except tomllib.TOMLDecodeError:
        parsed = None
    where: list[str] = []
    node: Any = parsed
    while isinstance(node, dict) and len(node) == 1:
        ((part, node),) = node.items()
        where.append(part)
    if node != 0 or not where:
        raise ConfigError([f"--set {text}: {key!r} is not a key path like venue.sim.kind"])
    return tuple(where), _parse_value(text, value_text.strip())


def _parse_value(override: str, text: str) -> Any:
    try:
        parsed = tomllib.loads(f"v = {text}", parse_float=ExactFloat)
    except tomllib.TOMLDecodeError as exc:
        if text[:1] in ("\"", "'", "[", "{"):  # meant as TOML, not as a bare word
            raise ConfigError([f"--set {override}: {text} is not a TOML value "
                               f"({str(exc).split(' (at ')[0]})"]) from None
        return text
    return parsed["v"] if parsed.keys() == {"v"} else text


# ------------------------------------------------------------------------------------------
# Checks across sections


def _optional_keys(raw: Mapping[str, Any]) -> frozenset[str]:
    """The venue's keys given as `optional = true` references: a live config that may run in
    observe mode without them (the keys are then checked when `--execute` asks for trading)."""
    venue = raw.get("venue")
    if not isinstance(venue, dict):
        return frozenset()
    return frozenset(k for k in ("api_key", "api_secret")
                     if isinstance(venue.get(k), dict) and venue[k].get("optional") is True)


# The venue kinds that count every limit in fixed windows on their clock (Binance's spot and
# USD-M): a token bucket at their capacity would let twice it through in one window.
_WINDOWED_VENUES = (VenueKind.BINANCE, VenueKind.BINANCE_USDM)


def _limit_problems(venue: VenueConfig) -> list[tuple[Where, str]]:
    """Each limit counted as its venue counts it, and a window margin its windows can hold."""
    problems: list[tuple[Where, str]] = []
    for index, limit in enumerate(venue.limits):
        if venue.kind in _WINDOWED_VENUES and limit.model is not LimitModel.FIXED_WINDOW:
            problems.append((("venue", "limits", index, "model"), (
                f'{venue.kind.value} counts its limits in fixed windows on its clock: use '
                f'"fixed_window" with period_s (a token bucket at the venue\'s capacity lets '
                "twice it through in one window)")))
        if limit.model is LimitModel.FIXED_WINDOW \
                and 2 * venue.window_margin_ms * 1_000_000 >= limit.period_ns:
            problems.append((("venue", "window_margin_ms"), (
                f"must be under half of every fixed window's period: {limit.name!r} is "
                f"{limit.period_ns / 1e9:g} s, got {venue.window_margin_ms:g} ms")))
    allowance = venue.cancel_allowance
    if allowance is not None and allowance.model is not LimitModel.TOKEN_BUCKET:
        problems.append((("venue", "cancel_allowance", "model"),
                         'a cancel allowance is a grant that refills: "token_bucket"'))
    return problems


def _check_node(
    config: NodeConfig, converter: cattrs.Converter, optional_keys: frozenset[str] = frozenset()
) -> tuple[NodeConfig, list[tuple[Where, str]]]:
    problems: list[tuple[Where, str]] = []
    venue = config.venue
    if config.profile in (Profile.PAPER, Profile.BACKTEST) and venue.kind is not VenueKind.SIM:
        problems.append(
            (
                ("venue", "kind"),
                f"a {config.profile.value} node trades on the simulated venue: use \"sim\", "
                f"or profile observe/live for {venue.kind.value!r}",
            )
        )
    data_path = config.data.path
    if config.profile is Profile.BACKTEST and data_path is not None \
            and not Path(data_path).exists():
        problems.append((("data", "path"), f"no recording or catalog at {data_path!r}"))
    problems.extend(_limit_problems(venue))
    if config.profile is Profile.BACKTEST and config.runtime.loop_cpus:
        problems.append((("runtime", "loop_cpus"), "a backtest runs on the deterministic host, "
                         "one thread in virtual time, not the live event loop: leave it out"))
    if venue.kind is not VenueKind.SIM:
        if not venue.limits:
            problems.append(
                (
                    ("venue", "limits"),
                    f"a {venue.kind.value} venue needs its rate "
                    "limits (at least one [[venue.limits]])",
                )
            )
        # Hyperliquid's observe mode streams public data without keys; its --execute is
        # refused before the node starts when they are missing (the adapter's preflight).
        if config.profile is Profile.LIVE and venue.kind is not VenueKind.HYPERLIQUID:
            for key in ("api_key", "api_secret"):
                if getattr(venue, key) is None and key not in optional_keys:
                    problems.append(
                        (
                            ("venue", key),
                            f"required for a live {venue.kind.value} "
                            'venue: give { env = "NAME" } or { file = "/path" }',
                        )
                    )
    if venue.kind is VenueKind.SIM and config.market.source is MarketSource.VENUE:
        problems.append(
            (
                ("market", "source"),
                "the simulated venue has no feed of its own: "
                "use replay, synthetic or replay_then_synthetic",
            )
        )
    if config.market.uses_recording and not config.market.recording_path().is_file():
        problems.append(
            (
                ("market", "recording"),
                f"no shipped recording or file "
                f"{config.market.recording!r} (shipped: binance_spot_btcusdt, "
                "hyperliquid_btc)",
            )
        )

    problems.extend(_control_problems(config))

    symbols: dict[str, int] = {}
    for index, instrument in enumerate(config.instruments):
        if instrument.symbol in symbols:
            problems.append(
                (
                    ("instruments", index, "symbol"),
                    f"duplicate symbol "
                    f"{instrument.symbol!r} (also instruments.{symbols[instrument.symbol]})",
                )
            )
        symbols.setdefault(instrument.symbol, index)

    if venue.kind is VenueKind.SIM:
        problems.extend(venue.sim.fault_instrument_problems(list(symbols)))
    ids: set[str] = set()
    for index, strategy in enumerate(config.strategies):
        where: Where = ("strategies", index)
        if strategy.id in ids:
            problems.append(((*where, "id"), f"duplicate strategy id {strategy.id!r}"))
        ids.add(strategy.id)
        if strategy.instrument not in symbols:
            have = ", ".join(symbols) or "none"
            problems.append(
                (
                    (*where, "instrument"),
                    f"no instrument {strategy.instrument!r} in [[instruments]] (have: {have})",
                )
            )
        else:
            spec = config.instrument(strategy.instrument).to_spec(venue.name)
            try:
                ClientOrderIds(strategy.params.get("id_prefix", "tr"), strategy.id)
                strategy.to_config(spec)
            except (ValueError, TypeError) as exc:
                problems.append((where, plain_message(exc)))
    return config, problems


def _control_problems(config: NodeConfig) -> list[tuple[Where, str]]:
    """Tokens that are real secrets; a webhook token wherever the plane is reachable from
    elsewhere. Never the value, only its length."""
    control = config.control
    problems: list[tuple[Where, str]] = []
    tokens: tuple[tuple[Where, Secret | None], ...] = (
        (("control", "token"), control.token),
        (("control", "alertmanager", "token"), control.alertmanager.token),
    )
    for where, secret in tokens:
        if secret is not None and len(secret.reveal()) < MIN_TOKEN_CHARS:
            problems.append((where, f"is {len(secret.reveal())} characters long; a token needs "
                             f"at least {MIN_TOKEN_CHARS} (e.g. from `openssl rand -hex 16`)"))
    if control.enabled and control.alertmanager.token is None \
            and not is_loopback(control.listen_host):
        problems.append((("control", "alertmanager", "token"),
                         f"required when control.listen_host ({control.listen_host}) is beyond "
                         'loopback: give { env = "NAME" } or { file = "/path" }'))
    return problems


def _check_experiment(config: ExperimentConfig) -> list[tuple[Where, str]]:
    settings = config.experiment
    problems: list[tuple[Where, str]] = []
    if settings.dt >= settings.T:
        problems.append(
            (("experiment", "dt"), f"must be below T ({settings.T}), got {settings.dt}")
        )
    if settings.s0 % settings.tick:
        problems.append(
            (
                ("experiment", "s0"),
                f"must be a whole number of ticks (tick {settings.tick}), got {settings.s0}",
            )
        )
    return problems
