"""The paper node under the real Prometheus and Alertmanager, all three on loopback.

An operator watches a node with Prometheus and lets Alertmanager pull its kill switch. Here we
run exactly that: `python -m supervision.main config/paper.toml` trading on the embedded sim
venue, a Prometheus (Debian package `prometheus`) scraping its `/metrics` every second with the
recording and alert rules shipped in docs/prometheus/, and an Alertmanager (Debian package
`prometheus-alertmanager`) running docs/prometheus/alertmanager.yml with the webhook pointed at
this node. We check that

1. Prometheus scrapes the node and the recording rule turns the tick-to-trade histogram into a
   p99, which is a real latency: above zero, under a second;
2. a critical alert posted to Alertmanager reaches `/am-webhook` and moves the node to
   REDUCING, visible in `/metrics`, `/readyz` and, one scrape later, in Prometheus;
3. Alertmanager's grouping folds a storm of alerts into one payload, and the node makes of it
   one command and one journal record (refused: the node is already REDUCING, an alert only
   tightens);
4. an operator's HALT outlives the alerts' resolution: with `resume_on_resolved = true`, the
   resolved notification Alertmanager sends resumes nothing the operator decided;
5. the node still shuts down cleanly on SIGTERM, exit code 0.

Alertmanager authenticates with the shipped `http_config.authorization` (a Bearer token from a
credentials file), which the node checks against `control.alertmanager.token`.

A missing binary fails the module (CI installs them); it is never skipped. The tests share one
stack and run in file order: the alert comes after the latency check, which needs the node
quoting (REDUCING stops new orders, and with them new tick-to-trade observations).
"""

from __future__ import annotations

import functools
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from supervision.node.journal import iter_journal
from tests.e2e.e2e_kit import (
    Process,
    env_with,
    free_port,
    get_json,
    http,
    logs,
    metric_samples,
    prometheus_query,
    require_binaries,
    sample,
    single_value,
    wait_for,
)

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DOCS = ROOT / "docs" / "prometheus"
RECORDING_RULES = PROMETHEUS_DOCS / "recording_rules.yml"
ALERT_RULES = PROMETHEUS_DOCS / "alert_rules.yml"
ALERTMANAGER_CONFIG = PROMETHEUS_DOCS / "alertmanager.yml"
JOB = "troupe"
TOKEN = "e2e-control-token"
AM_TOKEN = "e2e-alertmanager-token"
TRADING_STATE_REDUCING = 1.0


@attrs.define
class Stack:
    node: Process
    prometheus: Process
    alertmanager: Process
    node_url: str
    prometheus_url: str
    alertmanager_url: str
    journal: Path

    @property
    def processes(self) -> list[Process]:
        return [self.node, self.prometheus, self.alertmanager]

    def node_metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        status, body = http("GET", f"{self.node_url}/metrics")
        assert status == 200, f"GET /metrics answered {status}: {body[:200]!r}"
        return metric_samples(body.decode())

    def query(self, promql: str) -> list[dict[str, object]]:
        return prometheus_query(self.prometheus_url, promql)


def tick_to_trade_p99_record() -> str:
    """The recording rule's name, as the shipped rules file spells it."""
    names = re.findall(r"^\s*-?\s*record:\s*(\S+)", RECORDING_RULES.read_text(), re.MULTILINE)
    matching = [name for name in names if "tick_to_trade" in name]
    assert len(matching) == 1, f"{RECORDING_RULES}: want one tick-to-trade record, got {names}"
    return matching[0]


def prometheus_config(node_port: int) -> str:
    """Scrape the node every second, evaluate the shipped rules every second."""
    return f"""\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {RECORDING_RULES}
  - {ALERT_RULES}
scrape_configs:
  - job_name: {JOB}
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:{node_port}"]
"""


def alertmanager_config(node_port: int, credentials: Path) -> str:
    """The shipped Alertmanager config, its webhook pointed at this node's port and its token
    read from `credentials`."""
    shipped = ALERTMANAGER_CONFIG.read_text()
    webhook = re.compile(r"http://127\.0\.0\.1:\d+/am-webhook")
    assert webhook.search(shipped), f"{ALERTMANAGER_CONFIG} has no loopback /am-webhook URL"
    token_file = re.compile(r"credentials_file: \S+")
    assert token_file.search(shipped), f"{ALERTMANAGER_CONFIG} sends no webhook token"
    config = webhook.sub(f"http://127.0.0.1:{node_port}/am-webhook", shipped)
    return token_file.sub(f"credentials_file: {credentials}", config)


