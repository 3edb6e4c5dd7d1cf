"""The Prometheus assets in docs/prometheus/, checked by Prometheus's own tools.

The test command (tests/run) installs the Debian packages `prometheus` (promtool) and
`prometheus-alertmanager` (amtool). A missing tool is a failure, not a skip: these checks are
the point of the assets.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from actors.behaviour import Behaviour
from supervision.metrics.catalog import CATALOG
from supervision.metrics.prometheus import PrometheusMetrics
from supervision.runtime.deterministic import DeterministicHost

ASSETS = Path(__file__).resolve().parents[3] / "docs" / "prometheus"
RECORD = {"counter": "count", "gauge": "gauge", "histogram": "observe"}


class Greeter(Behaviour):
    def on_start(self, ctx):
        ctx.tell(ctx.self_ref, "hello")

    def receive(self, message, ctx):
        return message


def feed_every_catalogued_metric(sink: PrometheusMetrics) -> None:
    for spec in CATALOG.values():
        if spec.origin == "context":
            record = getattr(sink, RECORD[spec.kind])
            record("some-actor", spec.name, 1, {label: "x" for label in spec.labels})


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install prometheus prometheus-alertmanager "
                    "(tests/run does it)")
    return path


def run(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, input=stdin.decode() if stdin else None, capture_output=True,
                          text=True, cwd=ASSETS, timeout=60)
    assert done.returncode == 0, f"{' '.join(argv)} said:\n{done.stdout}\n{done.stderr}"
    return done


def test_the_rule_files_are_valid():
    out = run(tool("promtool"), "check", "rules", "recording_rules.yml", "alert_rules.yml")
    assert "SUCCESS: 3 rules found" in out.stdout
    alerts = (ASSETS / "alert_rules.yml").read_text().count("- alert: ")
    assert alerts >= 6 and f"SUCCESS: {alerts} rules found" in out.stdout


def test_the_rule_unit_tests_pass():
    out = run(tool("promtool"), "test", "rules", "rules_test.yml")
    assert "SUCCESS" in out.stdout + out.stderr


def test_every_rule_has_a_unit_test():
    tests = (ASSETS / "rules_test.yml").read_text()
    for record in ("tick_to_trade_seconds", "order_ack_seconds", "cancel_ack_seconds"):
        assert f"troupe:{record}:p99_1m" in tests
    for alert in ("TickToTradeP99High", "NoMarketData", "RestartStorm", "RejectRateHigh",
                  "SupervisorGaveUp", "ReconciliationDrift"):
        assert f"alertname: {alert}" in tests


def test_the_example_prometheus_config_is_valid():
    run(tool("promtool"), "check", "config", "prometheus.yml")


def test_the_alertmanager_config_is_valid_and_routes_critical_alerts_to_the_node():
    run(tool("amtool"), "check-config", "alertmanager.yml")
    routed = run(tool("amtool"), "config", "routes", "test", "--config.file=alertmanager.yml",
                 "--verify.receivers=troupe-node", "severity=critical", "alertname=NoMarketData")
    assert routed.stdout.strip() == "troupe-node"
    routed = run(tool("amtool"), "config", "routes", "test", "--config.file=alertmanager.yml",
                 "severity=warning", "alertname=RestartStorm")
    assert routed.stdout.strip() == "null"


def test_the_metrics_text_has_no_problem_promtool_can_find():
    sink = PrometheusMetrics()
    feed_every_catalogued_metric(sink)
    sink.count("a", "troupe_not_catalogued", 1, {"kind": "x"})
    sink.observe("a", "troupe_not_catalogued_seconds", 0.1, {})
    sink.set_build_info(version="0.1.0", mode="paper", profile="paper", node="n1")
    host = DeterministicHost(metrics=sink)
    sink.attach_host(host)
    host.spawn("greeter", Greeter)
    host.run_until_idle()
    body, _ = sink.text()
    assert b"troupe_actor_handling_seconds{" in body and b"troupe_build_info{" in body
    out = run(tool("promtool"), "check", "metrics", stdin=body)
    assert out.stdout.strip() == "" and out.stderr.strip() == ""


def test_promtool_check_metrics_does_find_problems():
    """The check above can fail: the same tool on text that breaks the naming rules."""
    bad = b"# HELP troupe_orders Orders.\n# TYPE troupe_orders counter\ntroupe_orders 1\n"
    done = subprocess.run([tool("promtool"), "check", "metrics"], input=bad, capture_output=True,
                          timeout=60)
    assert done.returncode != 0 and b"_total" in done.stdout + done.stderr

