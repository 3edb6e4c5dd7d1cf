"""The Prometheus sink: what behaviours record is what /metrics shows, by the catalogue's rules.

Each test reads the exposition text the way Prometheus would (through prometheus_client's own
parser), or the registry's sample values, never the sink's internals.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from actors.behaviour import Behaviour
from supervision.metrics.catalog import CATALOG, LATENCY_BUCKETS, MetricSpec, validate
from supervision.metrics.prometheus import PrometheusMetrics
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.specs import ChildSpec, SupervisorSpec
from supervision.runtime.supervisor import Supervisor, WhichChildren

RECORD = {"counter": "count", "gauge": "gauge", "histogram": "observe"}


def families(sink: PrometheusMetrics) -> dict[str, tuple[str, list]]:
    body, _ = sink.text()
    return {f.name: (f.type, f.samples) for f in text_string_to_metric_families(body.decode())}


def value(sink: PrometheusMetrics, name: str, **labels: str) -> float | None:
    return sink.registry.get_sample_value(name, labels)


def dropped(sink: PrometheusMetrics, metric: str, reason: str) -> float:
    return value(sink, "troupe_metrics_dropped_total", metric=metric, reason=reason) or 0.0


def feed_every_catalogued_metric(sink: PrometheusMetrics) -> None:
    for spec in CATALOG.values():
        if spec.origin == "context":
            record = getattr(sink, RECORD[spec.kind])
            record("some-actor", spec.name, 1, {label: "x" for label in spec.labels})


class Echo(Behaviour):
    def receive(self, message, ctx):
        if message == "fail":
            raise RuntimeError("asked to fail")
        return message


# -- the catalogue ------------------------------------------------------------------------------
def test_every_catalogued_metric_is_exported_with_its_declared_type():
    sink = PrometheusMetrics()
    feed_every_catalogued_metric(sink)
    exported = families(sink)
    for spec in CATALOG.values():
        family = spec.name.removesuffix("_total") if spec.kind == "counter" else spec.name
        if spec.origin == "collector" and family not in exported:
            continue  # per-actor families appear once a host is attached
        assert exported[family][0] == spec.kind, spec.name


def test_the_three_latency_histograms_have_buckets_from_100us_to_1s():
    sink = PrometheusMetrics()
    for name in ("troupe_tick_to_trade_seconds", "troupe_order_ack_seconds",
                 "troupe_cancel_ack_seconds"):
        sink.observe("venue", name, 0.0003, {})
        kind, samples = families(sink)[name]
        bounds = [float(s.labels["le"]) for s in samples if s.name == f"{name}_bucket"]
        assert kind == "histogram"
        assert bounds == [*LATENCY_BUCKETS, float("inf")]
        assert bounds[0] == 0.0001 and bounds[-2] == 1.0
        assert value(sink, f"{name}_bucket", le="0.0005") == 1
        assert value(sink, f"{name}_bucket", le="0.00025") == 0


def test_the_catalogue_refuses_what_breaks_the_conventions():
    with pytest.raises(ValueError) as refused:
        validate([
            MetricSpec("troupe_orders", "counter", "a counter without _total"),
            MetricSpec("troupe_depth_total", "gauge", "a gauge that reads as a counter"),
            MetricSpec("orders_total", "counter", "no troupe_ prefix"),
            MetricSpec("troupe_fills_total", "counter", "by order", ("order_id",)),
            MetricSpec("troupe_acks_total", "counter", "by client id", ("cloid",)),
            MetricSpec("troupe_lag_seconds", "histogram", "no buckets"),
            MetricSpec("troupe_x_total", "counter", " "),
        ])
    message = str(refused.value)
    for name in ("troupe_orders:", "troupe_depth_total:", "orders_total:", "'order_id'",
                 "'cloid'", "troupe_lag_seconds:", "troupe_x_total: no help"):
        assert name in message


# -- the rules of recording -----------------------------------------------------------------------
def test_the_actor_is_not_a_label_counters_from_two_actors_add_up():
    sink = PrometheusMetrics()
    sink.count("strategy-a", "troupe_orders_sent_total", 2, {"venue": "sim", "kind": "new"})
    sink.count("strategy-b", "troupe_orders_sent_total", 3, {"kind": "new", "venue": "sim"})
    assert value(sink, "troupe_orders_sent_total", venue="sim", kind="new") == 5
    assert sink.total("troupe_orders_sent_total") == 5
    assert sink.total("troupe_orders_sent_total", actor="strategy-b") == 3
    assert sink.counters[("strategy-a", "troupe_orders_sent_total",
                          (("kind", "new"), ("venue", "sim")))] == 2


def test_money_arrives_as_decimal_and_is_converted_at_the_boundary():
    sink = PrometheusMetrics()
    sink.count("venue", "troupe_fees_quote_total", Decimal("0.0125"), {"venue": "sim"})
    sink.gauge("portfolio", "troupe_portfolio_realized_pnl", Decimal("-3.5"), {})
    assert value(sink, "troupe_fees_quote_total", venue="sim") == 0.0125
    assert value(sink, "troupe_portfolio_realized_pnl") == -3.5


def test_an_unknown_name_is_exported_typed_by_the_call_that_first_used_it():
    sink = PrometheusMetrics()
    sink.count("a", "troupe_widgets_total", 1, {"colour": "red"})
    sink.count("a", "troupe_test_messages", 1, {})  # a counter always ends in _total on the wire
    sink.gauge("a", "troupe_widget_depth", 4, {})
    sink.observe("a", "troupe_widget_seconds", 0.2, {"colour": "blue"})
    exported = families(sink)
    assert exported["troupe_widgets"][0] == "counter"
    assert value(sink, "troupe_widgets_total", colour="red") == 1
    assert value(sink, "troupe_test_messages_total") == 1
    assert exported["troupe_widget_depth"][0] == "gauge"
    assert exported["troupe_widget_seconds"][0] == "histogram"
    assert value(sink, "troupe_widget_seconds_bucket", colour="blue", le="0.25") == 1
    assert value(sink, "troupe_widget_seconds_bucket", colour="blue", le="10.0") == 1  # defaults


def test_a_use_with_other_label_names_is_dropped_and_counted_never_raised():
    sink = PrometheusMetrics()
    sink.count("a", "troupe_widgets_total", 1, {"colour": "red"})
    sink.count("a", "troupe_widgets_total", 1, {"shape": "round"})
    sink.count("a", "troupe_widgets_total", 1, {})
    sink.count("venue", "troupe_orders_acked_total", 1, {"instrument": "BTC"})  # declared: venue
    assert value(sink, "troupe_widgets_total", colour="red") == 1
    assert value(sink, "troupe_metrics_label_mismatch_total", metric="troupe_widgets_total") == 2
    assert value(sink, "troupe_metrics_label_mismatch_total",
                 metric="troupe_orders_acked_total") == 1
    assert sink.total("troupe_widgets_total") == 1


def test_a_counter_never_goes_down_a_negative_increment_is_dropped_and_counted():
    sink = PrometheusMetrics()
    sink.count("a", "troupe_orders_acked_total", 3, {"venue": "sim"})
    sink.count("a", "troupe_orders_acked_total", -1, {"venue": "sim"})
    sink.count("a", "troupe_orders_acked_total", float("nan"), {"venue": "sim"})
    assert value(sink, "troupe_orders_acked_total", venue="sim") == 3
    assert sink.total("troupe_orders_acked_total") == 3
    assert dropped(sink, "troupe_orders_acked_total", "negative_counter") == 1
    assert dropped(sink, "troupe_orders_acked_total", "invalid_value") == 1


def test_order_ids_never_become_labels():
    sink = PrometheusMetrics()
    long_reason = "client order 0123456789abcdef0123456789abcdef0123456789abcdef-0123456789"
    sink.count("venue", "troupe_orders_rejected_total", 1, {"venue": "sim", "reason": long_reason})
    sink.count("venue", "troupe_acks_total", 1, {"order_id": "42"})
    sink.count("venue", "troupe_acks_total", 1, {"cid": "42"})
    sink.observe("venue", "troupe_ack_seconds", 0.1, {"client_order_id": "x"})
    assert dropped(sink, "troupe_orders_rejected_total", "label_too_long") == 1
    assert dropped(sink, "troupe_acks_total", "forbidden_label") == 2
    assert dropped(sink, "troupe_ack_seconds", "forbidden_label") == 1
    body, _ = sink.text()
    assert b"order_id=" not in body and b"cid=" not in body and long_reason.encode() not in body
    sink.count("venue", "troupe_orders_rejected_total", 1, {"venue": "sim", "reason": "x" * 64})
    assert value(sink, "troupe_orders_rejected_total", venue="sim", reason="x" * 64) == 1


def test_bad_names_wrong_kinds_and_bad_values_are_dropped_and_counted():
    sink = PrometheusMetrics()
    sink.count("a", "orders_total", 1, {})  # not troupe_
    sink.gauge("a", "troupe_depth_total", 1, {})  # a gauge that reads as a counter
    sink.count("a", "troupe_trading_state", 1, {})  # catalogued as a gauge
    sink.count("a", "troupe_actor_restarts_total", 1, {"actor": "x"})  # computed by the sink
    sink.observe("a", "troupe_order_ack_seconds", "soon", {})  # type: ignore[arg-type]
    sink.gauge("a", "troupe_trading_state", 1, {"x": ["unhashable"]})  # type: ignore[dict-item]
    assert dropped(sink, "<invalid>", "invalid_name") == 1
    assert dropped(sink, "troupe_depth_total", "invalid_name") == 1
    assert dropped(sink, "troupe_trading_state", "kind_mismatch") == 1
    assert dropped(sink, "troupe_actor_restarts_total", "reserved_name") == 1
    assert dropped(sink, "troupe_order_ack_seconds", "error") == 1
    assert dropped(sink, "troupe_trading_state", "error") == 1


def test_metrics_recorded_by_a_behaviour_through_its_context(host):
    class Metered(Behaviour):
        def receive(self, message, ctx):
            ctx.count("troupe_orders_sent_total", 1, venue="sim", kind="new")
            ctx.gauge("troupe_trading_state", 1)
            ctx.observe("troupe_tick_to_trade_seconds", 0.002)
            ctx.count("troupe_orders_sent_total", -5, venue="sim", kind="new")  # not raised

    sink = host.metrics = PrometheusMetrics()
    ref = host.spawn("metered", Metered)
    for _ in range(3):
        ref.tell("go")
    host.settle()
    assert host.actor("metered").failures == 0
    assert sink.total("troupe_orders_sent_total", actor="metered") == 3
    assert value(sink, "troupe_trading_state") == 1
    assert value(sink, "troupe_tick_to_trade_seconds_count") == 3


# -- what the sink computes at scrape time -------------------------------------------------------
def test_per_actor_figures_after_a_supervised_actor_fails_and_restarts():
    sink = PrometheusMetrics()
    host = DeterministicHost(seed=7, metrics=sink)
    sink.attach_host(host)
    spec = SupervisorSpec(children=(ChildSpec("worker", Echo),), intensity=5)
    sup = host.spawn("sup", lambda: Supervisor(spec))
    host.run_until_idle(1.0)
    worker = next(c.ref for c in host.ask(sup, WhichChildren()))
    for message in ("fail", "hello", "fail"):
        worker.tell(message)
        host.run_until_idle(1.0)

    assert value(sink, "troupe_actor_restarts_total", actor="sup/worker") == 2
    assert value(sink, "troupe_actor_failures_total", actor="sup/worker") == 2
    assert value(sink, "troupe_actor_restarts_total", actor="sup") == 0
    assert value(sink, "troupe_actor_escalations_total", actor="sup") == 0
    assert value(sink, "troupe_actor_mailbox_depth", actor="sup/worker") == 0
    assert value(sink, "troupe_actor_mailbox_dropped_total", actor="sup/worker",
                 kind="rejected") == 0
    assert value(sink, "troupe_actor_messages_handled_total", actor="sup/worker") >= 3
    assert value(sink, "troupe_supervision_events_total", kind="restart") == 2
    assert value(sink, "troupe_supervision_events_total", kind="failure") == 2


def test_escalations_and_the_supervision_log_of_a_host_with_another_sink():
    sink = PrometheusMetrics()
    host = DeterministicHost(seed=7)  # keeps its InMemoryMetrics: the log still reaches /metrics
    sink.attach_host(host)
    sink.attach_host(host)  # twice is once
    spec = SupervisorSpec(children=(ChildSpec("worker", Echo),), intensity=0)
    sup = host.spawn("sup", lambda: Supervisor(spec))
    host.run_until_idle(1.0)
    next(c.ref for c in host.ask(sup, WhichChildren())).tell("fail")
    host.run_until_idle(1.0)
    assert value(sink, "troupe_supervision_events_total", kind="escalation") == 1
    assert value(sink, "troupe_supervision_events_total", kind="give_up") == 1
    assert value(sink, "troupe_actor_failures_total", actor="sup/worker") == 1


def test_a_supervisor_that_gives_up_counts_an_escalation():
    sink = PrometheusMetrics()
    host = DeterministicHost(seed=7, metrics=sink)
    sink.attach_host(host)
    spec = SupervisorSpec(children=(ChildSpec("worker", Echo),), intensity=0)
    sup = host.spawn("sup", lambda: Supervisor(spec))
    host.run_until_idle(1.0)
    next(c.ref for c in host.ask(sup, WhichChildren())).tell("fail")
    host.run_until_idle(1.0)
    assert value(sink, "troupe_actor_escalations_total", actor="sup") == 1
    assert value(sink, "troupe_actor_escalations_total", actor="sup/worker") == 0
    assert value(sink, "troupe_supervision_events_total", kind="escalation") == 1


def test_dropped_and_conflated_messages_per_actor():
    from supervision.runtime.mailbox import BoundedReject, ConflateByKey, DropOldest

    sink = PrometheusMetrics()
    host = DeterministicHost(metrics=sink)
    sink.attach_host(host)
    keep_two = host.spawn("telemetry", Echo, mailbox=DropOldest(2))
    strict = host.spawn("commands", Echo, mailbox=BoundedReject(1))
    latest = host.spawn("quotes", Echo, mailbox=ConflateByKey(key=lambda m: "BTC"))
    host.run_until_idle()
    for i in range(5):
        keep_two.tell(i)
        strict.tell(i)
        latest.tell(i)
    assert value(sink, "troupe_actor_mailbox_dropped_total", actor="quotes", kind="conflated") == 4
    assert value(sink, "troupe_actor_mailbox_depth", actor="telemetry") == 2
    assert value(sink, "troupe_actor_mailbox_dropped_total", actor="telemetry",
                 kind="dropped") == 3
    assert value(sink, "troupe_actor_mailbox_dropped_total", actor="commands",
                 kind="rejected") == 4


def test_handling_time_is_recorded_per_actor_on_both_hosts(host):
    sink = PrometheusMetrics()
    sink.attach_host(host)
    assert host.on_handled == sink.record_handling
    ref = host.spawn("echo", Echo)
    for i in range(200):
        ref.tell(i)
    host.settle()
    histogram = sink.handling_histograms()["echo"]
    assert histogram.get_total_count() == 200
    assert 0 < histogram.get_value_at_percentile(50) <= histogram.get_value_at_percentile(99.9)
    quantiles = {s.labels["quantile"]: s.value
                 for s in families(sink)["troupe_actor_handling_seconds"][1]
                 if s.name == "troupe_actor_handling_seconds" and s.labels["actor"] == "echo"}
    assert set(quantiles) == {"0.5", "0.99", "0.999"}
    assert 0 < quantiles["0.5"] <= quantiles["0.99"] <= quantiles["0.999"] < 1
    assert value(sink, "troupe_actor_handling_seconds_count", actor="echo") == 200


def test_timing_switches_off_with_the_hook_and_a_broken_hook_does_not_fail_the_actor(caplog):
    host = DeterministicHost()
    seen = []
    host.on_handled = lambda actor, ns: seen.append((actor, ns))
    ref = host.spawn("echo", Echo)
    ref.tell(1)
    host.run_until_idle()
    assert [actor for actor, _ in seen] == ["echo"] and seen[0][1] > 0
    host.on_handled = None
    ref.tell(2)
    host.run_until_idle()
    assert len(seen) == 1

    def broken(actor, ns):
        raise ZeroDivisionError

    host.on_handled = broken
    assert host.ask(ref, "still here") == "still here"
    assert host.ask(ref, "and here") == "and here"
    assert host.actor("echo").failures == 0
    assert sum("on_handled hook failed" in r.message for r in caplog.records) == 1


def test_handling_values_keep_three_significant_digits():
    sink = PrometheusMetrics()
    for ns in (1, 999, 2047, 123_456, 9_876_543_210):
        sink.record_handling("a", ns)
    histogram = sink.handling_histograms()["a"]
    assert histogram.get_total_count() == 5
    assert histogram.get_max_value() == pytest.approx(9_876_543_210, rel=1e-3)
    assert histogram.get_min_value() == 1
    sink.record_handling("a", 5)
    assert sink.handling_histograms()["a"].get_total_count() == 6  # folds only what is new


def test_a_paced_render_is_the_same_text():
    sink = PrometheusMetrics()
    sink.count("a", "troupe_orders_sent_total", 3, {})
    sink.record_handling("a", 1_000)
    assert sink.text(pause_s=0.0001) == sink.text()


def test_scrape_time_quantiles_are_the_hdr_histograms_own():
    sink = PrometheusMetrics()
    rng = random.Random(5)
    for _ in range(5_000):
        sink.record_handling("a", int(rng.lognormvariate(9, 2)))
    for ns in (0, 1, 2047, 2048, 60_000_000_000, 90_000_000_000):
        sink.record_handling("b", ns)
    summary = {actor: (quantiles, count, total)
               for actor, quantiles, count, total in sink.handling.summary()}
    for actor, histogram in sink.handling_histograms().items():
        quantiles, count, total = summary[actor]
        assert count == histogram.get_total_count()
        assert quantiles == [histogram.get_value_at_percentile(q) / 1e9
                             for q in (50, 99, 99.9)]
        assert total > 0


def test_a_cells_own_recorder_keeps_what_an_hdr_histogram_of_the_raw_values_would():
    # A cell records through `for_actor(name)` (no name looked up per message): what it keeps
    # must read back as an HdrHistogram(1 ns, 60 s, 3 digits) fed the raw values reads.
    from hdrh.histogram import HdrHistogram

    sink = PrometheusMetrics()
    rng = random.Random(11)
    values = [int(rng.lognormvariate(10, 2.5)) for _ in range(3_000)] + [1, 2047, 2048, 2049]
    recorder = sink.handling.for_actor("cell")
    assert sink.handling.for_actor("cell") is recorder  # one per actor
    reference = HdrHistogram(1, 60_000_000_000, 3)
    for ns in values:
        recorder(ns)
        reference.record_value(min(ns, 60_000_000_000))
    kept = sink.handling_histograms()["cell"]
    assert kept.get_total_count() == reference.get_total_count() == len(values)
    for q in (0.1, 1, 25, 50, 90, 99, 99.9, 100):
        assert kept.get_value_at_percentile(q) == reference.get_value_at_percentile(q)
    ((actor, quantiles, count, _),) = sink.handling.summary()
    assert (actor, count) == ("cell", len(values))
    assert quantiles == [reference.get_value_at_percentile(q) / 1e9 for q in (50, 99, 99.9)]
    sink.record_handling("cell", 5)  # the hook's own call counts in the same actor's times
    assert sink.handling_histograms()["cell"].get_total_count() == len(values) + 1


# -- build info and the exposition ---------------------------------------------------------------
def test_build_info_says_what_the_node_really_does():
    sink = PrometheusMetrics()
    sink.set_build_info(version="0.1.0", mode="observe", profile="live", node="tokyo-1")
    sink.set_build_info(version="0.1.0", mode="paper", profile="paper", node="tokyo-1")
    samples = families(sink)["troupe_build_info"][1]
    assert [(s.labels, s.value) for s in samples] == [
        ({"version": "0.1.0", "mode": "paper", "profile": "paper", "node": "tokyo-1"}, 1.0)]
    with pytest.raises(ValueError, match="observe, paper, live"):
        sink.set_build_info(version="0.1.0", mode="yolo", profile="live", node="tokyo-1")


def test_the_text_parses_and_comes_from_the_one_registry_the_sink_owns():
    registry = CollectorRegistry()
    sink = PrometheusMetrics(registry)
    assert sink.registry is registry
    feed_every_catalogued_metric(sink)
    sink.attach_host(DeterministicHost())
    body, content_type = sink.text()
    assert content_type.startswith("text/plain; version=0.0.4")
    names = {f.name for f in text_string_to_metric_families(body.decode())}
    assert {"troupe_tick_to_trade_seconds", "troupe_orders_sent", "troupe_build_info"} <= names
    with pytest.raises(ValueError):
        PrometheusMetrics(registry)  # one producer per family
