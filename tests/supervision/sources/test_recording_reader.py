"""RecordingReader inflates and splits the gzip stream itself: its lines must be exactly those of
`gzip.open(path, "rt", encoding="utf-8", errors="replace")` read line by line (the reader it
replaced, kept here as the oracle), whatever falls on a block's edge, and the whole lines of a
damaged stream come out before the error that names it."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from supervision.sources import recording_reader
from supervision.sources.data import BINANCE_SPOT_BTCUSDT, HYPERLIQUID_BTC
from supervision.sources.recording_reader import RecordingError, RecordingReader, is_ticker_line

TICKER = '{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT"}}'
TRADE = '{"stream":"btcusdt@trade","data":{"e":"trade","p":"1.5"}}'
USDM_TICKER = '{"e":"bookTicker","u":1,"s":"BTCUSDT"}'
# a stream that names bookTicker too far in to be told without decoding: delivered
FAR = '{"stream":"' + "x" * 60 + '@bookTicker","data":{}}'


def oracle(path: Path, skip_tickers: bool) -> tuple[list[Any], int, int]:
    """The lines, the lines read and the tickers skipped, as the gzip text reader gave them."""
    out, lineno, skipped = [], 0, 0
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        for lineno, text in enumerate(f, 1):
            line = text.rstrip("\r\n")
            if not line:
                continue
            ts, sep, body = line.partition(" ")
            if sep and ts.isdigit() and body:
                if skip_tickers and is_ticker_line(body):
                    skipped += 1
                    continue
                out.append((lineno, int(ts), body))
            else:
                out.append((lineno, None, f"expected '<local_ts_ns> <json>', got {line[:60]!r}"))
    return out, lineno, skipped


def read(path: Path, skip_tickers: bool) -> tuple[list[Any], int, int]:
    reader = RecordingReader(path, skip_tickers=skip_tickers)
    return list(reader), reader.lines, reader.skipped


# Every way a line can end or be odd: CRLF, a lone CR, empty lines, no ID, bytes that are not
# UTF-8 (one cut by nothing, one at the very end), a line end at the end of the file or not.
ODD = (f"1 {TRADE}\r\n2 {TICKER}\r\r\n\n3 {TRADE}\r4 {TICKER}\n".encode()
       + b"5 {\"e\":\"trade\",\"p\":\"\xff\xfe\"}\n" + b"no timestamp here\n \n"
       + f"6 {TRADE}\n9 {USDM_TICKER}\n10 {FAR}\n11  {TICKER}\n12 \n".encode()
       + f"6 {TRADE}\n".encode() * 40 + "7 {\"s\":\"€uro\"}\r".encode() + b"8 \xe2\x82")


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 18])
@pytest.mark.parametrize("ending", [b"", b"\n", b"\r\n"])
def test_the_lines_are_the_gzip_text_readers_on_every_block_edge(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, ending: bytes) -> None:
    # compressed bytes a read: lines cut anywhere
    monkeypatch.setattr(recording_reader, "_BLOCK", block)
    path = tmp_path / "odd.gz"
    # two gzip members, as a recorder that appended to its file writes them: one stream
    path.write_bytes(gzip.compress(ODD[:300]) + gzip.compress(ODD[300:] + ending))
    for skip in (False, True):
        got = read(path, skip)
        assert got == oracle(path, skip)
    assert got[2] == 3  # the tickers were skipped, and only those


@pytest.mark.parametrize("path", [BINANCE_SPOT_BTCUSDT, HYPERLIQUID_BTC])
def test_the_shipped_recordings_read_as_before(path: Path) -> None:
    for skip in (False, True):
        assert read(path, skip) == oracle(path, skip)


def test_an_empty_file_has_no_lines(tmp_path: Path) -> None:
    path = tmp_path / "empty.gz"
    path.write_bytes(b"")
    assert read(path, True) == ([], 0, 0)


def test_the_whole_lines_of_a_cut_stream_come_before_its_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recording_reader, "_BLOCK", 4096)
    path = tmp_path / "cut.gz"
    whole = gzip.compress(b"".join(b"%d %s\n" % (i, TRADE.encode()) for i in range(1, 5000)),
                          compresslevel=1)
    path.write_bytes(whole[:len(whole) // 2])
    reader = RecordingReader(path)
    lines: list[Any] = []
    with pytest.raises(RecordingError) as caught:
        lines.extend(reader)
    n = len(lines)
    assert n > 100 and lines[-1][0] == n and lines[-1][1] == n  # whole lines, in order
    assert str(caught.value) == f"{path}: truncated after line {n} (the gzip stream ends early)"


def test_damaged_data_mid_stream_is_named_by_the_reader_and_the_check(tmp_path: Path) -> None:
    path = tmp_path / "damaged.gz"
    data = bytearray(BINANCE_SPOT_BTCUSDT.read_bytes())
    data[200_000:200_016] = b"\xff" * 16  # deflate blocks that do not decode
    path.write_bytes(bytes(data))
    with pytest.raises(RecordingError) as checked:
        recording_reader.check_recording(path)
    said = str(checked.value)
    assert said.startswith(f"{path}: damaged gzip data after line ") and "Error -3" in said
    reader = RecordingReader(path)
    lines: list[Any] = []
    with pytest.raises(RecordingError) as caught:
        lines.extend(reader)
    assert str(caught.value) == said and len(lines) > 1000
