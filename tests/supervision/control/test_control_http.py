"""The control plane over real HTTP: hypercorn on 127.0.0.1, an h11 client, a fake node.

Every refusal is checked the same way: the right status, a JSON error, and a node that was
never called. That is the promise an operator relies on: a bad request changes nothing."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from protocols.control import ControlActionName, ControlCommand, Readiness
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

# --------------------------------------------------------------------------------------------
# GET endpoints


async def test_healthz_says_alive_and_binds_loopback_by_default() -> None:
    plane = plane_for(FakeNode())
    async with serving(plane) as port:
        assert port == plane.port > 0
        reply = await http(port, "GET", "/healthz")
    assert reply.status == 200 and reply.json() == {"status": "alive"}
    assert reply.headers["cache-control"] == "no-store"
    assert "server" not in reply.headers


async def test_metrics_pass_the_nodes_registry_through() -> None:
    node = FakeNode()
    node.actions.labels("halt", "http").inc()
    async with serving(plane_for(node)) as port:
        reply = await http(port, "GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"] == CONTENT_TYPE_LATEST
    assert reply.body == generate_latest(node.registry)
    assert b'troupe_control_actions_total{action="halt",source="http"} 1.0' in reply.body


async def test_readyz_is_200_only_when_ready_to_trade() -> None:
    node = FakeNode()
    async with serving(plane_for(node)) as port:
        ready = await http(port, "GET", "/readyz")
        node.ready = Readiness(True, False, "observe", "ACTIVE", {"reconciled": False})
        not_ready = await http(port, "GET", "/readyz")
    assert ready.status == 200
    assert ready.json() == {
        "ready": True,
        "mode": "paper",
        "state": "ACTIVE",
        "ready_md": True,
        "ready_trading": True,
        "detail": {"books": {"BTCUSDT": "synced"}},
    }
    assert not_ready.status == 503
    assert not_ready.json() == {
        "ready": False,
        "mode": "observe",
        "state": "ACTIVE",
        "ready_md": True,
        "ready_trading": False,
        "detail": {"reconciled": False},
    }


async def test_head_gives_the_headers_without_a_body() -> None:
    async with serving(plane_for(FakeNode())) as port:
        reply = await http(port, "HEAD", "/healthz")
    assert reply.status == 200 and reply.body == b""
    assert reply.headers["content-length"] == str(len(b'{"status":"alive"}'))


# --------------------------------------------------------------------------------------------
# POST /control


async def test_a_control_action_is_applied_once_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = FakeNode()
    caplog.set_level(logging.INFO, logger="troupe.control")
    async with serving(plane_for(node)) as port:
        reply = await http(
            port, "POST", "/control", body=control_body("disable_live"), headers=AUTH
        )
    assert reply.status == 200
    assert reply.json() == {"ok": True, "action": "disable_live", "state": "REDUCING", "detail": ""}
    assert node.commands == [
        ControlCommand(ControlActionName.DISABLE_LIVE, "operator says so", "http")
    ]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [(r.name, r.getMessage()) for r in warnings] == [
        ("troupe.control", "disable_live reason=operator says so source=http")
    ]
    assert TOKEN not in caplog.text


ERROR_CASES = {
    "missing token": (
        dict(method="POST", path="/control", body=control_body()),
        401,
        "missing token: send it in the X-Auth-Token header",
    ),
    "wrong token": (
        dict(
            method="POST",
            path="/control",
            body=control_body(),
            headers=[("x-auth-token", TOKEN + "x")],
        ),
        401,
        "bad token",
    ),
    "a wrong token among two": (
        dict(
            method="POST",
            path="/control",
            body=control_body(),
            headers=[*AUTH, ("x-auth-token", "guess")],
        ),
        401,
        "bad token",
    ),
    "token checked before the body is read": (
        dict(
            method="POST",
            path="/control",
            declared_length=10**9,
            headers=[("x-auth-token", "guess")],
        ),
        401,
        "bad token",
    ),
    "malformed JSON": (
        dict(method="POST", path="/control", body=b'{"action": "halt",', headers=AUTH),
        400,
        "body is not valid JSON: Expecting property name enclosed in double quotes:"
        " line 1 column 19 (char 18)",
    ),
    "unknown action": (
        dict(method="POST", path="/control", body=control_body("yolo"), headers=AUTH),
        400,
        "unknown action 'yolo'; one of: disable_live, reduce_only, halt, resume, flatten,"
        " cancel_all",
    ),
    "wrong method": (
        dict(method="GET", path="/control", headers=AUTH),
        405,
        "GET not allowed on /control",
    ),
    "declared body too large": (
        dict(method="POST", path="/control", declared_length=1025, headers=AUTH),
        413,
        "body of 1025 bytes is over the limit of 1024 bytes",
    ),
    "streamed body too large": (
        dict(
            method="POST",
            path="/control",
            chunks=[b"{" + b" " * 500, b" " * 500, b" " * 30],
            headers=AUTH,
        ),
        413,
        "body is over the limit of 1024 bytes",
    ),
    "unknown path": (
        dict(method="POST", path="/controls", body=control_body(), headers=AUTH),
        404,
        "not found: /controls",
    ),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
async def test_every_refusal_leaves_the_node_untouched(case: str) -> None:
    request, status, message = ERROR_CASES[case]
    node = FakeNode()
    async with serving(plane_for(node, max_body_bytes=1024)) as port:
        reply = await http(port, **request)
    assert (reply.status, reply.json()) == (status, {"error": message})
    assert node.commands == [] and node.state == "ACTIVE"
    if status == 405:
        assert reply.headers["allow"] == "POST"


async def test_without_a_configured_token_control_is_disabled() -> None:
    node = FakeNode()
    async with serving(ControlPlane(node, token=None)) as port:
        reply = await http(port, "POST", "/control", body=control_body(), headers=AUTH)
    assert reply.status == 403
    assert reply.json() == {"error": "control disabled: no token configured"}
    assert node.commands == []


async def test_the_wrong_method_on_a_read_endpoint_names_the_allowed_ones() -> None:
    async with serving(plane_for(FakeNode())) as port:
        reply = await http(port, "POST", "/metrics", body=b"x")
    assert reply.status == 405 and reply.headers["allow"] == "GET, HEAD"


async def test_a_failing_node_gives_a_short_500_and_the_log_gets_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = FakeNode()
    node.explode = True
    async with serving(plane_for(node)) as port:
        reply = await http(port, "POST", "/control", body=control_body(), headers=AUTH)
    assert reply.status == 500
    assert reply.json() == {"error": "internal error; see the node's log"}
    assert b"Traceback" not in reply.body and b"secret" not in reply.body
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.name == "troupe.control" and record.exc_info is not None


async def test_a_refused_action_is_a_409_with_the_nodes_reason() -> None:
    node = FakeNode()
    node.refuse = True
    async with serving(plane_for(node)) as port:
        reply = await http(port, "POST", "/control", body=control_body("resume"), headers=AUTH)
    assert reply.status == 409
    assert reply.json()["detail"] == "resume refused: daily loss limit hit"


# --------------------------------------------------------------------------------------------
# POST /am-webhook


async def test_a_matching_firing_alert_disables_live_trading(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = FakeNode()
    async with serving(plane_for(node)) as port:
        reply = await http(
            port,
            "POST",
            "/am-webhook",
            body=am_payload(am_alert(), am_alert(name="Minor", severity="warning")),
        )
    assert reply.status == 200 and reply.json() == {"applied": 1, "refused": 0, "ignored": 1}
    assert node.commands == [
        ControlCommand(ControlActionName.DISABLE_LIVE, "alerts: TickToTradeP99High",
                       "alertmanager")
    ]
    assert node.state == "REDUCING"
    assert "disable_live reason=alerts: TickToTradeP99High source=alertmanager" in caplog.messages


async def test_a_resolved_alert_does_not_resume_by_default() -> None:
    node = FakeNode()
    async with serving(plane_for(node)) as port:
        await http(port, "POST", "/am-webhook", body=am_payload(am_alert()))
        reply = await http(port, "POST", "/am-webhook", body=am_payload(am_alert("resolved")))
    assert reply.json() == {"applied": 0, "refused": 0, "ignored": 0}
    assert [c.action for c in node.commands] == [ControlActionName.DISABLE_LIVE]
    assert node.state == "REDUCING"


async def test_resume_on_resolved_waits_for_every_firing_alert_to_clear() -> None:
    node = FakeNode()
    async with serving(plane_for(node, am_resume_on_resolved=True)) as port:
        await http(port, "POST", "/am-webhook", body=am_payload(am_alert(name="A")))
        await http(port, "POST", "/am-webhook", body=am_payload(am_alert(name="B")))
        await http(port, "POST", "/am-webhook", body=am_payload(am_alert("resolved", name="A")))
        assert node.state == "REDUCING"
        await http(port, "POST", "/am-webhook", body=am_payload(am_alert("resolved", name="B")))
    assert node.commands[-1] == ControlCommand(
        ControlActionName.RESUME, "resolved: B", "alertmanager"
    )
    assert node.commands[1].reason == "alerts: B"
    assert len(node.commands) == 3 and node.state == "ACTIVE"


async def test_an_invalid_webhook_payload_is_a_400_and_changes_nothing() -> None:
    node = FakeNode()
    async with serving(plane_for(node)) as port:
        reply = await http(port, "POST", "/am-webhook", body=b'{"version": "3", "alerts": []}')
    assert reply.status == 400
    assert reply.json() == {"error": "unsupported webhook version '3'; expected \"4\""}
    assert node.commands == []


async def test_an_am_token_when_given_is_required_as_a_bearer_token() -> None:
    node = FakeNode()
    async with serving(plane_for(node, am_token=Token(AM_TOKEN))) as port:
        without = await http(port, "POST", "/am-webhook", body=am_payload(am_alert()))
        wrong = await http(
            port,
            "POST",
            "/am-webhook",
            body=am_payload(am_alert()),
            headers=[("authorization", "Bearer nope")],
        )
        assert node.commands == []
        right = await http(
            port,
            "POST",
            "/am-webhook",
            body=am_payload(am_alert()),
            headers=[("authorization", f"Bearer {AM_TOKEN}")],
        )
    assert (without.status, wrong.status, right.status) == (401, 401, 200)
    assert len(node.commands) == 1


# --------------------------------------------------------------------------------------------
# The raw ASGI callable and construction


async def test_the_asgi_app_answers_a_fake_scope_without_a_server() -> None:
    node = FakeNode()
    plane = plane_for(node)
    sent: list[dict[str, Any]] = []
    messages = [
        {"type": "http.request", "body": control_body()[:10], "more_body": True},
        {"type": "http.request", "body": control_body()[10:], "more_body": False},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/control",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                    (b"x-auth-token", TOKEN.encode())],
    }
    await plane.asgi_app(scope, receive, send)
    assert sent[0]["status"] == 200 and json.loads(sent[1]["body"])["state"] == "HALTED"
    assert node.commands == [ControlCommand(ControlActionName.HALT, "operator says so", "http")]


async def test_an_empty_token_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="token is 0 characters long"):
        ControlPlane(FakeNode(), token=Token(""))
    with pytest.raises(RuntimeError, match="not serving yet"):
        _ = ControlPlane(FakeNode(), token=None).port


async def test_the_configs_secret_type_is_accepted_as_the_token() -> None:
    secrets = pytest.importorskip("supervision.config.secrets")
    node = FakeNode()
    async with serving(ControlPlane(node, token=secrets.Secret(TOKEN))) as port:
        reply = await http(port, "POST", "/control", body=control_body(), headers=AUTH)
    assert reply.status == 200 and len(node.commands) == 1


async def test_a_bad_token_is_logged_as_a_warning_without_the_guess(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serving(plane_for(FakeNode())) as port:
        await http(port, "POST", "/control", body=control_body(), headers=[("x-auth-token", "g1")])
    assert ("troupe.control", logging.WARNING, "refused POST /control: 401 bad token") in (
        caplog.record_tuples
    )
    assert "g1" not in caplog.text and TOKEN not in caplog.text
