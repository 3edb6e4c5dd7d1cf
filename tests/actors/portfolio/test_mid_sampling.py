"""The portfolio journals sampled mids (`MidSampled`): a changed mid at once when the interval
since the last one journaled has passed, else the newest changed mid when the interval's timer
fires, and nothing if the mid came back to the one journaled. The reference below is that rule
as first written (a record built for every changed mid); random books and clocks go through it
and through the portfolio, and the journals must be the same, record for record."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.behaviour import Behaviour
from actors.portfolio.portfolio_actor import Portfolio, _SampleDue
from actors.testing import FakeContext
from protocols.instruments import InstrumentSpec
from protocols.market import BookTop
from protocols.portfolio import MidSampled

INTERVAL_NS = 250_000_000
SPECS = {name: InstrumentSpec(name, "test", D("0.01"), D("0.001"), D("0.001"), D(1),
                              D("0.001"), D("0.001")) for name in ("A", "B")}


class ReferenceSampler(Behaviour):
    """The sampling rule as first written: a record built for every changed mid."""

    def __init__(self, journal: Any) -> None:
        self.journal = journal
        self._sampled: dict[str, MidSampled] = {}
        self._unsampled: dict[str, MidSampled] = {}

    def receive(self, message: Any, ctx: Any) -> Any:
        if isinstance(message, _SampleDue):
            pending = self._unsampled.pop(message.instrument, None)
            if pending is not None:
                self._journal(pending, ctx)
        elif isinstance(message, BookTop) and message.mid_x2 is not None:
            self._sample(message.instrument, message.mid_x2, message.recv_ns, ctx)

    def _sample(self, name: str, mid_x2: int, recv_ns: int, ctx: Any) -> None:
        last = self._sampled.get(name)
        if last is not None and last.mid_x2 == mid_x2:
            if self._unsampled:
                self._unsampled.pop(name, None)
            return
        sample = MidSampled(name, mid_x2, recv_ns)
        if last is None or recv_ns - last.recv_ns >= INTERVAL_NS:
            self._unsampled.pop(name, None)
            self._journal(sample, ctx)
            return
        if name not in self._unsampled:
            wait_ns = last.recv_ns + INTERVAL_NS - ctx.monotonic_ns()
            ctx.schedule(max(wait_ns, 0) / 1e9, _SampleDue(name), key=("portfolio.mid", name))
        self._unsampled[name] = sample

    def _journal(self, sample: MidSampled, ctx: Any) -> None:
        self._sampled[sample.instrument] = sample
        ctx.tell(self.journal, sample)


steps = st.lists(st.tuples(st.sampled_from(["A", "B"]), st.integers(-2, 2),
                           st.integers(0, 400_000_000)), min_size=1, max_size=200)


@settings(max_examples=200, deadline=None)
@given(steps=steps)
def test_the_portfolio_journals_the_mids_the_sampling_rule_journals(
        steps: list[tuple[str, int, int]]) -> None:
    journals = []
    for build in (lambda journal: Portfolio(SPECS, journal=journal,
                                            mid_sample_interval_ns=INTERVAL_NS),
                  ReferenceSampler):
        ctx = FakeContext("risk/portfolio")
        journal = ctx.ref("journal")
        actor = build(journal)
        mids = {"A": 2_000, "B": 4_000}
        for sequence, (name, move, wait_ns) in enumerate(steps):
            ctx.advance(wait_ns / 1e9, actor)  # the sampler's timers fire on the way
            mids[name] += move
            now = ctx.monotonic_ns()
            ctx.deliver(actor, BookTop(name, mids[name], 1, mids[name] + 1, 1, now, now,
                                       sequence))
        ctx.advance(1.0, actor)
        journals.append(journal.of_type(MidSampled))
    assert journals[0] == journals[1]
    assert journals[0]  # the first mid of an instrument is always journaled
