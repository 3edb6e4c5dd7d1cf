"""The control plane on its own thread and trio loop: the node's loop never waits for HTTP.

The test plays the node: its trio loop runs a ticker that notes the longest gap between two
10 ms sleeps, while a client scrapes a `/metrics` whose render takes 300 ms. On the node's loop
that render would stall the ticker for 300 ms; on the plane's own thread it does not. Commands
and readiness still run on the node's loop, reached through the bridge."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import trio

from protocols.control import ControlCommand, ControlOutcome, Readiness
from supervision.control.http import ControlPlane
from supervision.control.server import BindError, ControlPlaneThread
from supervision.runtime.bridge import LoopBridge
from tests.supervision.control.control_kit import AUTH, TOKEN, FakeNode, Token, control_body, http

pytestmark = pytest.mark.trio

RENDER_S = 0.3


class SlowNode(FakeNode):
    """Renders slowly and notes the thread of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: dict[str, set[int]] = {"apply": set(), "readiness": set(),
                                             "metrics_text": set()}

    def apply(self, command: ControlCommand) -> ControlOutcome:
        self.threads["apply"].add(threading.get_ident())
        return super().apply(command)

    def readiness(self) -> Readiness:
        self.threads["readiness"].add(threading.get_ident())
        return super().readiness()

    def metrics_text(self) -> tuple[bytes, str]:
        self.threads["metrics_text"].add(threading.get_ident())
        time.sleep(RENDER_S)  # a render that holds its thread, as a big one does
        return super().metrics_text()


async def test_a_slow_scrape_never_stalls_the_nodes_loop_and_commands_run_on_it() -> None:
    node = SlowNode()
    plane = ControlPlane(node, token=Token(TOKEN),
                         node_bridge=LoopBridge(trio.lowlevel.current_trio_token()))
    server = ControlPlaneThread(plane)
    port = await trio.to_thread.run_sync(server.start)
    longest = 0.0
    try:
        async with trio.open_nursery() as nursery:
            async def ticker() -> None:
                nonlocal longest
                while True:
                    before = trio.current_time()
                    await trio.sleep(0.01)
                    longest = max(longest, trio.current_time() - before)

            nursery.start_soon(ticker)
            scrape = await http(port, "GET", "/metrics")
            ready = await http(port, "GET", "/readyz")
            halt = await http(port, "POST", "/control", body=control_body(), headers=AUTH)
            nursery.cancel_scope.cancel()
    finally:
        await trio.to_thread.run_sync(server.stop)
    assert (scrape.status, ready.status, halt.status) == (200, 200, 200)
    assert longest < RENDER_S / 2, f"the node's loop stalled {longest * 1e3:.0f} ms"
    here = threading.get_ident()
    assert node.threads["apply"] == node.threads["readiness"] == {here}
    assert node.threads["metrics_text"] and here not in node.threads["metrics_text"]
    assert node.state == "HALTED"


async def test_a_crowd_of_scrapes_shares_one_render() -> None:
    node = SlowNode()
    server = ControlPlaneThread(ControlPlane(node, token=None, metrics_max_age_s=60.0))
    port = await trio.to_thread.run_sync(server.start)
    try:
        async with trio.open_nursery() as nursery:
            for _ in range(8):
                nursery.start_soon(http, port, "GET", "/metrics")
    finally:
        await trio.to_thread.run_sync(server.stop)
    assert len(node.threads["metrics_text"]) == 1  # one render for all eight


async def test_a_port_in_use_is_one_bind_error_naming_the_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ControlPlaneThread(ControlPlane(FakeNode(), token=None, port=port))
        with pytest.raises(BindError) as caught:
            await trio.to_thread.run_sync(server.start)
    assert str(caught.value) == f"cannot listen on 127.0.0.1:{port}: Address already in use"
