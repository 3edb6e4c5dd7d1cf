"""Only an operator relaxes an operator's decision: the rules of a commanded state change.

An alert's command says how far it may go (`only_tighten`, `only_from`), and the account state
checks it against its own state, where no race can slip between check and change."""

from __future__ import annotations

from actors.risk.rules import RiskState
from protocols.decisions import TradingState, TradingStateChanged
from tests.actors.risk.risk_kit import CONFIG, EPOCH, T0

ACTIVE, REDUCING, HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED


def command(rs: RiskState, state: TradingState, source: str, **limits: object) -> list[object]:
    return list(rs.set_trading_state(state, f"{state.name} by {source}", source, T0,
                                     EPOCH + T0, **limits))  # type: ignore[arg-type]


def alert_tightens(rs: RiskState) -> list[object]:
    return command(rs, REDUCING, "alertmanager", only_tighten=True)


def alert_resumes(rs: RiskState) -> list[object]:
    return command(rs, ACTIVE, "alertmanager", only_from="alertmanager")


def test_an_alert_never_moves_halted_to_reducing() -> None:
    rs = RiskState(CONFIG)
    command(rs, HALTED, "http")
    assert alert_tightens(rs) == [] and rs.state is HALTED and rs.source == "http"


def test_an_alert_tightens_active_and_its_resume_undoes_only_its_own_reducing() -> None:
    rs = RiskState(CONFIG)
    effects = alert_tightens(rs)
    assert rs.state is REDUCING and rs.source == "alertmanager"
    assert [e.source for e in effects if isinstance(e, TradingStateChanged)] == ["alertmanager"]
    effects = alert_resumes(rs)
    assert rs.state is ACTIVE
    assert [e.source for e in effects if isinstance(e, TradingStateChanged)] == ["alertmanager"]


def test_an_operators_reducing_is_the_operators_even_over_an_alerts() -> None:
    rs = RiskState(CONFIG)
    alert_tightens(rs)
    assert command(rs, REDUCING, "http") == []  # no change of state, but a change of decider
    assert rs.source == "http"
    assert alert_resumes(rs) == [] and rs.state is REDUCING


def test_an_alert_never_resumes_what_an_operator_or_the_gate_decided() -> None:
    for decider in ("http", "risk_gate", "reconciliation"):
        rs = RiskState(CONFIG)
        command(rs, REDUCING, decider)
        assert alert_resumes(rs) == [] and rs.state is REDUCING, decider


def test_after_a_restart_only_an_operator_resumes() -> None:
    rs = RiskState(CONFIG)
    alert_tightens(rs)
    restored = RiskState(CONFIG, rs.persistent_state())
    assert restored.state is REDUCING and restored.source == "journal"
    assert alert_resumes(restored) == [] and restored.state is REDUCING
    command(restored, ACTIVE, "http")
    assert restored.state is ACTIVE

