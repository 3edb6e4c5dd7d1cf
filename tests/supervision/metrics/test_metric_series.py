"""The sink's hot path: bound and deferred counts are plain numbers until a scrape reads them.

What a scrape shows must not depend on how a number was recorded: every test reads the
exposition (through prometheus_client's parser, or over HTTP), and compares it with what
prometheus_client's own children print for the same records where that is the question.
"""

from __future__ import annotations

import random
import re
import threading
from decimal import Decimal

import pytest
from hdrh.histogram import HdrHistogram
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from actors.behaviour import Behaviour
from supervision.metrics.catalog import CATALOG
from supervision.metrics.prometheus import PrometheusMetrics
from supervision.node.node_metrics import SECOND, NodeMetrics
from supervision.runtime.context import MAX_BOUND
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.specs import ChildSpec, SupervisorSpec
from supervision.runtime.supervisor import Supervisor, WhichChildren
from tests.supervision.control.control_kit import FakeNode, http, plane_for, serving

SENT = "troupe_orders_sent_total"
T2T = "troupe_tick_to_trade_seconds"
CREATED = re.compile(rb"^(\w+_created(?:{[^}]*})?) \S+$", re.MULTILINE)


def sample(sink: PrometheusMetrics, name: str, **labels: str) -> float | None:
    body, _ = sink.text()
    for family in text_string_to_metric_families(body.decode()):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def without_created(text: bytes) -> bytes:
    return CREATED.sub(rb"\1 <created>", text)


def test_bound_counts_print_exactly_as_prometheus_clients_own_counter():
    sink = PrometheusMetrics(CollectorRegistry())
    spec = CATALOG[SENT]
    reference = CollectorRegistry()
    counter = Counter(SENT, spec.help, spec.labels, registry=reference)
    new = sink.bind_count("connection", SENT, {"venue": "sim", "kind": "new"})
    cancel = sink.bind_count("connection", SENT, {"kind": "cancel", "venue": "sim"})
    for amount in (1, 1, 3, 2.5):
        new(amount)
        counter.labels("sim", "new").inc(amount)
    cancel()
    counter.labels("sim", "cancel").inc()
    sink.count("other", SENT, 4, {"venue": "sim", "kind": "new"})
    counter.labels("sim", "new").inc(4)

    ours = [line for line in without_created(sink.text()[0]).splitlines()
            if line.startswith((b"troupe_orders_sent", b"# HELP troupe_orders_sent",
                                b"# TYPE troupe_orders_sent"))]
    theirs = without_created(generate_latest(reference)).splitlines()
    assert ours == theirs
    assert sink.total(SENT, actor="connection") == 8.5
    assert sink.total(SENT, actor="other") == 4


def test_deferred_histogram_prints_exactly_as_prometheus_clients_own_histogram():
    sink = PrometheusMetrics(CollectorRegistry())
    spec = CATALOG[T2T]
    reference = CollectorRegistry()
    histogram = Histogram(T2T, spec.help, spec.labels, registry=reference, buckets=spec.buckets)
    values = [0.0, 1e-6, 0.0003, 0.0005, 0.0025, 0.7, 12.0, 1e9, spec.buckets[3]]
    for value in values:
        sink.observe("connection", T2T, value, {})
        histogram.observe(value)
    assert without_created(sink.text()[0]).count(b"troupe_tick_to_trade_seconds") > 10
    ours = [line for line in without_created(sink.text()[0]).splitlines() if T2T.encode() in line]
    assert ours == without_created(generate_latest(reference)).splitlines()


def test_a_bound_count_is_visible_at_the_next_scrape_under_its_own_labels():
    sink = PrometheusMetrics()
    add = sink.bind_count("connection", SENT, {"venue": "sim", "kind": "new"})
    add()
    assert sample(sink, SENT, venue="sim", kind="new") == 1
    add(2)
    assert sample(sink, SENT, venue="sim", kind="new") == 3
    assert sample(sink, SENT, venue="sim", kind="cancel") is None


def test_a_bound_count_the_sink_refuses_is_dropped_and_counted_at_each_call():
    sink = PrometheusMetrics()
    wrong = sink.bind_count("connection", SENT, {"venue": "sim"})
    wrong()
    wrong()
    assert sample(sink, "troupe_metrics_label_mismatch_total", metric=SENT) == 2
    assert sample(sink, SENT, venue="sim", kind="new") is None
    add = sink.bind_count("connection", SENT, {"venue": "sim", "kind": "new"})
    for amount in (-1, float("nan"), float("inf"), "x"):
        add(amount)  # type: ignore[arg-type]
    add(1)
    assert sample(sink, SENT, venue="sim", kind="new") == 1
    assert sample(sink, "troupe_metrics_dropped_total", metric=SENT,
                  reason="negative_counter") == 1
    assert sample(sink, "troupe_metrics_dropped_total", metric=SENT, reason="invalid_value") == 2
    assert sample(sink, "troupe_metrics_dropped_total", metric=SENT, reason="error") == 1


