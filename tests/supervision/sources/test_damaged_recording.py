"""A damaged recording (a gzip stream cut short, a file that is not gzip) is refused with one
clear line by every tool an operator feeds it to, and nothing is half-done: no shortened
backtest, no book from half a file, no partial catalog left in the cache."""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from supervision.catalog.__main__ import main as catalog_main
from supervision.replay import main as replay_main

DATA = Path(__file__).resolve().parents[3] / "supervision/sources/data"
SPOT = DATA / "binance_spot_btcusdt_20240808.gz"


@pytest.fixture
def truncated(tmp_path: Path) -> Path:
    path = tmp_path / "trunc.gz"
    path.write_bytes(SPOT.read_bytes()[:20_000])  # what `head -c 20000` leaves
    return path


@pytest.fixture
def not_gzip(tmp_path: Path) -> Path:
    path = tmp_path / "plain.gz"
    path.write_text("1723075200000000000 {\"e\":\"trade\"}\n")
    return path


def _complete_lines(path: Path) -> int:
    """The whole lines a truncated gzip file still holds, counted with zlib alone."""
    return zlib.decompressobj(31).decompress(path.read_bytes()).count(b"\n")


def _empty(directory: Path) -> bool:
    return not directory.exists() or not list(directory.iterdir())


def test_the_reader_names_a_truncated_stream_and_the_last_whole_line(truncated: Path) -> None:
    n = _complete_lines(truncated)
    assert n > 100
    from supervision.sources.recording_reader import RecordingError, RecordingReader

    with pytest.raises(RecordingError) as caught:
        list(RecordingReader(truncated))
    assert str(caught.value) == \
        f"{truncated}: truncated after line {n} (the gzip stream ends early)"


def test_the_reader_names_a_file_that_is_not_gzip(not_gzip: Path) -> None:
    from supervision.sources.recording_reader import RecordingError, RecordingReader

    with pytest.raises(RecordingError, match=r"plain\.gz: not a gzip file$"):
        list(RecordingReader(not_gzip))


def test_replay_tool_exits_2_with_one_line(truncated: Path, not_gzip: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    n = _complete_lines(truncated)
    assert replay_main([str(truncated), "--venue", "binance-spot"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {truncated}: truncated after line {n} (the gzip stream ends early)\n"
    assert replay_main([str(not_gzip), "--venue", "binance-spot"]) == 2
    assert capsys.readouterr().err == f"error: {not_gzip}: not a gzip file\n"


@pytest.mark.parametrize("damage", ["truncated", "not_gzip"])
def test_catalog_build_refuses_and_leaves_nothing_behind(
        damage: str, request: pytest.FixtureRequest, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = request.getfixturevalue(damage)
    why = (f"truncated after line {_complete_lines(path)} (the gzip stream ends early)"
           if damage == "truncated" else "not a gzip file")
    catalog_dir = tmp_path / "catalog"
    assert catalog_main(["build", str(path), "--dir", str(catalog_dir)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {path}: {why}; not cached\n"
    assert _empty(catalog_dir)


@pytest.mark.parametrize("catalog", ["true", "false"])
def test_a_backtest_of_a_truncated_recording_refuses_before_trading(
        truncated: Path, tmp_path: Path, catalog: str) -> None:
    n = _complete_lines(truncated)
    run = subprocess.run(
        [sys.executable, "-m", "supervision.main", "config/backtest.toml",
         "--set", f"data.path={truncated}", "--set", f"data.catalog={catalog}",
         "--set", f"data.catalog_dir={tmp_path / 'catalog'}"],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[3])
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"error: {truncated}: truncated after line {n} (the gzip stream ends early)" \
        in run.stderr.splitlines()
    assert "backtest of" not in run.stdout  # no summary of a shortened run
    assert _empty(tmp_path / "catalog")


def test_a_backtest_of_a_file_that_is_not_gzip_says_so(not_gzip: Path, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "supervision.main", "config/backtest.toml",
         "--set", f"data.path={not_gzip}", "--set", f"data.catalog_dir={tmp_path / 'catalog'}"],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[3])
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"error: {not_gzip}: not a gzip file" in run.stderr.splitlines()
    assert _empty(tmp_path / "catalog")
