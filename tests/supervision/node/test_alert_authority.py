"""Only an operator relaxes an operator's decision, on a running paper node over real HTTP.

The probes of issue 11: an operator's HALT, then a firing critical alert (it moved the node to
REDUCING); with `resume_on_resolved = true`, an operator's HALT, then one resolved alert never
seen firing, sent as text/plain with no token (it resumed trading). Now the alert only
tightens, a resolved alert resumes only a REDUCING that an alert caused, and every change names
its source in the journal and the metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from protocols.decisions import TradingState
from supervision.node.journal import iter_journal
from tests.supervision.node.test_control_node import Node

JSON = {"Content-Type": "application/json"}


def webhook(status: str, *names: str) -> bytes:
    alerts = [{"status": status, "labels": {"alertname": name, "severity": "critical"},
               "fingerprint": f"fp-{name}"} for name in names]
    return json.dumps({"version": "4", "status": status, "alerts": alerts}).encode()


def records(journal: Path, kind: str) -> list[dict[str, Any]]:
    return [r["data"] for r in iter_journal(journal) if r["kind"] == kind]


def state(node: Node) -> str:
    return str(node.readyz()[1]["state"])


def test_an_alert_never_relaxes_an_operators_halt_and_resumes_only_its_own_reducing(
        tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    node = Node(journal, "control.alertmanager.resume_on_resolved=true")
    try:
        node.wait_for(lambda: node.readyz()[0] == 200, "the node to be ready")
        assert node.control({"action": "halt", "reason": "operator drill"}) == 200
        node.wait_for(lambda: state(node) == "halted", "HALTED")

        # A firing critical alert: refused, the operator's HALT stands.
        assert node.post("/am-webhook", webhook("firing", "Lag"), JSON) == (
            200, {"applied": 0, "refused": 1, "ignored": 0})
        # A resolved alert never seen firing, as a cross-site page would send it: refused
        # before anything is read; as JSON: nothing to resume.
        status, _ = node.post("/am-webhook", webhook("resolved", "Other"),
                              {"Content-Type": "text/plain"})
        assert status == 415
        assert node.post("/am-webhook", webhook("resolved", "Other"), JSON) == (
            200, {"applied": 0, "refused": 0, "ignored": 0})
        # Even an alert that fired: the HALT is the operator's.
        assert node.post("/am-webhook", webhook("resolved", "Lag"), JSON)[1]["applied"] == 0
        assert state(node) == "halted"

        # The operator resumes; now an alert's REDUCING is the alert's to lift.
        assert node.control({"action": "resume", "reason": "drill over"}) == 200
        node.wait_for(lambda: state(node) == "active", "ACTIVE")
        assert node.post("/am-webhook", webhook("firing", "Lag", "Drift"), JSON)[1] == {
            "applied": 1, "refused": 0, "ignored": 0}
        node.wait_for(lambda: state(node) == "reducing", "REDUCING by the alert")
        assert node.post("/am-webhook", webhook("resolved", "Lag"), JSON)[1]["applied"] == 0
        assert node.post("/am-webhook", webhook("resolved", "Drift"), JSON)[1]["applied"] == 1
        node.wait_for(lambda: state(node) == "active", "ACTIVE after the alerts resolved")
        node.wait_for(lambda: node.metric("troupe_trading_state_changes_total",
                                          'source="alertmanager",state="active"') == 1,
                      "the change counted with its source")
        assert node.metric("troupe_trading_state_changes_total",
                           'source="http",state="halted"') == 1
    finally:
        assert node.stop() == 0
    actions = [(r["action"], r["source"], r["ok"], r["reason"])
               for r in records(journal, "ControlAction")]
    assert actions == [
        ("halt", "http", True, "operator drill"),
        ("disable_live", "alertmanager", False, "alerts: Lag"),
        ("resume", "http", True, "drill over"),
        ("disable_live", "alertmanager", True, "alerts: Drift, Lag"),
        ("resume", "alertmanager", True, "resolved: Drift"),
    ]
    changes = [(TradingState(r["new"]).name, r["source"])
               for r in records(journal, "TradingStateChanged")]
    assert [(new, source) for new, source in changes if source != "risk_gate"] == [
        ("HALTED", "http"), ("ACTIVE", "http"), ("REDUCING", "alertmanager"),
        ("ACTIVE", "alertmanager")]
