"""What the paper node prints, read as a trader reads it: counts that add up, PnL with its
currency and never `-0.0000`, the switch to synthetic data and falling behind announced once."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from supervision.node.live_guard import Mode
from supervision.node.status import MarketNotices, _money, orders_at_stop, status_line, summary
from supervision.runtime.introspection import InMemoryMetrics
from tests.supervision.node.node_kit import paper_node_on_host


def test_the_status_line_counts_add_up_and_name_the_currency(tmp_path: Path) -> None:
    host, node = paper_node_on_host(tmp_path / "journal.jsonl")
    host.advance(60.0)
    line = status_line(node, 60.0)
    sent = re.search(r"orders: sent=(\d+) \((\d+) new \+ (\d+) replace \+ (\d+) cancel\)",
                     line)
    assert sent is not None, line
    total, new, replace, cancel = map(int, sent.groups())
    assert total == new + replace + cancel and new > 0 and replace > 0
    assert re.search(r"pnl=[+-]?\d+\.\d{4} USDT", line) and "open=" in line and "pos=" in line
    text = summary(node, 60.0, "open orders cancelled (none left open); journal flushed")
    assert f"sent={total} ({new} new" in text and "USDT" in text
    assert "stop: open orders cancelled" in text and "journal flushed" in text
    assert len(text.splitlines()) == 5  # the REPL in front shows the node log's last five


def test_money_never_prints_negative_zero() -> None:
    assert _money(Decimal("-0.00001")) == "0.0000"
    assert _money(Decimal("-0.0028")) == "-0.0028"
    assert _money(None) == "0.0000"


class _Node:
    def __init__(self, metrics: InMemoryMetrics) -> None:
        self.host = type("Host", (), {"metrics": metrics})()


def test_the_switch_and_the_lag_are_announced_once() -> None:
    metrics = InMemoryMetrics()
    node, notices = _Node(metrics), MarketNotices()
    assert notices.check(node) == []  # type: ignore[arg-type]
    metrics.count("node/source", "troupe_continuing_started_total", 1, {})
    metrics.gauge("node/source", "troupe_replay_lag_seconds", 2.5, {})
    first = notices.check(node)  # type: ignore[arg-type]
    assert [line.split(":")[0] for line in first] == ["market", "market"]
    assert "synthetic books" in first[0] and "behind the feed" in first[1]
    assert notices.check(node) == []  # type: ignore[arg-type]
    metrics.gauge("node/source", "troupe_replay_lag_seconds", 0.1, {})
    assert notices.check(node) == ["market: caught up with the feed"]  # type: ignore[arg-type]


def test_the_stop_line_says_only_what_the_node_knows_of_its_open_orders() -> None:
    assert orders_at_stop(Mode.PAPER, reconciled=True, left=[]) == (
        "open orders cancelled (none left open)")
    observed = orders_at_stop(Mode.OBSERVE, reconciled=False, left=[])
    assert "cancelled" not in observed and "observe mode sent no order" in observed
    unreached = orders_at_stop(Mode.LIVE, reconciled=False, left=[])
    assert "cancelled" not in unreached and "check them on the venue" in unreached
    assert orders_at_stop(Mode.LIVE, reconciled=True, left=["a", "b"]) == (
        "2 order(s) still open after the cancel timeout")
