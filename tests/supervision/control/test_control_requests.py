"""The control plane's request schemas, without sockets: every refusal says what was wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from protocols.control import (
    MAX_REASON_CHARS,
    AlertmanagerAlert,
    ControlActionName,
    ControlCommand,
    ControlOutcome,
    ControlRequestError,
    Readiness,
    alert_key,
    clean_reason,
    control_reply,
    matching_alerts,
    parse_am_webhook,
    parse_control_body,
    readiness_reply,
)

VALID_ACTIONS = "disable_live, reduce_only, halt, resume, flatten, cancel_all"


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def refusal(parse: Any, raw: bytes) -> ControlRequestError:
    with pytest.raises(ControlRequestError) as caught:
        parse(raw)
    assert caught.value.status == 400
    return caught.value


# --------------------------------------------------------------------------------------------
# POST /control


def test_a_well_formed_body_becomes_a_command_from_http() -> None:
    command = parse_control_body(body({"action": "disable_live", "reason": "venue looks odd"}))
    assert command == ControlCommand(ControlActionName.DISABLE_LIVE, "venue looks odd", "http")
    assert command.log_line() == "disable_live reason=venue looks odd source=http"


@pytest.mark.parametrize("action", list(ControlActionName))
def test_every_action_is_accepted(action: ControlActionName) -> None:
    assert parse_control_body(body({"action": action.value, "reason": "r"})).action is action


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "body is not valid JSON: Expecting property name enclosed in double quotes"),
        (b"", "body is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        (b"\xff\xfe", "body is not UTF-8: invalid start byte"),
        (b"[1, 2]", "body must be a JSON object, got an array"),
        (b'"halt"', "body must be a JSON object, got a string"),
        (b"null", "body must be a JSON object, got null"),
        (b"[" * 100_000 + b"]" * 100_000, "body is not valid JSON: nested too deeply"),
        # Parsers disagree on which of two equal keys wins: a proxy or an audit log may read
        # "halt" where the node would apply "resume".
        (b'{"action": "halt", "reason": "x", "action": "resume"}',
         "body is not valid JSON: key 'action' appears twice"),
        (b'{"action": "halt", "reason": {"a": 1, "a": 2}}',
         "body is not valid JSON: key 'a' appears twice"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(raw: bytes, message: str) -> None:
    assert refusal(parse_control_body, raw).message.startswith(message)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"reason": "r"}, f"missing action; one of: {VALID_ACTIONS}"),
        ({"action": "panic", "reason": "r"}, f"unknown action 'panic'; one of: {VALID_ACTIONS}"),
        ({"action": "HALT", "reason": "r"}, f"unknown action 'HALT'; one of: {VALID_ACTIONS}"),
        (
            {"action": 3, "reason": "r"},
            f"action must be a string, got a number; one of: {VALID_ACTIONS}",
        ),
        ({"action": "halt"}, "missing reason: say why, it is logged and journaled"),
        ({"action": "halt", "reason": ""}, "reason must not be empty"),
        ({"action": "halt", "reason": "   "}, "reason must not be empty"),
        ({"action": "halt", "reason": None}, "reason must be a string, got null"),
        ({"action": "halt", "reason": ["x"]}, "reason must be a string, got an array"),
        ({"action": "halt", "reason": True}, "reason must be a string, got a boolean"),
        (
            {"action": "halt", "reason": "x" * (MAX_REASON_CHARS + 1)},
            "reason is 501 characters long, at most 500 are allowed",
        ),
        (
            {"action": "halt", "reason": "ok\nhalt reason=forged"},
            "reason must not contain control characters (newlines, tabs, escapes)",
        ),
        (
            {"action": "halt", "reason": "r", "reson": "typo", "force": True},
            "unknown key(s): force, reson; expected only action, reason and instrument",
        ),
        (
            {"action": "halt", "reason": "r", "instrument": "BTCUSDT"},
            "halt applies to the whole account; an instrument may be named only for resume, "
            "flatten, cancel_all",
        ),
        ({"action": "resume", "reason": "r", "instrument": 7},
         "instrument must be a string, got a number"),
        ({"action": "resume", "reason": "r", "instrument": ""},
         "instrument must be 1 to 64 characters long"),
        ({"action": "resume", "reason": "r", "instrument": "BTC\nUSDT"},
         "instrument may hold only letters, digits and - _ . / :"),
    ],
)
def test_each_bad_control_body_says_what_is_wrong(document: Any, message: str) -> None:
    assert refusal(parse_control_body, body(document)).message == message


def test_resume_flatten_and_cancel_all_may_name_one_instrument() -> None:
    for action in ("resume", "flatten", "cancel_all"):
        command = parse_control_body(json.dumps(
            {"action": action, "reason": "spec checked", "instrument": "BTCUSDT"}).encode())
        assert command.instrument == "BTCUSDT"
        assert command.log_line().endswith(" instrument=BTCUSDT")
    assert parse_control_body(b'{"action": "resume", "reason": "r"}').instrument is None


def test_a_reason_of_exactly_the_limit_is_accepted() -> None:
    reason = "x" * MAX_REASON_CHARS
    assert parse_control_body(body({"action": "halt", "reason": reason})).reason == reason


def test_a_command_cannot_be_built_with_a_forged_reason() -> None:
    with pytest.raises(ValueError, match="control characters"):
        ControlCommand(ControlActionName.HALT, "a\rb", "http")
    with pytest.raises(ValueError, match="not a valid ControlActionName"):
        ControlCommand("explode", "r", "http")  # type: ignore[arg-type]


def test_clean_reason_makes_any_alert_name_a_valid_reason() -> None:
    assert clean_reason("Tick\nToTrade\tHigh") == "Tick ToTrade High"
    assert clean_reason("\n") == "unnamed"
    long = clean_reason("a" * 2000)
    assert len(long) == MAX_REASON_CHARS and long.endswith("...")
    ControlCommand(ControlActionName.DISABLE_LIVE, long, "alertmanager")


# --------------------------------------------------------------------------------------------
# Replies


def test_replies_have_the_documented_shape() -> None:
    command = ControlCommand(ControlActionName.HALT, "r", "http")
    reply = json.loads(control_reply(command, ControlOutcome(True, "HALTED", "")))
    assert reply == {"ok": True, "action": "halt", "state": "HALTED", "detail": ""}
    ready = Readiness(True, False, "observe", "ACTIVE", {"books": {"BTCUSDT": "synced"}})
    assert json.loads(readiness_reply(ready)) == {
        "ready": False,
        "mode": "observe",
        "state": "ACTIVE",
        "ready_md": True,
        "ready_trading": False,
        "detail": {"books": {"BTCUSDT": "synced"}},
    }


# --------------------------------------------------------------------------------------------
# POST /am-webhook


def am_alert(status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "TickToTradeP99High", "severity": "critical", **labels},
        "annotations": {"summary": "p99 above 5 ms"},
        "startsAt": "2024-05-01T12:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": "c0ffee",
    }


def am_payload(*alerts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="TickToTradeP99High"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "troupe",
        "groupLabels": {"alertname": "TickToTradeP99High"},
        "commonLabels": {"severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
        **extra,
    }


def test_a_webhook_payload_gives_its_alerts_and_ignores_unknown_fields() -> None:
    raw = am_alert()
    raw["someFutureField"] = {"nested": [1, 2]}
    (alert,) = parse_am_webhook(body(am_payload(raw, anotherNewField=42)))
    assert alert.status == "firing" and alert.firing
    assert alert.labels == {"alertname": "TickToTradeP99High", "severity": "critical"}
    assert alert.annotations == {"summary": "p99 above 5 ms"}
    assert alert.starts_at == "2024-05-01T12:00:00Z"
    assert alert.fingerprint == "c0ffee"
    assert alert.name == "TickToTradeP99High"
    assert alert_key(alert) == "c0ffee"


def test_optional_alert_fields_may_be_absent() -> None:
    (alert,) = parse_am_webhook(body(am_payload({"status": "resolved", "labels": {}})))
    assert alert.annotations == {} and alert.starts_at == "" and alert.name == "unnamed alert"
    assert alert_key(alert) == "[]"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "payload must be a JSON object, got an array"),
        ({"alerts": []}, 'missing version; expected "4"'),
        ({"version": "3", "alerts": []}, "unsupported webhook version '3'; expected \"4\""),
        ({"version": 4, "alerts": []}, 'unsupported webhook version 4; expected "4"'),
        ({"version": "4"}, "missing alerts list"),
        ({"version": "4", "alerts": {}}, "alerts must be a list, got an object"),
        ({"version": "4", "alerts": ["x"]}, "alerts[0] must be an object, got a string"),
        (
            am_payload({"status": "pending", "labels": {}}),
            'alerts[0].status must be "firing" or "resolved", got \'pending\'',
        ),
        (am_payload({"status": "firing"}), "alerts[0] has no labels"),
        (
            am_payload(am_alert(), {"status": "firing", "labels": {"severity": 1}}),
            "alerts[1].labels.severity must be a string, got a number",
        ),
        (
            am_payload({"status": "firing", "labels": []}),
            "alerts[0].labels must be an object, got an array",
        ),
        (
            am_payload({"status": "firing", "labels": {}, "annotations": {"a": None}}),
            "alerts[0].annotations.a must be a string, got null",
        ),
        (
            am_payload({"status": "firing", "labels": {}, "startsAt": 17}),
            "alerts[0].startsAt must be a string, got a number",
        ),
    ],
)
def test_each_bad_webhook_payload_says_what_is_wrong(document: Any, message: str) -> None:
    assert refusal(parse_am_webhook, body(document)).message == message


def test_a_webhook_that_is_not_json_is_refused() -> None:
    assert refusal(parse_am_webhook, b"<html>").message.startswith("body is not valid JSON")
    twice = b'{"version": "4", "alerts": [], "version": "3"}'
    assert refusal(parse_am_webhook, twice).message == \
        "body is not valid JSON: key 'version' appears twice"


def test_matching_needs_every_matcher_and_splits_firing_from_resolved() -> None:
    alerts = parse_am_webhook(
        body(
            am_payload(
                am_alert(),
                am_alert(severity="warning"),
                am_alert("resolved", venue="binance"),
                {"status": "firing", "labels": {"alertname": "NoLabelsWeCareAbout"}},
            )
        )
    )
    firing, resolved = matching_alerts(alerts, {"severity": "critical"})
    assert firing == [alerts[0]] and resolved == [alerts[2]]
    firing, resolved = matching_alerts(alerts, {"severity": "critical", "venue": "binance"})
    assert firing == [] and resolved == [alerts[2]]
    firing, resolved = matching_alerts(alerts, {})
    assert len(firing) == 3 and len(resolved) == 1


def test_an_alert_is_immutable() -> None:
    alert = AlertmanagerAlert("firing", {"alertname": "A"})
    with pytest.raises(TypeError):
        alert.labels["alertname"] = "B"  # type: ignore[index]
