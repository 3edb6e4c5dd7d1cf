"""No secret value reaches a log line, whoever logs it: at --log-level DEBUG ccxt logs every
request's headers, the API key among them."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

from supervision.config.load import NodeConfig, load_config
from supervision.config.log_redaction import redact_logs, secrets_in
from tests.supervision.config.config_kit import LIVE, LIVE_ENV, PAPER

ROOT = Path(__file__).resolve().parents[3]


def _live() -> NodeConfig:
    config = load_config(LIVE, environ=LIVE_ENV)
    assert isinstance(config, NodeConfig)
    return config


def test_every_secret_of_a_config_is_found() -> None:
    found = sorted(secret.reveal() for secret in secrets_in(_live()))
    assert found == sorted(LIVE_ENV.values())
    paper = load_config(PAPER, environ={})
    assert secrets_in(paper) == []


def test_a_handler_writes_no_secret_in_messages_arguments_or_tracebacks() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("tests.log_redaction.ccxt")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        redact_logs(_live(), handlers=[handler])
        redact_logs(_live(), handlers=[handler])  # twice: one filter, not two
        key, secret = LIVE_ENV["BINANCE_API_KEY"], LIVE_ENV["BINANCE_API_SECRET"]
        logger.debug("POST https://x/api, Request: %s", {"X-MBX-APIKEY": key})
        logger.info(f"signed with {secret} and {LIVE_ENV['TROUPE_CONTROL_TOKEN']}")
        try:
            raise RuntimeError(f"refused key {key}")
        except RuntimeError:
            logger.exception("request failed")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert len(handler.filters) == 1
    assert not any(value in text for value in LIVE_ENV.values()), text
    assert "{'X-MBX-APIKEY': '***'}" in text and "signed with *** and ***" in text
    assert "RuntimeError: refused key ***" in text


def test_a_live_node_at_debug_logs_no_secret(tmp_path: Path) -> None:
    """The operator's command, against a venue address on loopback that nothing answers: ccxt
    logs its requests (headers included) at DEBUG before they fail."""
    env = {**os.environ, **LIVE_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "supervision.main", "config/live.toml", "--log-level", "DEBUG",
         "--duration", "2", "--set", f"journal.path={tmp_path / 'j.jsonl'}",
         "--set", f"node.lock_dir={tmp_path / 'locks'}", "--set", "control.listen_port=0",
         "--set", "venue.rest_url=http://127.0.0.1:9", "--set", "venue.ws_url=ws://127.0.0.1:9"],
        cwd=ROOT, capture_output=True, text=True, timeout=90, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "X-MBX-APIKEY': '***'" in output  # ccxt did log the request's headers
    written = output + "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*")
                               if p.is_file())
    assert not any(value in written for value in LIVE_ENV.values())


def test_a_placeholder_secret_is_masked_where_it_stands_alone_not_inside_words() -> None:
    from supervision.config.log_redaction import SecretLogFilter
    from supervision.config.secrets import Secret

    masking = SecretLogFilter([Secret("k"), Secret("s"), Secret("a" * 64)])
    record = logging.LogRecord("ccxt", logging.DEBUG, __file__, 1,
                               "market streams {'X-MBX-APIKEY': 'k', 'secret': s} sig=%s&x",
                               ("a" * 64,), None)
    masking.filter(record)
    assert record.getMessage() == ("market streams {'X-MBX-APIKEY': '***', 'secret': ***} "
                                   "sig=***&x")
