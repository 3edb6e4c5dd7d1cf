"""Secrets stay out of every printout of a config, and the environment never decides whether we
trade."""

from __future__ import annotations

import copy
import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from supervision.config.load import (
    NodeConfig,
    Secret,
    load_config,
    redacted,
    unstructure,
)
from supervision.config.node import Profile
from tests.supervision.config.config_kit import (
    EXPERIMENT,
    LIVE,
    LIVE_ENV,
    MINIMAL,
    PAPER,
    problems,
)

# ------------------------------------------------------------------------------------------
# Secrets


def test_a_secret_given_in_clear_is_refused_without_echoing_it(write: Any) -> None:
    found = problems(write(MINIMAL + '[control]\ntoken = "hunter2"\n'))
    assert found == [
        'control.token: give a reference: { env = "NAME" } or { file = "/path" }, not a string'
    ]
    assert "hunter2" not in "\n".join(found)
    assert "hunter2" not in "\n".join(problems(PAPER, ("control.token=hunter2",)))


def test_missing_environment_variable(write: Any) -> None:
    path = write(MINIMAL + '[control]\ntoken = { env = "NODE_TOKEN" }\n')
    assert problems(path) == ["control.token: environment variable NODE_TOKEN is not set"]
    assert problems(path, NODE_TOKEN="") == [
        "control.token: environment variable NODE_TOKEN is empty"
    ]


def test_secret_from_an_owner_only_file(write: Any, tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text("file-token-0123456789\n")
    secret_file.chmod(0o600)
    config = load_config(write(MINIMAL + f'[control]\ntoken = {{ file = "{secret_file}" }}\n'))
    assert isinstance(config, NodeConfig)
    assert config.control.token is not None
    # the final newline is not part of it
    assert config.control.token.reveal() == "file-token-0123456789"


@pytest.mark.parametrize(
    ("mode", "how"), [(0o644, "readable"), (0o640, "readable"), (0o620, "writable")]
)
def test_a_secret_file_others_can_access_is_refused(
    write: Any, tmp_path: Path, mode: int, how: str
) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text("file-token")
    secret_file.chmod(mode)
    path = write(MINIMAL + f'[control]\ntoken = {{ file = "{secret_file}" }}\n')
    assert problems(path) == [
        f"control.token: secret file {secret_file} is {how} by others (mode {mode:04o}): "
        f"chmod 600 {secret_file}"
    ]


def test_missing_secret_file(write: Any, tmp_path: Path) -> None:
    path = write(MINIMAL + f'[control]\ntoken = {{ file = "{tmp_path}/none" }}\n')
    assert problems(path) == [f"control.token: secret file {tmp_path}/none does not exist"]


def test_a_reference_is_env_or_file_exactly(write: Any) -> None:
    path = write(MINIMAL + '[control]\ntoken = { env = "A", file = "/b" }\n')
    assert problems(path) == [
        'control.token: give a reference: { env = "NAME" } or { file = "/path" } '
        "(exactly one of them)"
    ]


def test_secret_never_shows_its_value() -> None:
    secret = Secret("s3cr3t", "env:X")
    assert repr(secret) == str(secret) == f"{secret}" == f"{secret!r}" == "***"
    assert secret.reveal() == "s3cr3t"
    assert copy.deepcopy(secret) is secret
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secret)
    with pytest.raises(AttributeError):
        secret._value = "other"  # type: ignore[misc]


def test_secret_compares_by_value_in_constant_time() -> None:
    secret = Secret("s3cr3t")
    assert secret == Secret("s3cr3t", "file:/elsewhere")
    assert secret != Secret("s3cr3T")
    assert secret.matches("s3cr3t") and secret.matches(b"s3cr3t")
    assert not secret.matches("s3cr3") and not secret.matches(None)
    assert hash(secret) == hash(Secret("other"))  # the hash says nothing about the value


def test_secrets_stay_out_of_every_printout_of_the_config(caplog: Any) -> None:
    config = load_config(LIVE, environ=LIVE_ENV)
    values = LIVE_ENV.values()
    logging.getLogger("troupe.test").warning("config: %s %r", config, config)
    printouts = {
        "repr": repr(config),
        "str": str(config),
        "redacted": redacted(config),
        "unstructure": json.dumps(unstructure(config)),
        "log": caplog.text,
    }
    for name, text in printouts.items():
        for value in values:
            assert value not in text, name
    assert unstructure(config)["venue"]["api_key"] == "***"
    with pytest.raises(TypeError):
        pickle.dumps(config)


def test_redacted_shows_the_reference_not_the_value() -> None:
    text = redacted(load_config(LIVE, environ=LIVE_ENV))
    assert 'api_key = { env = "BINANCE_API_KEY" }  # value: ***' in text
    assert 'token = { env = "TROUPE_CONTROL_TOKEN" }  # value: ***' in text


@pytest.mark.parametrize("path", [PAPER, LIVE, EXPERIMENT])
def test_redacted_config_loads_back_into_the_same_config(path: Path, tmp_path: Path) -> None:
    config = load_config(path, environ=LIVE_ENV)
    again = tmp_path / "effective.toml"
    again.write_text(redacted(config))
    assert load_config(again, environ=LIVE_ENV) == config


@pytest.mark.parametrize("key", ["token", "alertmanager.token"])
def test_a_short_token_is_refused_without_showing_it(key: str) -> None:
    found = problems(PAPER, (f'control.{key}={{ env = "SHORT" }}',), SHORT="hunter2-abc")
    assert found == [f"control.{key}: is 11 characters long; a token needs at least 16 "
                     "(e.g. from `openssl rand -hex 16`) (from --set)"]


def test_beyond_loopback_the_webhook_needs_a_token() -> None:
    assert problems(PAPER, ("control.listen_host=0.0.0.0",)) == [
        "control.alertmanager.token: required when control.listen_host (0.0.0.0) is beyond "
        'loopback: give { env = "NAME" } or { file = "/path" }']
    config = load_config(PAPER, ("control.listen_host=0.0.0.0",
                                 'control.alertmanager.token={ env = "AM" }'),
                         environ={"AM": "am-token-0123456789"})
    assert isinstance(config, NodeConfig)


# ------------------------------------------------------------------------------------------
# The environment never decides whether we trade


ENV_ATTEMPTS = {
    "TROUPE_PROFILE": "live",
    "TROUPE_NODE_PROFILE": "live",
    "NODE_PROFILE": "live",
    "PROFILE": "live",
    "TROUPE_EXECUTE": "1",
    "TROUPE_CONFIRM_LIVE": "YES",
    "TROUPE_LIVE": "1",
}


def test_environment_cannot_set_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(PAPER, environ=ENV_ATTEMPTS)
    assert isinstance(config, NodeConfig) and config.profile is Profile.PAPER
    for name, value in ENV_ATTEMPTS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TROUPE_CONTROL_TOKEN", raising=False)
    config = load_config(PAPER)  # the real os.environ
    assert isinstance(config, NodeConfig) and config.profile is Profile.PAPER
    assert os.environ["TROUPE_PROFILE"] == "live"


def test_the_profile_cannot_be_a_reference_to_the_environment(write: Any) -> None:
    path = write('[node]\nprofile = { env = "TROUPE_PROFILE" }\n')
    assert problems(path, TROUPE_PROFILE="live") == [
        "node.profile: must be one of 'observe', 'paper', 'live', 'backtest', "
        "got {'env': 'TROUPE_PROFILE'}"
    ]
