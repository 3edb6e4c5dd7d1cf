"""What both fake venues' command lines share: argument types that refuse a bad value in
argparse's own one line, and running the venue until Ctrl-C without a traceback.

`python -m supervision.fakevenue` and `python -m supervision.fakevenue.hyperliquid` serve until
interrupted, so Ctrl-C is how they end, not an error: trio delivers it wrapped in the nursery's
exception group, which `serve_until_interrupted` unwraps (exit 0). A port that cannot be bound
(in use, out of range) is one `error:` line and exit 2, as a bad `--fault` is.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Awaitable, Callable

import trio

__all__ = ["non_negative", "port", "positive", "serve_until_interrupted"]


def port(text: str) -> int:
    """A TCP port, 0 (the OS chooses) to 65535."""
    try:
        number = int(text)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return number


def _number(text: str, *, zero: bool) -> float:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0 or (number == 0 and not zero):
        expected = "0 or more" if zero else "above 0"
        raise argparse.ArgumentTypeError(f"expected a number {expected}, got {text!r}")
    return number


def non_negative(text: str) -> float:
    """A finite number, 0 or more."""
    return _number(text, zero=True)


def positive(text: str) -> float:
    """A finite number above 0."""
    return _number(text, zero=False)


def _only(error: BaseException) -> BaseException:
    """The one exception inside nested single-member groups (the group itself otherwise)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def serve_until_interrupted(run: Callable[[], Awaitable[None]], where: str) -> int:
    """`trio.run(run)`: 0 after Ctrl-C, 2 with one line when `where` cannot be bound."""
    try:
        trio.run(run)
    except BaseException as error:  # unwrapped, and raised again unless it is ours
        inner = _only(error)
        if isinstance(inner, KeyboardInterrupt):
            return 0
        if isinstance(inner, OSError | OverflowError):
            sys.stderr.write(f"error: cannot listen on {where}: {inner}\n")
            return 2
        raise
    return 0
