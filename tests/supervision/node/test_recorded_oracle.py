"""The simulated venue's oracle replayed from a recording (`venue.sim.market.oracle =
"recorded"`): config/backtest_taker.toml over a small Hyperliquid recording written here, whose
`activeAssetCtx` lines carry an oracle that crosses the book for a while.

The book never moves, so the model oracle (the lagged mid, without noise) gives the taker nothing
to trade on the same file (checked first): every order below comes from the recorded oracle."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from protocols.decisions import Gate, RiskRefused
from protocols.orders import TimeInForce
from supervision.config.load import NodeConfig, load_config
from supervision.node import backtest
from supervision.node.backtest import BacktestResult, run_backtest
from tests.supervision.node.test_taker_node import entries, exits, fill_of, of

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "config" / "backtest_taker.toml"
S, MS = 1_000_000_000, 1_000_000
T0_MS = 1_737_918_840_000
BID, ASK = 104_999, 105_001  # whole-dollar ticks: the mid is 105000
CROSSED = 105_105  # 10 bps above the mid: above the ask by more than the fee and the edge
LATENCY_MS = 40  # local receive time after the venue's


def _book(at_ms: int) -> str:
    side = [[{"px": f"{BID - i}.0", "sz": "1.0", "n": 1} for i in range(5)],
            [{"px": f"{ASK + i}.0", "sz": "1.0", "n": 1} for i in range(5)]]
    return json.dumps({"channel": "l2Book",
                       "data": {"coin": "BTC", "time": T0_MS + at_ms, "levels": side}},
                      separators=(",", ":"))


def _ctx(oracle: int) -> str:
    px = f"{oracle}.0"
    return json.dumps({"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": {
        "funding": "0.0000321", "openInterest": "1234.5", "oraclePx": px, "markPx": px,
        "midPx": "105000.0", "dayNtlVlm": "1.0", "premium": "0.0", "prevDayPx": "105000.0"}}},
        separators=(",", ":"))


def write_recording(path: Path, *, crossed: tuple[float, float] = (5.0, 6.5),
                    contexts_until_s: float | None = 20.0, seconds: float = 20.0) -> Path:
    """A book every 500 ms; a context 250 ms after each, its oracle `CROSSED` within `crossed`
    (venue seconds) and the mid elsewhere, none from `contexts_until_s` on."""
    lines = []
    for step in range(int(seconds * 2)):
        at_ms = step * 500
        lines.append((at_ms, _book(at_ms)))
        ctx_ms = at_ms + 250
        if contexts_until_s is not None and ctx_ms < contexts_until_s * 1000:
            inside = crossed[0] * 1000 <= ctx_ms < crossed[1] * 1000
            lines.append((ctx_ms, _ctx(CROSSED if inside else 105_000)))
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for at_ms, raw in lines:
            f.write(f"{(T0_MS + at_ms + LATENCY_MS) * MS} {raw}\n")
    return path


def run(data: Path, *sets: str, oracle: str = "recorded") -> BacktestResult:
    config = load_config(CONFIG, ["data.catalog=false", "venue.sim.market.noise_bps=0",
                                  f'venue.sim.market.oracle="{oracle}"', *sets])
    assert isinstance(config, NodeConfig)
    return run_backtest(config, data=data)


@pytest.fixture
def market_snapshots(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The Market actor's state at the end of each backtest."""
    seen: list[dict[str, Any]] = []
    original = backtest._result

    def capture(node: Any, *args: Any, **kwargs: Any) -> BacktestResult:
        seen.extend(a.snapshot for a in node.host.actors() if a.name.endswith("market:BTCUSDC"))
        return original(node, *args, **kwargs)

    monkeypatch.setattr(backtest, "_result", capture)
    return seen


def test_the_model_oracle_of_the_same_recording_gives_the_taker_nothing(tmp_path: Path) -> None:
    result = run(write_recording(tmp_path / "rec.gz"), oracle="model")
    assert result.orders_sent == 0


def test_the_recorded_oracle_reaches_the_market_and_the_taker_trades_its_dislocation_once(
        tmp_path: Path, market_snapshots: list[dict[str, Any]]) -> None:
    hold_ms = 2_000
    result = run(write_recording(tmp_path / "rec.gz", seconds=12),
                 f"strategies.0.params.hold_ms={hold_ms}")
    [state] = market_snapshots
    # the last recorded context, in doubled ticks, and its funding rate
    assert (state["oracle_x2"], state["mark_x2"]) == (2 * 105_000, 2 * 105_000)
    assert state["funding_rate"] == "0.0000321"
    [entry], [exit_] = entries(result), exits(result)  # one IOC for the one confirmed signal
    assert (entry.side.value, entry.tif, entry.qty) == ("buy", TimeInForce.IOC, 100)
    # the first crossed context is recorded at 5.25 s; its second hit confirms it
    assert 5.25 * S < entry.sent_ns < 6.5 * S
    filled = fill_of(result, entry.client_order_id)
    assert exit_.tif is TimeInForce.IOC and exit_.sent_ns - filled.recv_ns == hold_ms * MS
    assert fill_of(result, exit_.client_order_id).qty == 100
    assert result.position == "flat"


def test_when_the_recorded_oracle_stops_new_orders_are_refused_and_the_exit_passes(
        tmp_path: Path) -> None:
    threshold_ms, last_ctx_s = 3_000, 5.75  # the last context is a crossed one
    data = write_recording(tmp_path / "rec.gz", crossed=(5.0, 20.0), contexts_until_s=6.0)
    result = run(data, "strategies.0.params.hold_ms=5000",
                 "strategies.0.params.reference_max_age_ms=60000",
                 f"risk.stale_oracle_ms={threshold_ms}")
    first, *later = entries(result)
    assert first.sent_ns < (last_ctx_s + threshold_ms / 1000) * S
    assert not later  # the crossing lasts, but nothing new once the oracle is stale
    refused = of(result.journal, RiskRefused)
    assert refused and {r.gate for r in refused} == {Gate.STALE_ORACLE}
    [exit_] = exits(result)  # the time stop flattens with the oracle already stale
    assert exit_.sent_ns > (last_ctx_s + threshold_ms / 1000) * S
    assert fill_of(result, exit_.client_order_id).qty == first.qty
    assert result.position == "flat"


def test_a_recording_without_activeassetctx_is_a_one_line_start_error(tmp_path: Path) -> None:
    data = write_recording(tmp_path / "rec.gz", contexts_until_s=None)
    with pytest.raises(ValueError, match=r'oracle = "recorded" needs activeAssetCtx lines.*'
                                         r"rec\.gz has none") as caught:
        run(data)
    assert "\n" not in str(caught.value)
