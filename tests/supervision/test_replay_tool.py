"""`python -m supervision.replay`: the final book of a recording, spelled as the venue wrote it."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from supervision.replay import final_book
from supervision.sources.data import BINANCE_SPOT_BTCUSDT, HYPERLIQUID_BTC


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "supervision.replay", *args],
                          capture_output=True, text=True, timeout=120)


def test_the_shipped_binance_recording_ends_in_a_book_spelled_as_binance_wrote_it() -> None:
    result = run(str(BINANCE_SPOT_BTCUSDT), "--venue", "binance-spot", "--book-depth", "2")
    assert result.returncode == 0, result.stderr
    book = json.loads(result.stdout)
    assert book["messages"] == 41249 and (book["gaps"], book["resyncs"]) == (0, 0)
    assert book["bids"][0] == ["61685.99000000", "1.00870000"]
    assert book["asks"][0] == ["61686.00000000", "2.29327000"]
    assert len(book["bids"]) == len(book["asks"]) == 2


def test_hyperliquid_keeps_its_own_spelling() -> None:
    book = final_book(HYPERLIQUID_BTC, "hyperliquid", 1)
    assert (book["bids"], book["asks"]) == ([["105050.0", "1.12931"]], [["105051.0", "6.13423"]])


def _write(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt") as f:
        f.writelines(f"{i} {line}\n" for i, line in enumerate(lines, 1))
    return path


def test_usdm_chains_on_pu_and_counts_a_gap(tmp_path: Path) -> None:
    def diff(first: int, last: int, prev: int, bid: str) -> str:
        return json.dumps({"stream": "btcusdt@depth@100ms", "data": {
            "e": "depthUpdate", "E": last, "T": last, "s": "BTCUSDT", "U": first, "u": last,
            "pu": prev, "b": [["100.10", bid]], "a": []}})
    snapshot = json.dumps({"lastUpdateId": 10, "bids": [["100.10", "1.000"]],
                           "asks": [["100.20", "2.000"]]})
    path = _write(tmp_path / "usdm.gz", [snapshot, diff(8, 12, 7, "1.500"),
                                         diff(13, 20, 12, "3.000"), diff(25, 30, 22, "9.000")])
    book = final_book(path, "binance-usdm", 5)
    assert book == {"bids": [["100.10", "3.000"]], "asks": [["100.20", "2.000"]],
                    "messages": 4, "gaps": 1, "resyncs": 0}


def test_a_file_without_a_snapshot_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with gzip.open(BINANCE_SPOT_BTCUSDT, "rt") as f:
        lines = [next(f).split(" ", 1)[1].rstrip("\n") for _ in range(7)]
    path = _write(tmp_path / "nosnap.gz", lines)
    result = run(str(path), "--venue", "binance-spot")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "no depth snapshot" in result.stderr
    wrong = run(str(BINANCE_SPOT_BTCUSDT), "--venue", "binance-usdm")
    assert wrong.returncode == 2 and "try --venue binance-spot" in wrong.stderr
    missing = run(str(tmp_path / "nope.gz"), "--venue", "hyperliquid")
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_a_directory_is_named_as_one(tmp_path: Path) -> None:
    result = run(str(tmp_path), "--venue", "binance-spot")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"error: {tmp_path}: is a directory, not a recording\n"
