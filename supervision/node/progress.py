"""Progress of a long run on stderr: a bar with an ETA on a terminal, plain lines otherwise.

The reporter reads the wall clock (it is the operator's view of a run, not part of one) and is
driven by its caller: `update(fraction, detail)` as often as convenient; it draws at most every
`redraw_s` on a terminal and writes a line every `interval_s` otherwise, so a log file gets a
few lines rather than a carriage-return storm.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]

_BAR = 30


class Progress:
    def __init__(self, label: str, *, mode: str = "auto", interval_s: float = 5.0,
                 stream: TextIO | None = None, redraw_s: float = 0.2) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if mode == "auto":
            isatty = getattr(self.stream, "isatty", None)
            mode = "bar" if isatty is not None and isatty() else "lines"
        self.mode, self.label = mode, label
        self.every_s = redraw_s if mode == "bar" else interval_s
        self.started = time.monotonic()
        self._last = self.started
        self._drawn = False

    def update(self, fraction: float, detail: str = "") -> None:
        now = time.monotonic()
        if self.mode == "off" or now - self._last < self.every_s:
            return
        self._last = now
        self._draw(fraction, detail, now)

    def done(self, detail: str = "") -> None:
        if self.mode == "off":
            return
        self._draw(1.0, detail, time.monotonic())
        if self.mode == "bar":
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, fraction: float, detail: str, now: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        elapsed = now - self.started
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else None
        eta_text = "?" if eta is None else f"{eta:.1f}s"
        text = f"{self.label} {fraction * 100:5.1f}% {elapsed:.1f}s ETA {eta_text} {detail}"
        if self.mode == "bar":
            filled = round(fraction * _BAR)
            bar = "#" * filled + "." * (_BAR - filled)
            self.stream.write(f"\r{self.label} [{bar}] {fraction * 100:5.1f}% "
                              f"ETA {eta_text} {detail}\x1b[K")
        else:
            self.stream.write(text.rstrip() + "\n")
        self.stream.flush()
        self._drawn = True
