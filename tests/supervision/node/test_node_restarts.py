"""A gate restarted by its supervisor, inside a running node, keeps an operator's halt: it is
rebuilt from its own latest persisted record, not from the state the process started with."""

from __future__ import annotations

from protocols.control import ControlActionName, ControlCommand
from protocols.decisions import TradingState
from protocols.risk import SetTradingState
from supervision.config.load import NodeConfig, load_config
from supervision.node.assembly import Node
from supervision.node.live_guard import Mode
from supervision.runtime.deterministic import DeterministicHost


def test_a_restarted_risk_gate_remembers_the_halt(tmp_path) -> None:
    config = load_config("config/paper.toml", [f"journal.path={tmp_path / 'j.jsonl'}"],
                         environ={})
    assert isinstance(config, NodeConfig)
    host = DeterministicHost(seed=1)
    node = Node(config, Mode.PAPER, host)
    node.start(None, None)
    host.settle()
    node.apply(ControlCommand(ControlActionName.HALT, "drill", "http"))
    host.settle()
    assert host.actor("node/risk/gate").snapshot["trading_state"] == "HALTED"
    # A malformed command is a bug upstream: the gate fails, and its supervisor restarts it.
    host.tell(node.gate, SetTradingState("not a state", "bug", "test"))  # type: ignore[arg-type]
    host.run_until_idle(max_seconds=1.0)
    gate = host.actor("node/risk/gate")
    assert gate.failures == 1 and gate.restarts == 1
    assert gate.snapshot["trading_state"] == "HALTED"
    assert node.view.state is TradingState.HALTED