def test_counts_from_other_threads_while_scraping_are_neither_lost_nor_doubled():
    sink = PrometheusMetrics()
    labels = {"venue": "sim", "kind": "new"}
    threads, per_thread, stop = 4, 20_000, threading.Event()
    seen: list[float] = []

    def bound_writer(name: str) -> None:
        add = sink.bind_count(name, SENT, labels)
        for _ in range(per_thread):
            add()

    def unbound_writer(name: str) -> None:
        for _ in range(per_thread):
            sink.count(name, SENT, 1, labels)  # every thread shares "shared"'s cell

    def scraper() -> None:
        while not stop.is_set():
            seen.append(sample(sink, SENT, **labels) or 0.0)

    workers = [threading.Thread(target=bound_writer, args=(f"bound-{i}",))
               for i in range(threads)]
    workers += [threading.Thread(target=unbound_writer, args=("shared",)) for _ in range(threads)]
    reading = threading.Thread(target=scraper)
    reading.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    reading.join()

    assert sample(sink, SENT, **labels) == 2 * threads * per_thread
    assert sink.total(SENT, actor="shared") == threads * per_thread
    assert sink.total(SENT, actor="bound-0") == per_thread
    assert seen == sorted(seen)  # a scrape never sees a count go back


class Counting(Behaviour):
    def receive(self, message, ctx):
        if message == "fail":
            raise RuntimeError("asked to fail")
        ctx.count(SENT, venue="sim", kind=message)
        ctx.count(SENT, 2, kind=message, venue="sim")  # the same series, labels reordered
        ctx.count("troupe_book_updates_total", 3)
        ctx.count(SENT, venue="sim")  # refused: a label missing
        ctx.count(SENT, venue=["unhashable"], kind="new")  # type: ignore[arg-type]


def test_context_counts_survive_a_restart_and_refusals_stay_refused():
    sink = PrometheusMetrics()
    host = DeterministicHost(seed=3, metrics=sink)
    spec = SupervisorSpec(children=(ChildSpec("worker", Counting),), intensity=5)
    sup = host.spawn("sup", lambda: Supervisor(spec))
    host.run_until_idle(1.0)
    worker = next(c.ref for c in host.ask(sup, WhichChildren()))
    for message in ("new", "fail", "new", "cancel"):
        worker.tell(message)
        host.run_until_idle(1.0)

    assert sample(sink, SENT, venue="sim", kind="new") == 6
    assert sample(sink, SENT, venue="sim", kind="cancel") == 3
    assert sample(sink, "troupe_book_updates_total") == 9
    assert sample(sink, "troupe_metrics_label_mismatch_total", metric=SENT) == 3
    assert sample(sink, "troupe_metrics_dropped_total", metric=SENT, reason="error") == 3
    assert sink.total(SENT, actor="sup/worker") == 9


class SinkNode(FakeNode):
    def __init__(self, sink: PrometheusMetrics) -> None:
        super().__init__()
        self.sink = sink

    def metrics_text(self) -> tuple[bytes, str]:
        return self.sink.text()


