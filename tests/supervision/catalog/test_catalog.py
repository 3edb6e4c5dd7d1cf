"""The data catalog: decoded once, cached by content, streamed in bounded batches, inspectable
from the command line, and replaying exactly what the raw recording replays."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from protocols.feed import Stream
from protocols.recording import iter_messages
from protocols.venues import binance, hyperliquid
from supervision.catalog import CatalogReader, build_catalog, read_info
from supervision.catalog.store import build
from supervision.sources.data import BINANCE_SPOT_BTCUSDT, HYPERLIQUID_BTC

ROOT = Path(__file__).resolve().parents[3]
TICK, LOT = Decimal("0.01"), Decimal("0.00000001")

USDM = [  # USD-M futures: depth diffs carry pu and T; trades come as aggTrade
    '1000 {"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":10,"T":9,"s":"BTCUSDT",'
    '"U":100,"u":105,"pu":99,"b":[["60000.10","1.500"]],"a":[["60000.20","0.001"]]}}',
    '2000 {"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":11,"s":"BTCUSDT","a":7,'
    '"p":"60000.20","q":"0.010","f":1,"l":2,"T":11,"m":false}}',
    '3000 {"e":"bookTicker","u":106,"s":"BTCUSDT","b":"60000.10","B":"1.5","a":"60000.20",'
    '"A":"0.001","T":11,"E":12}',
    "4000 this line is not json",
    '5000 {"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":13,"T":12,"s":"BTCUSDT",'
    '"U":106,"u":107,"pu":105,"b":[["60000.105","1"]],"a":[]}}',
]


def same_values(message: object) -> object:
    """A message with its decimal strings as Decimals: the catalog keeps values at the
    recording's precision, not each string's spelling ("104567.0" comes back "104567.00000")."""
    if isinstance(message, binance.DepthDiff | binance.DepthSnapshot | hyperliquid.L2Book):
        def levels(side: tuple) -> tuple:
            return tuple((Decimal(p), Decimal(q), *rest) for p, q, *rest in side)
        return type(message), attrs.evolve(message, bids=levels(message.bids),  # type: ignore
                                           asks=levels(message.asks))
    return message


def write(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return path


def test_a_catalog_rebuilds_every_message_of_the_recording(tmp_path: Path) -> None:
    for recording in (BINANCE_SPOT_BTCUSDT, HYPERLIQUID_BTC):
        path, built = build_catalog(recording, tmp_path)
        assert built
        raw = [(ts, same_values(m)) for ts, m in iter_messages(recording)]
        replayed = [(ts, same_values(m)) for _, ts, m in CatalogReader(path)]
        assert replayed == raw


def test_usdm_diffs_trades_and_tickers_survive_and_a_bad_line_is_left_out(
        tmp_path: Path) -> None:
    recording = write(tmp_path / "usdm.gz", USDM)
    path, _ = build_catalog(recording, tmp_path / "cat")
    info = read_info(path)
    assert (info.rows, info.lines, info.decode_errors, info.scale) == (4, 5, 1, 3)
    good = [same_values(m) for i, (_, m) in enumerate(_messages(USDM)) if i != 3]
    assert [same_values(m) for _, _, m in CatalogReader(path)] == good


def _messages(lines: list[str]) -> list[tuple[int, object]]:
    from protocols.codec import DecodeError
    from protocols.recording import classify

    out: list[tuple[int, object]] = []
    for line in lines:
        ts, _, raw = line.partition(" ")
        try:
            out.append((int(ts), classify(raw)))
        except DecodeError:
            out.append((int(ts), None))
    return out


def test_diffs_come_converted_once_and_off_tick_levels_keep_their_strings(
        tmp_path: Path) -> None:
    recording = write(tmp_path / "usdm.gz", USDM)
    path, _ = build_catalog(recording, tmp_path / "cat")
    events = [m for _, _, m in CatalogReader(path, streams=frozenset({Stream.DEPTH}),
                                             units={"BTCUSDT": (TICK, LOT)})]
    first, second = events
    assert isinstance(first, binance.DepthDiffInUnits)
    assert first.bids == ((6_000_010, 150_000_000),) and first.prev_final_update_id == 99
    assert first.transaction_time_ms == 9
    # 60000.105 is not a whole number of 0.01 ticks: the book must refuse it as from the wire
    assert isinstance(second, binance.DepthDiff) and second.bids == (("60000.105", "1.000"),)


def test_trades_come_converted_once_and_an_off_tick_trade_keeps_its_decimals(
        tmp_path: Path) -> None:
    off_tick = ('6000 {"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":14,'
                '"s":"BTCUSDT","a":8,"p":"60000.205","q":"0.5","f":3,"l":3,"T":14,"m":true}}')
    recording = write(tmp_path / "usdm.gz", [*USDM, off_tick])
    path, _ = build_catalog(recording, tmp_path / "cat")
    trades = [m for _, _, m in CatalogReader(path, streams=frozenset({Stream.TRADES}),
                                             units={"BTCUSDT": (TICK, LOT)})]
    converted, kept = trades
    assert converted == binance.TradeInUnits("BTCUSDT", 7, 6_000_020, 1_000_000, TICK, LOT, 11,
                                             11, False)
    assert isinstance(kept, binance.Trade) and kept.price == Decimal("60000.205")
    # without units, the same trades come as the raw decode makes them
    plain = [m for _, _, m in CatalogReader(path, streams=frozenset({Stream.TRADES}))]
    assert [type(m) for m in plain] == [binance.Trade, binance.Trade]
    assert plain[0].price == Decimal("60000.20") and plain[0].qty == Decimal("0.010")


def test_replay_streams_in_bounded_batches_and_skips_unwanted_kinds(tmp_path: Path) -> None:
    path = tmp_path / "small_groups.parquet"
    build(BINANCE_SPOT_BTCUSDT, path, row_group=5_000)
    assert read_info(path).row_groups == 9  # 41,249 events in groups of 5,000
    reader = CatalogReader(path, streams=frozenset({Stream.DEPTH, Stream.TRADES}),
                           batch_rows=5_000)
    count, halfway = 0, 0.0
    for _ in reader:
        count += 1
        if count == 6_600:
            halfway = reader.fraction()  # progress follows the events, not whole batches
    assert count == 3451 + 1 + 9757 and reader.skipped == 28040
    assert 0.35 < halfway < 0.65 and reader.fraction() == 1.0


def test_the_cache_is_keyed_by_content(tmp_path: Path) -> None:
    copy = tmp_path / "copy.gz"
    shutil.copy(HYPERLIQUID_BTC, copy)
    first, built = build_catalog(copy, tmp_path / "cat")
    again, built_again = build_catalog(copy, tmp_path / "cat")
    assert built and not built_again and again == first
    write(copy, ['1 {"channel":"trades","data":[]}'])  # a changed file is a new catalog
    changed, built_changed = build_catalog(copy, tmp_path / "cat")
    assert built_changed and changed != first


def test_the_command_line_builds_describes_and_shows_a_catalog(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "supervision.catalog", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    built = run("build", str(HYPERLIQUID_BTC), "--dir", str(tmp_path))
    assert built.returncode == 0, built.stderr
    assert "built" in built.stdout and "l2book 46" in built.stdout
    path = next(tmp_path.glob("*.parquet"))
    info = run("info", str(path))
    assert "110 events from 55 lines" in info.stdout and "1e-5" in info.stdout
    head = run("head", str(path), "-n", "2")
    assert head.stdout.count("\n") == 2 and "L2Book(coin='BTC'" in head.stdout
    subset = run("export", str(path), str(tmp_path / "books.parquet"), "--kinds", "l2book")
    assert "wrote 46 events" in subset.stdout
    bad = run("info", str(tmp_path / "missing.parquet"))
    assert bad.returncode == 2 and bad.stderr.startswith("error:")
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("catalog", [False, True])
def test_a_backtest_from_the_catalog_trades_exactly_as_from_the_raw_file(
        tmp_path: Path, catalog: bool) -> None:
    from supervision.config.load import NodeConfig, load_config
    from supervision.node.backtest import run_backtest

    short = tmp_path / "short.gz"
    with gzip.open(BINANCE_SPOT_BTCUSDT, "rt") as src, gzip.open(short, "wt") as dst:
        for i, line in enumerate(src):
            if i >= 12_000:
                break
            dst.write(line)
    base = [f"data.path={short}", "data.progress=off"]
    raw = load_config(ROOT / "config" / "backtest.toml", [*base, "data.catalog=false"])
    cat = load_config(ROOT / "config" / "backtest.toml",
                      [*base, f"data.catalog={str(catalog).lower()}",
                       f"data.catalog_dir={tmp_path / 'cat'}"])
    assert isinstance(raw, NodeConfig) and isinstance(cat, NodeConfig)
    a, b = run_backtest(raw), run_backtest(cat)
    assert a.fills > 0 and a.book_gaps == 0
    assert (a.digest, a.orders_sent, a.fills, a.realized_pnl, a.unrealized_pnl) == \
        (b.digest, b.orders_sent, b.fills, b.realized_pnl, b.unrealized_pnl)
    assert a.lines == b.lines == 12_000
