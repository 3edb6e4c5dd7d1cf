"""The strategy of docs/strategies.md, tested the three ways the tutorial shows: with the fake
context (no host), on both hosts through the node's trading path, and loaded by its import path
into a paper node, in process on the deterministic host and as the operator runs it.

The tutorial quotes this file and its strategy verbatim: the last test keeps them the same."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections import Counter
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from actors.strategies import (
    Ack,
    BookStale,
    BookTop,
    CancelAck,
    CancelIntent,
    Fill,
    Gate,
    GateAction,
    InstrumentSpec,
    Liquidity,
    NoTrade,
    OrderIntent,
    PauseQuoting,
    RiskRefused,
    Side,
    StrategyShell,
    TimeInForce,
    strategy_entry,
)
from actors.testing import FakeContext
from protocols.feed import FeedEvent
from protocols.recording import iter_messages
from protocols.venue_state import SendActions
from supervision.config.load import NodeConfig, load_config
from supervision.node.assembly import Node
from supervision.node.journal import iter_journal, recover_journal
from supervision.node.live_guard import Mode
from supervision.node.run import _source_factory
from supervision.runtime.deterministic import DeterministicHost
from supervision.sources.data import BINANCE_SPOT_BTCUSDT
from supervision.testing import Probe, StrategyPlan, TradingPath, received
from tests.docs.tutorial_strategy import TouchQuoter, TouchQuoterConfig, TouchWhy

ROOT = Path(__file__).resolve().parents[2]
KIND = "tests.docs.tutorial_strategy:TouchQuoter"
SPEC = InstrumentSpec("BTCUSDT", "binance", D("0.01"), D("0.00000001"), D(0), D(5),
                      D("0.0001"), D("0.0005"))


# -- with the fake context: no host at all ----------------------------------------------------
def quoter(**params: Any) -> tuple[FakeContext, StrategyShell]:
    config = TouchQuoterConfig(strategy="tq1", spec=SPEC, **{"lots": 2, "max_position_lots": 3,
                                                             **params})
    ctx = FakeContext("tq1")
    shell = StrategyShell(TouchQuoter(config), ctx.ref("gate"), ctx.ref("journal"))
    ctx.start(shell)
    return ctx, shell


def proposed(ctx: FakeContext) -> list[Any]:
    intents = [p.intent for p in ctx.ref("gate").messages]
    ctx.ref("gate").messages.clear()
    return intents


def whys(ctx: FakeContext) -> list[str]:
    return [m.reason for m in ctx.ref("journal").messages if isinstance(m, NoTrade)]


def book(bid: int, ask: int) -> BookTop:
    return BookTop("BTCUSDT", bid, 5, ask, 5, 0)


def test_it_joins_the_touch_and_follows_it() -> None:
    ctx, shell = quoter()
    ctx.deliver(shell, book(100, 102))
    bid, ask = proposed(ctx)
    assert (bid.side, bid.price, bid.qty, bid.tif) == (Side.BUY, 100, 2, TimeInForce.POST_ONLY)
    assert (ask.side, ask.price) == (Side.SELL, 102)
    ctx.deliver(shell, book(100, 102))
    assert whys(ctx) == ["order_in_flight"]  # not acked yet: nothing to amend
    ctx.deliver(shell, Ack(bid.client_order_id), Ack(ask.client_order_id), book(101, 102))
    assert proposed(ctx) == [CancelIntent(bid.client_order_id, "BTCUSDT")]
    assert whys(ctx)[-1] == "requoting"
    ctx.deliver(shell, CancelAck(bid.client_order_id))
    (again,) = proposed(ctx)
    assert (again.side, again.price) == (Side.BUY, 101)


def test_fills_move_the_position_and_the_limit_pulls_a_side() -> None:
    ctx, shell = quoter(max_position_lots=4)
    ctx.deliver(shell, book(100, 102))
    bid, ask = proposed(ctx)
    ctx.deliver(shell, Ack(bid.client_order_id), Ack(ask.client_order_id))
    ctx.deliver(shell, Fill(bid.client_order_id, "f1", 2, 100, D(0), Liquidity.MAKER))
    assert shell.engine.inventory_lots() == 2
    (placed,) = proposed(ctx)  # the filled bid is placed again...
    assert isinstance(placed, OrderIntent) and placed.side is Side.BUY
    ctx.deliver(shell, Ack(placed.client_order_id),
                Fill(placed.client_order_id, "f2", 2, 100, D(0), Liquidity.MAKER))
    assert proposed(ctx) == []  # ... but not a third time: 6 lots would pass the limit of 4
    assert whys(ctx)[-1] == "position_limit"
    assert ctx.gauge_value("troupe_strategy_inventory_lots", strategy="tq1") == 4


def test_stale_books_pauses_and_stops_pull_every_quote() -> None:
    ctx, shell = quoter()
    ctx.deliver(shell, book(100, 102))
    quotes = proposed(ctx)
    ctx.deliver(shell, *(Ack(q.client_order_id) for q in quotes))
    ctx.deliver(shell, BookStale("BTCUSDT", "gap", 0))
    assert {type(i) for i in proposed(ctx)} == {CancelIntent}
    assert whys(ctx)[-1] == "book_stale"
    ctx.deliver(shell, *(CancelAck(q.client_order_id) for q in quotes), PauseQuoting("drill"))
    ctx.deliver(shell, book(100, 102))
    assert proposed(ctx) == [] and whys(ctx)[-1] == "paused"
    ctx2, shell2 = quoter()
    ctx2.deliver(shell2, book(100, 102))
    quotes2 = proposed(ctx2)
    ctx2.stop_behaviour(shell2)
    assert proposed(ctx2) == [CancelIntent(q.client_order_id, "BTCUSDT") for q in quotes2]


def test_a_risk_refusal_waits_out_its_cooldown_then_quotes_again() -> None:
    ctx, shell = quoter(risk_cooldown_s=0.5)
    ctx.deliver(shell, book(100, 102))
    bid, ask = proposed(ctx)
    ctx.deliver(shell, RiskRefused(bid.client_order_id, "BTCUSDT", Gate.DUPLICATE_INTENT,
                                   GateAction.BLOCK_NEW, "same order twice"))
    assert proposed(ctx) == [] and whys(ctx)[-1] == "risk_refused"
    ctx.deliver(shell, book(100, 102))  # still cooling down: the other quote is pulled too
    assert proposed(ctx) == [CancelIntent(ask.client_order_id, "BTCUSDT")]
    assert whys(ctx)[-1] == "risk_refused"
    ctx.advance(0.5, shell)  # the "risk" timer fires: quote again
    (again,) = proposed(ctx)
    assert (again.side, again.price) == (Side.BUY, 100)


# -- on both hosts, through the node's trading path ------------------------------------------
def test_on_both_hosts_its_quotes_reach_the_venue_through_risk_and_budget(host: Any) -> None:
    entry = strategy_entry(KIND)
    config = entry.make_config(strategy="tq1", spec=SPEC,
                               params={"lots": 10_000, "max_position_lots": 100_000})
    path = TradingPath(
        specs={"BTCUSDT": SPEC}, portfolio=False, limits=_limits(),
        strategies=[StrategyPlan("tq1", "BTCUSDT", lambda gate, j: entry.build(config, gate, j))],
        connection=lambda refs: Probe)
    refs = path.spawn(host)
    host.settle()
    for _, message in itertools.islice(iter_messages(BINANCE_SPOT_BTCUSDT), 300):
        refs.book("BTCUSDT").tell(FeedEvent("BTCUSDT", message, host.monotonic_ns()))
    host.settle()
    host.advance(0.2)
    sent = [i for m in received(host, refs.connection, SendActions) for i in m.batch.intents]
    assert {i.side for i in sent if isinstance(i, OrderIntent)} == {Side.BUY, Side.SELL}
    assert host.metrics.total("troupe_risk_refusals_total") == 0


def _limits() -> Any:
    from actors.execution.token_bucket import RateLimit, VenueLimits

    return VenueLimits(limits=(RateLimit("orders", 50, 1_000_000_000),))


# -- in a node, loaded by its import path -----------------------------------------------------
NODE_OVERRIDES = [f"strategies.0.kind={KIND}",
                  "strategies.0.params={ lots = 10000, max_position_lots = 100000 }"]


def test_a_paper_node_runs_it_by_import_path_on_the_deterministic_host(tmp_path: Path) -> None:
    config = load_config(ROOT / "config/paper.toml",
                         [*NODE_OVERRIDES, f"journal.path={tmp_path / 'j.jsonl'}"], environ={})
    assert isinstance(config, NodeConfig)
    host, records = DeterministicHost(seed=1), []
    node = Node(config, Mode.PAPER, host)
    node.start(lambda **_: Probe(records), _source_factory(config, node))
    for _ in range(50):
        host.advance(0.1)
    kinds = Counter(type(m).__name__ for _, m in records)
    assert kinds["OrderSent"] > 0 and kinds["Ack"] > 0
    reasons = {m.reason for _, m in records if isinstance(m, NoTrade)}
    assert reasons <= {reason.value for reason in TouchWhy}
    assert isinstance(host.cell("node/strategies/mm1").behaviour.engine, TouchQuoter)


def test_the_operator_runs_it_from_the_command_line(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    sets = [arg for item in NODE_OVERRIDES for arg in ("--set", item)]
    common = [sys.executable, "-m", "supervision.main", "config/paper.toml", *sets,
              "--set", f"journal.path={journal}", "--set", "control.listen_port=0"]
    checked = subprocess.run([*common, "--check-config"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert f'kind = "{KIND}"' in checked.stdout and "max_position_lots = 100000" in checked.stdout
    run = subprocess.run([*common, "--set", "market.speed=5", "--duration", "4"], cwd=ROOT,
                         capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stderr
    seen = Counter(record["kind"] for record in iter_journal(journal))
    assert seen["OrderSent"] > 0 and seen["NodeStopped"] == 1
    assert recover_journal(journal).open_orders == {}  # stopping pulled every quote


# -- the tutorial quotes this code verbatim --------------------------------------------------
def test_every_excerpt_in_the_tutorial_is_the_code() -> None:
    text = (ROOT / "docs/strategies.md").read_text()
    blocks = re.findall(r"```python\n# (\S+)\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 5
    for path, body in blocks:
        source = (ROOT / path).read_text()
        assert body in source, f"docs/strategies.md quotes {path} in a form it no longer has"