def scraped(body: bytes, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(body.decode()):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


@pytest.mark.trio
async def test_counts_from_another_thread_show_in_the_next_scrape_over_http():
    sink = PrometheusMetrics()
    plane = plane_for(SinkNode(sink), metrics_max_age_s=0.0)
    labels = {"venue": "sim", "kind": "new"}

    def count(times: int) -> None:
        add = sink.bind_count("journal", SENT, labels)
        for _ in range(times):
            add()
        sink.observe("journal", T2T, 0.0004, {})

    async with serving(plane) as port:
        writer = threading.Thread(target=count, args=(500,))
        writer.start()
        writer.join()
        first = await http(port, "GET", "/metrics")
        writer = threading.Thread(target=count, args=(250,))
        writer.start()
        writer.join()
        second = await http(port, "GET", "/metrics")
    assert first.status == second.status == 200
    assert scraped(first.body, SENT, **labels) == 500
    assert scraped(second.body, SENT, **labels) == 750
    assert scraped(second.body, T2T + "_count") == 2
    assert scraped(second.body, T2T + "_bucket", le="0.0005") == 2


def test_bound_observes_and_gauges_print_exactly_as_prometheus_clients_own():
    sink = PrometheusMetrics(CollectorRegistry())
    reference = CollectorRegistry()
    t2t, depth = CATALOG[T2T], CATALOG["troupe_budget_queue_depth"]
    histogram = Histogram(T2T, t2t.help, t2t.labels, registry=reference, buckets=t2t.buckets)
    gauge = Gauge(depth.name, depth.help, depth.labels, registry=reference)
    observe = sink.bind_observe("connection", T2T, {})
    high, low = (sink.bind_gauge(actor, depth.name, {"priority": "p1"}) for actor in "ab")
    for value in (0.0003, 2, 0.0005, Decimal("0.001"), 1e-9):
        observe(value)
        histogram.observe(float(value))
    for set_value, value in ((high, 3), (low, 1.5), (high, 7)):
        set_value(value)
        gauge.labels("p1").set(value)
    observe(float("nan"))  # dropped, as unbound
    observe("soon")  # not a number: dropped once, as an error
    ours = [line for line in without_created(sink.text()[0]).splitlines()
            if (T2T.encode() in line or depth.name.encode() in line)
            and not line.startswith(b"troupe_metrics_dropped")]
    assert ours == without_created(generate_latest(reference)).splitlines()
    assert sink.gauges[("a", depth.name, (("priority", "p1"),))] == 7  # last write per actor
    assert sink.gauges[("b", depth.name, (("priority", "p1"),))] == 1.5
    assert sample(sink, "troupe_metrics_dropped_total", metric=T2T, reason="invalid_value") == 1
    assert sample(sink, "troupe_metrics_dropped_total", metric=T2T, reason="error") == 1


def exact(values_s: list[float]) -> HdrHistogram:
    histogram = HdrHistogram(1, 60 * SECOND, 3)
    for value in values_s:
        histogram.record_value(min(max(1, int(value * SECOND)), 60 * SECOND))
    return histogram


def test_node_latency_percentiles_match_an_hdr_histogram_fed_directly():
    sink = NodeMetrics()
    first = [random.Random(1).lognormvariate(-8, 1.5) for _ in range(3000)]
    second = [random.Random(2).lognormvariate(-7, 0.5) for _ in range(2000)]
    observe = sink.bind_observe("connection", T2T, {})
    for value in first[:1000]:
        observe(value)
    writer = threading.Thread(target=lambda: [sink.observe("other", T2T, v, {})
                                              for v in first[1000:]])
    writer.start()
    writer.join()
    assert sink.count_of(T2T) == 3000
    for q in (0.5, 0.99, 0.999):
        expected = exact(first).get_value_at_percentile(q * 100) / SECOND
        assert sink.quantile(T2T, q) == sink.quantile(T2T, q, window=True) == expected
    sink.next_window()
    assert sink.quantile(T2T, 0.5, window=True) is None
    for value in second:
        observe(value)
    for q in (0.5, 0.99):
        assert sink.quantile(T2T, q, window=True) == exact(second).get_value_at_percentile(
            q * 100) / SECOND
        assert sink.quantile(T2T, q) == exact(first + second).get_value_at_percentile(
            q * 100) / SECOND
    observe(float("inf"))  # not a latency: dropped, and no error raised into the actor
    sink.observe("connection", T2T, "soon", {})
    assert sink.count_of(T2T) == 5000
    sink.reset_quantiles()
    assert sink.count_of(T2T) == 0 and sink.quantile(T2T, 0.5) is None
    assert sample(sink, T2T + "_count") == 5000


class IdLabelled(Behaviour):
    def receive(self, message, ctx):
        for n in range(3 * MAX_BOUND):
            ctx.count(SENT, venue="sim", kind=f"k{n}")
        ctx.count(SENT, venue="sim", kind="new")


def test_a_context_keeps_a_bounded_number_of_bindings_and_counts_past_it():
    sink = PrometheusMetrics()
    host = DeterministicHost(seed=3, metrics=sink)
    ref = host.spawn("ids", IdLabelled)
    ref.tell("go")
    ref.tell("go")
    host.run_until_idle(5.0)
    assert sample(sink, SENT, venue="sim", kind=f"k{3 * MAX_BOUND - 1}") == 2
    assert sample(sink, SENT, venue="sim", kind="new") == 2
    assert sink.total(SENT, actor="ids") == 2 * (3 * MAX_BOUND + 1)
