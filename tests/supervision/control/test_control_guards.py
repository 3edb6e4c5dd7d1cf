"""The control plane's guards over real HTTP on loopback, probed as an attacker would.

Each test is a row of issue 11's table: a request that used to get through (or forge a log
line, or cost the node thousands of actions) and must now be refused, bounded or escaped, with
the node untouched."""

from __future__ import annotations

import hmac
import inspect
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from protocols.control import ControlActionName
from supervision.config.load import load_config
from supervision.control.http import ControlPlane
from tests.supervision.control.control_kit import (
    AM_TOKEN,
    AUTH,
    TOKEN,
    FakeNode,
    Token,
    am_alert,
    am_payload,
    control_body,
    http,
    plane_for,
    serving,
)

pytestmark = pytest.mark.trio

PAPER = Path(__file__).resolve().parents[3] / "config" / "paper.toml"
JSON_TYPE = ("content-type", "application/json")


# --------------------------------------------------------------------------------------------
# No cross-site or DNS-rebinding route in


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8321", "127.0.0.1.evil.example",
                                  "[::2]:80"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/metrics"), ("GET", "/readyz"),
                                              ("POST", "/control"), ("POST", "/am-webhook")])
async def test_every_endpoint_refuses_a_host_that_is_not_the_nodes(host: str, method: str,
                                                                   path: str) -> None:
    node = FakeNode()
    counted: list[tuple[str, dict[str, str]]] = []
    plane = plane_for(node, count=lambda metric, labels: counted.append((metric, dict(labels))))
    async with serving(plane) as port:
        body = control_body() if path == "/control" else am_payload(am_alert())
        reply = await http(port, method, path, body=body if method == "POST" else b"",
                           headers=[("host", host), *AUTH])
    assert reply.status == 403
    assert "is not this node's address" in reply.json()["error"]
    assert node.commands == [] and node.state == "ACTIVE"
    assert counted == [("troupe_control_refused_total", {"reason": "host"})]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:1234", "LOCALHOST", "[::1]:8321",
                                  "node.internal", "node.internal:9000"])
async def test_the_listen_address_loopback_names_and_allowed_names_pass(host: str) -> None:
    async with serving(plane_for(FakeNode(), allowed_hosts=["node.internal"])) as port:
        reply = await http(port, "GET", "/healthz", headers=[("host", host)])
    assert reply.status == 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/jsonp"])
@pytest.mark.parametrize("path", ["/control", "/am-webhook"])
async def test_every_post_refuses_a_body_that_is_not_json(content_type: str | None,
                                                          path: str) -> None:
    node = FakeNode()
    body = control_body() if path == "/control" else am_payload(am_alert())
    headers = [*AUTH, ("content-type", content_type or "")]
    async with serving(plane_for(node)) as port:
        if content_type is None:  # no header at all: the kit adds JSON unless one is given
            headers = [*AUTH, ("content-type", "application/json"),
                       ("content-type", "text/plain")]
        reply = await http(port, "POST", path, body=body, headers=headers)
    assert reply.status == 415
    assert reply.json()["error"].startswith("Content-Type must be application/json")
    assert node.commands == []


async def test_json_with_a_charset_is_json() -> None:
    node = FakeNode()
    async with serving(plane_for(node)) as port:
        reply = await http(port, "POST", "/control", body=control_body(),
                           headers=[*AUTH, ("content-type", "application/json; charset=utf-8")])
    assert reply.status == 200 and len(node.commands) == 1


# --------------------------------------------------------------------------------------------
# Tokens are real secrets


@pytest.mark.parametrize("option", ["token", "am_token"])
async def test_a_short_token_is_refused_at_construction(option: str) -> None:
    with pytest.raises(ValueError, match="is 15 characters long; a token needs at least 16"):
        ControlPlane(FakeNode(), **{"token": None, option: Token("x" * 15)})


async def test_beyond_loopback_the_webhook_needs_a_token() -> None:
    with pytest.raises(ValueError, match="beyond loopback: /am-webhook needs a token"):
        ControlPlane(FakeNode(), host="0.0.0.0", token=Token(TOKEN))
    ControlPlane(FakeNode(), host="0.0.0.0", token=Token(TOKEN), am_token=Token(AM_TOKEN))


@pytest.mark.parametrize(("path", "header"), [("/control", "x-auth-token"),
                                            ("/am-webhook", "authorization")])
