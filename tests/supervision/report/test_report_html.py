"""report.html opened in a real headless Chromium: the page loads offline and every embedded
image decodes. The browser is the Debian package `chromium` (tests/run installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from actors.analytics import ReportSettings, build_report
from supervision.report import write_report
from tests.actors.analytics.test_report import SPEC, _round_trip

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync")
# Appended to a copy of the page: after load, the title says whether every image decoded.
PROBE = ("<script>window.addEventListener('load',()=>{const i=[...document.images];"
         "document.title=(i.every(x=>x.complete&&x.naturalWidth>0)?'IMAGES-OK ':'IMAGES-BROKEN ')"
         "+i.length;});</script>")


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not on PATH: `apt-get install -y chromium` (tests/run does "
                    "this)", pytrace=False)
    return path


def _browse(page: Path, tmp: Path, *args: str) -> str:
    result = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}",
                             *args, page.as_uri()], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_every_image_loads_in_headless_chromium(tmp_path: Path) -> None:
    report = build_report(_round_trip(), ReportSettings({"X": SPEC}, currency="USD"))
    write_report(report, tmp_path / "out", wall_seconds=1.0, config_text="[node]\nname = 't'\n")
    html = (tmp_path / "out" / "report.html").read_text()
    assert "http://" not in html and "https://" not in html  # nothing to fetch: works offline
    images = len(re.findall(r'<img [^>]*src="data:image/png;base64,', html))
    assert images == 5  # equity+inventory, markouts, decomposition, fill sanity, latency
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"))
    dom = _browse(probe, tmp_path, "--virtual-time-budget=5000", "--dump-dom")
    assert f"<title>IMAGES-OK {images}</title>" in dom
    assert "PASS" in dom and Decimal(report.data["pnl"]["total"]) == Decimal("0.05")
    _browse(tmp_path / "out" / "report.html", tmp_path, "--window-size=1200,2400",
            f"--screenshot={tmp_path / 'shot.png'}")
    assert (tmp_path / "shot.png").stat().st_size > 10_000


def test_a_run_too_short_for_any_markout_still_writes_its_page(tmp_path: Path) -> None:
    # A paper run stopped seconds after its first fill: no horizon has a sample yet. The page
    # must say so rather than fail the run's report (a log axis with no positive value raises).
    whole = _round_trip()
    second_mid = next(i for i, r in enumerate(whole) if i and type(r).__name__ == "MidSampled")
    records = whole[:second_mid]  # the first fill, and no mid after it
    report = build_report(records, ReportSettings({"X": SPEC}, currency="USD"))
    assert all(h["all"]["count"] == 0 for h in report.data["markout"].values())
    write_report(report, tmp_path / "out", wall_seconds=1.0, config_text="[node]\nname = 't'\n")
    html = (tmp_path / "out" / "report.html").read_text()
    assert "no fill has reached a markout horizon yet" in html