def answers_ok(url: str) -> bool:
    return http("GET", url)[0] == 200


def start_node(tmp: Path) -> tuple[Process, str]:
    node = Process(
        "node",
        [sys.executable, "-m", "supervision.main", "config/paper.toml",
         "--set", f"journal.path={tmp / 'journal.jsonl'}", "--set", "control.listen_port=0",
         "--set", "market.speed=5", "--set", "node.status_interval_s=1",
         "--set", 'control.alertmanager.token={ env = "TROUPE_AM_TOKEN" }',
         "--set", "control.alertmanager.resume_on_resolved=true"],
        tmp, cwd=ROOT, env=env_with(TROUPE_CONTROL_TOKEN=TOKEN, TROUPE_AM_TOKEN=AM_TOKEN,
                                    PYTHONUNBUFFERED="1"),
    )
    port = wait_for(
        lambda: re.search(r"control plane: http://127\.0\.0\.1:(\d+)", node.stdout()),
        timeout=30, what="the node never printed its control-plane address", processes=[node],
    ).group(1)
    return node, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus_bin, alertmanager_bin = require_binaries(
        ("prometheus",), ("prometheus-alertmanager", "alertmanager"))
    tmp = tmp_path_factory.mktemp("e2e")
    started: list[Process] = []
    try:
        node, node_url = start_node(tmp)
        started.append(node)
        node_port = int(node_url.rsplit(":", 1)[1])

        (tmp / "prometheus.yml").write_text(prometheus_config(node_port))
        prometheus_port = free_port()
        prometheus = Process(
            "prometheus",
            [prometheus_bin, f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"],
            tmp,
        )
        started.append(prometheus)

        credentials = tmp / "alertmanager.token"
        credentials.write_text(AM_TOKEN + "\n")
        credentials.chmod(0o600)
        (tmp / "alertmanager.yml").write_text(alertmanager_config(node_port, credentials))
        alertmanager_port = free_port()
        alertmanager = Process(
            "alertmanager",
            [alertmanager_bin, f"--config.file={tmp / 'alertmanager.yml'}",
             f"--storage.path={tmp / 'alertmanager'}",
             f"--web.listen-address=127.0.0.1:{alertmanager_port}",
             "--cluster.listen-address="],  # empty: no clustering, no :9094
            tmp,
        )
        started.append(alertmanager)

        stack = Stack(node, prometheus, alertmanager, node_url,
                      f"http://127.0.0.1:{prometheus_port}",
                      f"http://127.0.0.1:{alertmanager_port}", tmp / "journal.jsonl")
        for name, url in [("prometheus", stack.prometheus_url),
                          ("alertmanager", stack.alertmanager_url)]:
            wait_for(functools.partial(answers_ok, f"{url}/-/ready"),
                     timeout=20, what=f"{name} never became ready", processes=started)
        wait_for(lambda: get_json(f"{node_url}/readyz")[1].get("state") == "active",
                 timeout=30, what="the node never reached state active", processes=started)
        yield stack
    finally:
        for process in reversed(started):
            process.stop()


def test_prometheus_scrapes_the_node_and_records_a_tick_to_trade_p99(stack: Stack) -> None:
    wait_for(lambda: single_value(stack.query(f'up{{job="{JOB}"}}')) == 1.0,
             timeout=20, what=f'up{{job="{JOB}"}} never became 1', processes=stack.processes)
    build_info = stack.query(f'troupe_build_info{{job="{JOB}",mode="paper"}}')
    assert len(build_info) == 1, f'want one troupe_build_info{{mode="paper"}}, got {build_info}'

    record = tick_to_trade_p99_record()

    def positive_p99() -> float | None:
        value = single_value(stack.query(record))
        return value if value is not None and value > 0 else None

    p99 = wait_for(positive_p99, timeout=40, what=f"{record} never yielded a positive value",
                   processes=stack.processes)
    assert p99 < 1.0, f"{record} = {p99} s: a tick-to-trade p99 of a second or more"

    # Every shipped rule, recording and alerting, evaluates without error on real data.
    def evaluated_rules() -> list[dict[str, str]] | None:
        groups = get_json(f"{stack.prometheus_url}/api/v1/rules")[1]["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if rules and all(r["health"] != "unknown" for r in rules) else None

    rules = wait_for(evaluated_rules, timeout=10, what="the rules were never evaluated",
                     processes=stack.processes)
    broken = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert not broken, f"rules failing in Prometheus: {broken}"


def test_a_critical_alert_through_alertmanager_moves_the_node_to_reducing(stack: Stack) -> None:
    before = stack.node_metrics()
    assert sample(before, "troupe_trading_state") == 0.0, "the node is not active to begin with"

    alert = [{"labels": {"alertname": "TestCritical", "severity": "critical", "job": JOB},
              "annotations": {"summary": "end-to-end test: stop adding risk"}}]
    status, body = http("POST", f"{stack.alertmanager_url}/api/v2/alerts", alert)
    assert status == 200, f"Alertmanager refused the alert: {status} {body[:300]!r}"

    def reducing_by_alertmanager() -> bool:
        metrics = stack.node_metrics()
        actions = sample(metrics, "troupe_control_actions_total",
                         action="disable_live", source="alertmanager")
        return (sample(metrics, "troupe_trading_state") == TRADING_STATE_REDUCING
                and actions is not None and actions >= 1)

    wait_for(reducing_by_alertmanager, timeout=20, processes=stack.processes,
             what="the alert never reached /am-webhook: no troupe_trading_state 1 with "
                  'troupe_control_actions_total{action="disable_live",source="alertmanager"}')

    status, readiness = get_json(f"{stack.node_url}/readyz")
    assert status == 503, f"/readyz answered {status} while reducing: {readiness}"
    assert readiness["state"] == "reducing" and readiness["mode"] == "paper", readiness

    wait_for(lambda: single_value(stack.query(f'troupe_trading_state{{job="{JOB}"}}'))
             == TRADING_STATE_REDUCING,
             timeout=10, what="Prometheus never saw troupe_trading_state 1",
             processes=stack.processes)


def alertmanager_actions(stack: Stack) -> list[dict[str, Any]]:
    return [record["data"] for record in iter_journal(stack.journal)
            if record["kind"] == "ControlAction" and record["data"]["source"] == "alertmanager"]


def post_alerts(stack: Stack, alerts: list[dict[str, Any]]) -> None:
    status, body = http("POST", f"{stack.alertmanager_url}/api/v2/alerts", alerts)
    assert status == 200, f"Alertmanager refused the alerts: {status} {body[:300]!r}"


STORM = [{"labels": {"alertname": "Storm", "severity": "critical", "job": JOB,
                     "instance": f"i{i:03d}"}} for i in range(200)]


def test_a_storm_of_alerts_in_one_group_is_one_command_and_one_record(stack: Stack) -> None:
    before = len(alertmanager_actions(stack))
    post_alerts(stack, STORM)
    storm = wait_for(lambda: [a for a in alertmanager_actions(stack)[before:]
                              if "Storm" in a["reason"]] or None,
                     timeout=20, what="the storm never reached /am-webhook",
                     processes=stack.processes)
    time.sleep(2)  # anything Alertmanager would still send for this group has been sent
    records = alertmanager_actions(stack)[before:]
    assert len(records) == 1, records
    assert storm[0]["reason"] == "alerts: Storm" and storm[0]["ok"] is False  # already reducing
    assert storm[0]["detail"] == "already reducing: an alert only tightens"


def test_an_operators_halt_outlives_the_resolution_of_the_alerts(stack: Stack) -> None:
    status, _ = http("POST", f"{stack.node_url}/control",
                     {"action": "halt", "reason": "operator takes over"},
                     headers={"X-Auth-Token": TOKEN})
    assert status == 200
    wait_for(lambda: get_json(f"{stack.node_url}/readyz")[1].get("state") == "halted",
             timeout=10, what="the node never halted", processes=stack.processes)
    now = datetime.now(UTC).isoformat()
    resolved = [{**alert, "endsAt": now} for alert in
                [{"labels": {"alertname": "TestCritical", "severity": "critical", "job": JOB}},
                 *STORM]]
    before = len(alertmanager_actions(stack))
    post_alerts(stack, resolved)
    resumes = wait_for(lambda: [a for a in alertmanager_actions(stack)[before:]
                                if a["action"] == "resume"] or None,
                       timeout=30, what="no resolved notification reached /am-webhook",
                       processes=stack.processes)
    assert all(not a["ok"] for a in resumes), resumes
    assert "not by an alert: only an operator resumes it" in resumes[0]["detail"]
    assert get_json(f"{stack.node_url}/readyz")[1]["state"] == "halted"


def test_the_node_exits_cleanly_on_sigterm(stack: Stack) -> None:
    code = stack.node.stop(timeout=30)
    assert code == 0, f"the node exited {code} on SIGTERM\n{logs([stack.node])}"
    assert "Traceback" not in stack.node.stderr_path.read_text(), logs([stack.node])
