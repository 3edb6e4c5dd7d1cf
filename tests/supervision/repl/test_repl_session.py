"""The REPL as an operator meets it: a paper node in a subprocess, consoles in real terminals.

One node serves the whole module (it keeps trading throughout, which is part of the point);
each test attaches its own console."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from supervision.node.journal import iter_journal
from tests.supervision.repl.repl_kit import Console, PaperNode


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaperNode]:
    running = PaperNode(tmp_path_factory.mktemp("repl"))
    yield running
    out = running.stop()
    assert "Traceback" not in out, out


@pytest.fixture
def console(node: PaperNode, tmp_path: Path) -> Iterator[Console]:
    attached = Console.attach(node.socket, tmp_path / "history")
    yield attached
    attached.kill()


def sent_orders(node: PaperNode) -> int:
    return sum(1 for r in iter_journal(node.journal) if r["kind"] == "OrderSent")


def test_actors_lists_every_actor_with_its_mailbox_and_handling_time(console: Console) -> None:
    out = console.run("actors()")
    header, *rows = out.strip().splitlines()
    assert header.split() == ["name", "kind", "host", "state", "policy", "depth", "hw", "drops",
                              "handled", "last", "age", "restarts", "p99us"]
    by_name = {row.split()[0]: row.split() for row in rows}
    assert {"journal", "monitor", "node", "strategies/mm1", "venue/book:BTCUSDT",
            "venue/connection", "venue/budget", "risk/gate", "risk/portfolio"} <= set(by_name)
    mm1 = by_name["strategies/mm1"]
    assert mm1[1:5] == ["market_maker", "loop", "running", "conflate_by_key"]
    assert int(mm1[8]) > 0 and mm1[12] != "-"  # it has handled messages, timed
    assert by_name["journal/writer"][2] == "thread"  # it may block on the disk


def test_state_is_the_strategys_own_view_and_why_gives_its_reasons(console: Console) -> None:
    state = console.run('state("mm1")')
    assert state.startswith("strategies/mm1 (market_maker, running):")
    assert re.search(r"^  q: -?\d+$", state, re.M) and "ids_high_water:" in state
    why = console.run('why("mm1", n=5)')
    lines = why.strip().splitlines()
    assert lines[0].startswith("why mm1: last 5 decision(s)")
    assert len(lines) == 6
    for line in lines[1:]:  # each decision with its one reason, or the order it sent
        assert re.match(r"\d\d:\d\d:\d\d\.\d{3}  (no trade  [a-z_]+|order |replace |cancel )",
                        line), line


def test_tracing_a_book_prints_the_messages_it_handles(console: Console) -> None:
    assert "tracing venue/book:BTCUSDT" in console.run('trace("book:BTCUSDT")')
    console.child.expect(r"\[trace venue/book:BTCUSDT\] FeedEvent\(instrument='BTCUSDT'")
    console.child.sendline('trace("book:BTCUSDT", False)')  # typed while the trace prints
    console.child.expect_exact("stopped tracing venue/book:BTCUSDT")
    console.drain()  # what the actor handled before the stop, still on its way
    assert "[trace" not in console.run("2 + 2")


def test_halt_from_the_repl_is_the_control_planes_halt(node: PaperNode,
                                                        console: Console) -> None:
    out = console.run('halt("drill from the repl")')
    assert "halt: done (state halted); journaled, source repl" in out
    deadline = time.monotonic() + 5
    while node.metric("troupe_trading_state ") != 2.0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert node.metric("troupe_trading_state ") == 2.0  # HALTED, as /metrics says
    assert node.metric('troupe_control_actions_total{action="halt",source="repl"}') == 1.0
    actions = [r["data"] for r in iter_journal(node.journal) if r["kind"] == "ControlAction"]
    assert {"action": "halt", "reason": "drill from the repl", "source": "repl", "ok": True,
            "instrument": None,
            "detail": "halted"} in actions
    assert "resume: done (state active)" in console.run("resume()")
    deadline = time.monotonic() + 5
    while node.metric("troupe_trading_state ") != 0.0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert node.metric("troupe_trading_state ") == 0.0


def test_detaching_or_dying_leaves_the_node_trading(node: PaperNode, tmp_path: Path) -> None:
    first = Console.attach(node.socket, tmp_path / "h1")
    first.run('trace("mm1")')
    assert first.detach() == 0
    second = Console.attach(node.socket, tmp_path / "h2")
    second.run("import time")
    second.child.sendline("while True: time.sleep(0.01)")
    second.child.sendline("")
    time.sleep(0.3)
    second.kill()  # the terminal closes mid-command
    before = sent_orders(node)
    deadline = time.monotonic() + 20
    while sent_orders(node) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sent_orders(node) > before, "the node stopped quoting after the clients left"
    assert node.proc.poll() is None
    third = Console.attach(node.socket, tmp_path / "h3")  # and it still takes clients
    assert "strategies/mm1" in third.run("actors()")
    third.kill()


def test_two_clients_at_once_each_with_its_own_namespace(node: PaperNode,
                                                         tmp_path: Path) -> None:
    a = Console.attach(node.socket, tmp_path / "ha")
    b = Console.attach(node.socket, tmp_path / "hb")
    a.run("x = 'mine'")
    assert "NameError: name 'x' is not defined" in b.run("x")
    assert "'mine'" in a.run("x")
    assert "market_maker" in b.run('state("mm1")')
    assert "RiskGate" in a.run('state("gate")')
    a.kill()
    b.kill()


def test_mistakes_get_one_clear_line(console: Console) -> None:
    assert console.run('state("nope")').strip() == \
        "error: no actor named 'nope'; did you mean 'node'?"
    assert console.run('state("mm2")').strip().startswith("error: no actor named 'mm2'")
    assert console.run('why("gate")').strip() == \
        "error: risk/gate is not a strategy; strategies: mm1"
    assert console.run("tell('mm1')").strip().startswith(
        "TypeError: Operations.tell() missing 1 required positional argument")
    assert console.run("1/0").strip() == "ZeroDivisionError: division by zero"
    assert console.run('why("mm1", n="x")').strip() == \
        "error: n is how many decisions to show, a whole number >= 1, not 'x'"
    assert console.run('ask("gate", 42, timeout=1)').strip() == "risk/gate answered None"
    assert console.run("halt('')").strip() == "error: reason must not be empty"
    assert "Traceback" in console.run("tb()")  # the full story, only when asked


def test_the_node_answers_while_its_trading_loop_is_blocked(node: PaperNode,
                                                             tmp_path: Path) -> None:
    blocker = Console.attach(node.socket, tmp_path / "hx")
    observer = Console.attach(node.socket, tmp_path / "hy")
    blocker.run("import time; node.host.dispatcher.bridge.call_soon(time.sleep, 3)")
    started = time.monotonic()
    assert "venue/connection" in observer.run("actors()", timeout=2)
    assert observer.run('state("mm1", timeout=0.5)').strip() == \
        "error: no answer from node/strategies/mm1 within 0.5s"
    assert time.monotonic() - started < 2.5  # both answered while the loop slept
    time.sleep(max(0.0, 3.2 - (time.monotonic() - started)))
    assert "market_maker" in observer.run('state("mm1")')
    blocker.kill()
    observer.kill()


def test_restart_and_stop_go_through_the_supervisor(console: Console) -> None:
    out = console.run('restart("mm1")')
    assert re.search(r"strategies/mm1 restarted \(\d+ restart\(s\) in all\)", out)
    assert "stopped; restart('strategies/mm1') starts it again" in console.run('stop("mm1")')
    assert "stopped" in console.run('state("mm1")')
    assert "restarted" in console.run('restart("mm1")')
    tree = console.run("tree()")
    assert re.search(r"`-- strategies/mm1  market_maker  running  transient  restarts \d+", tree)
    # an operator's restarts spend no restart intensity
    assert "strategies  Supervisor  running  permanent  [one_for_one, restarts 0/3 in 5s]" in tree


def test_trading_views(console: Console) -> None:
    assert "realized" in console.run("pnl()")
    orders = console.run("orders()")
    assert orders.startswith("client_order_id  strategy") or orders == "no open order\n"
    budget = console.run("budget()")
    assert budget.startswith("depth: {REDUCE_ONLY: ")
    assert "tokens:" in budget and "***" not in budget
    assert "troupe_trading_state" in console.run('metrics("trading_state")')
    assert "--- thread troupe:repl" in console.run("stacks()")


def test_tab_completes_helpers_and_actor_names(console: Console) -> None:
    console.child.send("tre\t")  # a helper: tree()
    time.sleep(0.3)
    assert "one_for_one" in console.run("")
    console.child.send('state("book:\t')  # an actor, quote closed by readline
    time.sleep(0.3)
    out = console.run(")")
    assert out.startswith("venue/book:BTCUSDT (OrderBookActor, running):")


def test_top_refreshes_until_a_key_is_pressed(console: Console) -> None:
    console.child.sendline('top("handled", interval=0.2)')
    for _ in range(2):
        console.child.expect(r"troupe top  sorted by handled; press any key to stop")
    console.child.send("q")
    console.child.expect_exact(">>> ")
    assert "4" in console.run("2 + 2")


def test_ctrl_c_interrupts_a_running_command(console: Console) -> None:
    console.child.sendline("while True: pass")
    console.child.sendline("")
    time.sleep(0.3)
    console.child.sendintr()
    console.child.expect_exact("KeyboardInterrupt")
    console.child.expect_exact(">>> ")
    assert "4" in console.run("2 + 2")


def test_history_is_kept_across_sessions(node: PaperNode, tmp_path: Path) -> None:
    history = tmp_path / "history"
    first = Console.attach(node.socket, history)
    first.run("'remembered' * 2")
    first.child.sendeof()  # Ctrl-D: detach without a line in the history
    first.child.expect(pexpect.EOF)
    assert "'remembered' * 2" in history.read_text()
    assert history.stat().st_mode & 0o777 == 0o600
    second = Console.attach(node.socket, history)
    second.child.send("\x1b[A")  # up arrow: the last line of the last session
    out = second.run("")
    assert "rememberedremembered" in out
    second.kill()


def test_the_socket_is_the_node_users_only(node: PaperNode) -> None:
    assert node.socket.stat().st_mode & 0o777 == 0o600


def test_a_second_client_process_sees_a_clean_exit_on_node_stop(tmp_path: Path) -> None:
    """Stopping a node closes its consoles with one line, and removes the socket."""
    short = Path(pexpect.run("mktemp -d /tmp/repl-XXXX", encoding="utf-8").strip())
    own = PaperNode(short)
    attached = Console.attach(own.socket, tmp_path / "h")
    own.stop()
    attached.child.expect_exact("the node is stopping")
    attached.child.expect(pexpect.EOF)
    assert not own.socket.exists()


def test_fail_makes_an_actor_fail_on_demand_and_the_node_cancels_its_orders(
        node: PaperNode, console: Console) -> None:
    out = console.run('fail("mm1", message_type="BookTop")')
    assert "fail: strategies/mm1 will fail 1 message(s) of type BookTop (injected at the repl)" \
        in out
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        records = list(iter_journal(node.journal))
        if any(r["kind"] == "ActorRestarted" and r["data"]["actor"] == "node/strategies/mm1"
               for r in records):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("strategies/mm1 never restarted")
    injected = [r["data"] for r in records if r["kind"] == "FaultInjected"]
    assert injected[-1]["source"] == "repl" and injected[-1]["actor"] == "node/strategies/mm1"
    assert "error: no actor named 'nobody'" in console.run('fail("nobody")')
    assert "disarmed" in console.run('fail("mm1", 0)')
    assert console.run('fail("journal/writer")').strip() == \
        "error: fault injection reaches the node's tree; journal/writer is outside it"
    assert console.run('fail("mm1", times=-1)').strip() == \
        "error: times must be a positive int or None, got -1"
