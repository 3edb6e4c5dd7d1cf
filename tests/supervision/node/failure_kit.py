"""A paper node on the deterministic host, with a journal on disk, for fault-injection tests:
the same assembly and market flow `python -m supervision.main config/paper.toml` runs, in
virtual time, plus the checks every failure test makes (no id sent twice, no open order unknown
to its strategy, the journal and the venue agree)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from actors.execution.venue_connection import GetVenueState
from supervision.config.load import NodeConfig, load_config
from supervision.node.assembly import Node
from supervision.node.journal import iter_journal
from supervision.node.journal_writer import JournalWriter
from supervision.node.live_guard import Mode
from supervision.node.run import _source_factory
from supervision.runtime.deterministic import DeterministicHost


def paper_config(tmp_path: Path, *overrides: str, strategies: int = 1) -> NodeConfig:
    config = load_config("config/paper.toml", [f"journal.path={tmp_path / 'journal.jsonl'}",
                                               *overrides], environ={})
    assert isinstance(config, NodeConfig)
    first = config.strategies[0]
    extra = tuple(attrs.evolve(first, id=f"mm{n}") for n in range(2, strategies + 1))
    return attrs.evolve(config, strategies=(first, *extra))


class PaperNode:
    def __init__(self, tmp_path: Path, *overrides: str, strategies: int = 1, seed: int = 1,
                 mode: Mode = Mode.PAPER) -> None:
        self.config = paper_config(tmp_path, *overrides, strategies=strategies)
        self.journal_path = Path(self.config.journal.path)
        self.host = DeterministicHost(seed=seed)
        self.node = Node(self.config, mode, self.host)

    def start(self) -> PaperNode:
        path = self.journal_path
        self.node.start(lambda **kw: JournalWriter(path, "never", **kw),
                        _source_factory(self.config, self.node))
        return self

    def run(self, seconds: float) -> None:
        self.host.advance(seconds)

    # -- what the journal says --------------------------------------------------------------
    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [r for r in iter_journal(self.journal_path) if kind is None or r["kind"] == kind]

    def sent_ids(self) -> list[str]:
        return [r["data"]["client_order_id"] for r in self.records("OrderSent")]

    # -- what the venue and the strategies say ------------------------------------------------
    def venue_orders(self) -> list[Any]:
        state = self.host.ask(self.node.connection, GetVenueState())
        return list(state["open_orders"])

    def strategy_orders(self) -> dict[str, str]:
        """Every order id a running strategy incarnation holds -> that strategy."""
        known = {}
        for strategy in self.config.strategies:
            cell = self.host.existing_cell(f"node/strategies/{strategy.id}")
            behaviour = getattr(cell, "behaviour", None)
            if behaviour is None:
                continue
            for order in behaviour.engine.orders.slots.values():
                if order is not None:
                    known[order.cid] = strategy.id
        return known

    def unknown_open_orders(self) -> list[str]:
        """Orders resting at the venue that no running strategy incarnation knows."""
        known = self.strategy_orders()
        return [o.client_order_id for o in self.venue_orders() if o.client_order_id not in known]

    def duplicate_ids(self) -> list[str]:
        counts = Counter(self.sent_ids())
        return sorted(cid for cid, n in counts.items() if n > 1)

    def duplicate_refusals(self) -> float:
        return self.metric("troupe_risk_refusals_total", gate="duplicate_intent")

    def metric(self, name: str, **labels: str) -> float:
        counters = self.host.metrics.counters  # type: ignore[attr-defined]
        return sum(v for (_, metric, labs), v in counters.items()
                   if metric == name and all((k, val) in labs for k, val in labels.items()))