async def test_every_token_is_compared_in_constant_time_over_equal_length_digests(
        path: str, header: str, monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("supervision.control.guard.hmac.compare_digest", recording)
    node = FakeNode()
    body = control_body() if path == "/control" else am_payload(am_alert())
    guess = "short" if header == "x-auth-token" else "Bearer short"
    async with serving(plane_for(node, am_token=Token(AM_TOKEN))) as port:
        reply = await http(port, "POST", path, body=body, headers=[(header, guess)])
    assert reply.status == 401 and node.commands == []
    assert [(len(a), len(b)) for a, b in compared] == [(32, 32)]  # SHA-256: no length leaks


async def test_the_plane_and_the_config_listen_on_loopback_unless_told_otherwise() -> None:
    assert inspect.signature(ControlPlane).parameters["host"].default == "127.0.0.1"
    assert load_config(PAPER).control.listen_host == "127.0.0.1"


async def test_failed_authentications_are_counted_and_rate_limited() -> None:
    node = FakeNode()
    counted: list[tuple[str, dict[str, str]]] = []
    plane = plane_for(node, count=lambda metric, labels: counted.append((metric, dict(labels))))
    async with serving(plane) as port:
        wrong = [await http(port, "POST", "/control", body=control_body(),
                            headers=[("x-auth-token", f"guess-{i:012d}")]) for i in range(7)]
        right = await http(port, "POST", "/control", body=control_body(), headers=AUTH)
    assert [r.status for r in wrong] == [401] * 5 + [429] * 2
    assert wrong[-1].headers["retry-after"] in {"1", "2"}
    assert right.status == 429  # even the right token waits: guessing must not pay
    assert node.commands == []
    assert counted.count(("troupe_control_auth_failures_total", {"endpoint": "/control"})) == 5
    assert counted.count(("troupe_control_refused_total", {"reason": "auth_rate_limited"})) == 3


# --------------------------------------------------------------------------------------------
# The webhook is bounded


def many_alerts(count: int) -> bytes:
    return am_payload(*(am_alert(name=f"Alert{i:05d}", instance=f"i{i}") for i in range(count)))


async def test_one_payload_of_thousands_of_alerts_is_one_command_and_one_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    node = FakeNode()
    body = many_alerts(4255)
    assert len(body) > 1_000_000 - 200_000
    caplog.set_level(logging.INFO, logger="troupe.control")
    async with serving(plane_for(node, am_max_body_bytes=2 << 20)) as port:
        reply = await http(port, "POST", "/am-webhook", body=body)
    assert reply.json() == {"applied": 1, "refused": 0, "ignored": 0}
    (command,) = node.commands
    assert command.action is ControlActionName.DISABLE_LIVE
    assert command.reason.startswith("alerts: Alert00000, Alert00001, ")
    assert command.reason.endswith(" more)") and len(command.reason) <= 500
    warnings = [r for r in caplog.records if r.name == "troupe.control"
                and r.levelno >= logging.WARNING]
    assert len(warnings) == 1


# --------------------------------------------------------------------------------------------
# Logs cannot be forged


FORGED = "\n2026-01-01 00:00:00 WARNING troupe.control: halt reason=forged source=http"


async def test_a_newline_in_an_alert_label_key_cannot_forge_a_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    node = FakeNode()
    alert: dict[str, Any] = am_alert()
    alert["labels"][f"x{FORGED}"] = 1  # not a string: refused, and the key is quoted
    async with serving(plane_for(node)) as port:
        reply = await http(port, "POST", "/am-webhook", body=json.dumps(
            {"version": "4", "alerts": [alert]}).encode())
    assert reply.status == 400 and "\n" not in reply.json()["error"]
    assert "\\n2026-01-01" in reply.json()["error"]
    assert node.commands == []
    assert all("\n" not in record.getMessage() for record in caplog.records)
    assert any("\\n2026-01-01" in record.getMessage() for record in caplog.records)


async def test_a_newline_in_a_control_key_or_the_path_cannot_forge_a_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    node = FakeNode()
    body = json.dumps({"action": "halt", "reason": "ok", f"k{FORGED}": 1}).encode()
    async with serving(plane_for(node)) as port:
        bad_key = await http(port, "POST", "/control", body=body, headers=AUTH)
        bad_path = await http(port, "GET", "/x%0A2026-01-01%20forged")
        bad_host = await http(port, "GET", "/metrics", headers=[("host", "a\tb")])
    assert (bad_key.status, bad_path.status, bad_host.status) == (400, 404, 403)
    for reply in (bad_key, bad_path, bad_host):
        assert "\n" not in reply.json()["error"] and "\t" not in reply.json()["error"]
    assert node.commands == []
    assert all("\n" not in record.getMessage() for record in caplog.records)


async def test_an_alert_name_with_a_newline_is_one_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    node = FakeNode()
    async with serving(plane_for(node)) as port:
        await http(port, "POST", "/am-webhook", body=am_payload(am_alert(name=f"A{FORGED}")))
    assert len(node.commands) == 1 and "\n" not in node.commands[0].reason
    assert all("\n" not in record.getMessage() for record in caplog.records)
