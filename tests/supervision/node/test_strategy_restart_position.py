"""A market maker its supervisor restarts keeps the position its last incarnation built: the new
incarnation asks the portfolio where it stands before it quotes, on a paper node in virtual
time, the way an operator meets a strategy that raised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors.portfolio.portfolio_actor import GetSnapshot
from supervision.runtime.faults import Fault
from tests.supervision.node.failure_kit import PaperNode


def engine(paper: PaperNode) -> Any:
    return paper.host.cell("node/strategies/mm1").behaviour.engine


def portfolio_lots(paper: PaperNode) -> int:
    snapshot = paper.host.ask(paper.host.cell("node/risk/portfolio").ref, GetSnapshot())
    position = snapshot.position("BTCUSDT")
    return 0 if position is None else position.qty


def test_a_restarted_market_maker_starts_from_the_position_it_held(tmp_path: Path) -> None:
    paper = PaperNode(tmp_path).start()
    for _ in range(600):
        paper.run(1.0)
        if engine(paper).inventory.q:
            break
    held = engine(paper).inventory.q
    assert held, "the market maker never held a position in 600 s"
    assert held == portfolio_lots(paper)
    paper.node.inject_fault("strategies/mm1", Fault(times=1, message_type="BookTop"))
    paper.run(2.0)
    cell = paper.host.cell("node/strategies/mm1")
    assert (cell.failures, cell.restarts) == (1, 1)
    # The new incarnation's inventory is the account's, not 0, and its entry is known.
    assert engine(paper).inventory.q == portfolio_lots(paper) != 0
    assert engine(paper).inventory.entry is not None
    assert not engine(paper).position_pending
    paper.run(30.0)  # and it goes on trading from there, in step with the portfolio
    assert engine(paper).inventory.q == portfolio_lots(paper)
    assert paper.duplicate_ids() == [] and paper.unknown_open_orders() == []
