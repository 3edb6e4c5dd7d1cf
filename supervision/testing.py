"""Testing with real hosts: a probe actor, the run-on-both-hosts fixture, and the trading path.

- `Probe`: an actor that records every message it receives with the (virtual or real) time it
  arrived, and optionally answers. It stands in for a risk gate, a journal, a venue, a
  subscriber. `received(host, ref)` reads what a probe got, on either host.
- A pytest plugin (this module; registered by the `pytest11` entry point of the package, so any
  project that installs Troupe gets it): the `host` fixture runs a test once on the
  `DeterministicHost` and once on the `LiveHost`; `deterministic` and `live` give one of each.
  Both hosts offer spawn/tell/ask/stop/settle/advance/actors; `advance(s)` lets s seconds pass,
  virtual on one and real on the other, so timings in such tests are kept short.
- `TradingPath` (from `supervision.node.pipeline`): the book -> strategy -> risk -> budget ->
  venue path as the node wires it, with your venue connection (a probe, a stand-in that acks,
  the SimVenue) plugged in; `TradingPath.spawn(host)` starts it on a host, no supervisor.

The fake context that tests a behaviour with no host at all is `actors.testing.FakeContext`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest

from actors.behaviour import Behaviour, Context, Ref
from supervision.node.pipeline import PathRefs, StrategyPlan, TradingPath
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.live import LiveHost

__all__ = [
    "SEEN",
    "PathRefs",
    "Probe",
    "ShowReceived",
    "StrategyPlan",
    "TradingPath",
    "deterministic",
    "host",
    "live",
    "received",
]

HOST_SEED = 7


@attrs.frozen(slots=True)
class ShowReceived:
    """Ask a `Probe` for what it has received so far: the messages, or (monotonic ns, message)
    pairs with `with_time`, only those of `kind` if given. A probe does not record this."""

    with_time: bool = False
    kind: type | tuple[type, ...] | None = None


SEEN = ShowReceived()


class Probe(Behaviour):
    """Records every message with its arrival time (`ctx.monotonic_ns()`).

    `into`: a list to record into (shared with the test, e.g. across restarts); `reply`: called
    as `reply(message, ctx)` before the message is recorded, its value answers an ask (it may
    raise, to fail the actor, or `ctx.stop()`); `lifecycle`: a list that gets ("start", name)
    and ("stop", name)."""

    def __init__(self, into: list[tuple[int, Any]] | None = None, *,
                 reply: Callable[[Any, Context], Any] | None = None,
                 lifecycle: list[tuple[str, str]] | None = None) -> None:
        self.records: list[tuple[int, Any]] = into if into is not None else []
        self.reply = reply
        self.lifecycle = lifecycle

    def on_start(self, ctx: Context) -> None:
        if self.lifecycle is not None:
            self.lifecycle.append(("start", ctx.name))

    def on_stop(self, ctx: Context) -> None:
        if self.lifecycle is not None:
            self.lifecycle.append(("stop", ctx.name))

    def receive(self, message: Any, ctx: Context) -> Any:
        if isinstance(message, ShowReceived):
            return self.show(message)
        answer = self.reply(message, ctx) if self.reply is not None else None
        self.records.append((ctx.monotonic_ns(), message))
        return answer

    @property
    def messages(self) -> list[Any]:
        return [message for _, message in self.records]

    def show(self, query: ShowReceived = SEEN) -> list[Any]:
        records = [r for r in self.records if query.kind is None or isinstance(r[1], query.kind)]
        return list(records) if query.with_time else [message for _, message in records]

    def snapshot(self) -> Any:
        return {"received": len(self.records)}


def received(host: Any, probe: Ref | str, kind: type | tuple[type, ...] | None = None, *,
             with_time: bool = False) -> list[Any]:
    """What the probe `probe` (any ref, a `NamedRef` included, or an actor name on the host) has
    received, on either host: asked through its mailbox, so it comes after everything told to it
    before."""
    ref = host.existing_cell(probe if isinstance(probe, str) else probe.name).ref
    result: list[Any] = host.ask(ref, ShowReceived(with_time, kind))
    return result


# ------------------------------------------------------------------------------------------
# The pytest plugin


@pytest.fixture(params=["deterministic", "live"])
def host(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The same behaviour test, on the deterministic host and on the live host."""
    if request.param == "deterministic":
        yield DeterministicHost(seed=HOST_SEED)
    else:
        live_host = LiveHost(seed=HOST_SEED).start()
        try:
            yield live_host
        finally:
            live_host.close(timeout=2.0)


@pytest.fixture
def deterministic() -> DeterministicHost:
    return DeterministicHost(seed=HOST_SEED)


@pytest.fixture
def live() -> Iterator[LiveHost]:
    live_host = LiveHost(seed=HOST_SEED).start()
    try:
        yield live_host
    finally:
        live_host.close(timeout=2.0)
