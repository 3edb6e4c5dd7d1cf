"""The fake venue's fault script: what goes wrong next, set by a test or an operator.

Every fault is a counter or a duration that the venue consumes as it happens, so a test arms
exactly what it means ("the next two order requests answer 429") and can read back what is left.
Set them at start (`--fault rate_limit=3`), or while the venue runs with `POST /fake/faults`
and a JSON object of the fields below; `GET /fake/state` shows them.

| fault               | what the venue does                                                  |
|---------------------|----------------------------------------------------------------------|
| `disconnect`        | closes every stream socket (market and user data), n times, at the   |
|                     | next frame                                                           |
| `stall_s`           | sends nothing at all for that long (the sockets stay open)           |
| `gap`               | drops the next n depth diffs from the streams (its own book moves on) |
| `malformed`         | sends n frames that are not JSON                                     |
| `off_tick_deep`     | writes the last bid of the next n depth diffs of more than 20 bids   |
|                     | off the tick (a level far from the top, which the live decode leaves |
|                     | for the book to convert after it has published the top)              |
| `rate_limit`        | answers the next n REST requests 429 with `Retry-After: retry_after_s`|
| `storm_s`           | a 429 storm: every REST request for that long is answered 429 with   |
|                     | `Retry-After` the whole seconds left (from the next request on)      |
| `ban_s`             | an IP ban: every REST request for that long is answered 418 with     |
|                     | Binance's words and `Retry-After` the whole seconds left             |
| `weight_limit`      | request weight a minute before 429s (0: the venue's published limit) |
| `order_limit`       | orders per 10 s before 429s (0: the venue's published limit)         |
| `ack_delay_s`       | answers order requests after that long (the order is placed at once) |
| `lose_response`     | accepts the next n new orders and never answers (the client times out)|
| `lose_amend`        | applies the next n replaces (a USD-M modify, a spot cancel-replace)   |
|                     | and never answers                                                    |
| `insert_delay_s`    | (Binance) holds each new order that long before it reaches the        |
|                     | matching engine, then places it even if the client gave up meanwhile  |
|                     | (a slow gateway: a cancel or cancel-all sent meanwhile finds nothing) |
| `duplicate_reports` | sends the next n user-data events twice                              |
| `reorder_reports`   | holds each of the next n user-data events until the one after it     |
| `null_bbo`          | (Hyperliquid) the next n `bbo` frames have a null bid                |
| `user_down_s`       | closes the user-data stream and refuses it for that long: the order  |
|                     | events of that time are lost to the client (fills stay in `myTrades`)|
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

import attrs

from protocols.errors import TroupeError

__all__ = ["FaultError", "Faults"]


class FaultError(TroupeError, ValueError):
    """A fault setting that does not exist, or a value it cannot take (not a number, negative,
    not finite, a fraction of a count): one line, and nothing is armed."""


@attrs.define(slots=True)
class Faults:
    disconnect: int = 0
    stall_s: float = 0.0
    gap: int = 0
    malformed: int = 0
    off_tick_deep: int = 0
    rate_limit: int = 0
    retry_after_s: int = 1
    weight_limit: int = 0
    order_limit: int = 0
    storm_s: float = 0.0
    ban_s: float = 0.0
    ack_delay_s: float = 0.0
    lose_response: int = 0
    insert_delay_s: float = 0.0
    lose_amend: int = 0
    duplicate_reports: int = 0
    reorder_reports: int = 0
    null_bbo: int = 0
    user_down_s: float = 0.0

    def update(self, changes: Mapping[str, Any]) -> None:
        """Arm `changes` (name -> number, or its text), all or nothing: one bad setting
        raises `FaultError` naming it, what was given and what it takes, and arms none."""
        checked = {key: _setting(key, value) for key, value in changes.items()}
        for key, number in checked.items():
            setattr(self, key, number)

    def take(self, name: str) -> bool:
        """Consume one of counter `name`; True if one was armed."""
        left = getattr(self, name)
        if left > 0:
            setattr(self, name, left - 1)
            return True
        return False

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


_FIELDS = {field.name: field for field in attrs.fields(Faults)}


def _setting(key: str, value: Any) -> int | float:
    """`value` for fault `key` as the venue keeps it: a count (int) or seconds (float), 0 or
    more and finite; the text of a number is accepted, as `--fault` gives it."""
    field = _FIELDS.get(key)
    if field is None:
        near = difflib.get_close_matches(key, _FIELDS, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise FaultError(f"no fault named {key!r} ({hint}known: {', '.join(sorted(_FIELDS))})")
    seconds = field.type in (float, "float")
    expected = ("seconds, a number of 0 or more" if seconds else
                "a whole number of 0 or more")
    number: int | float | None = None
    if not isinstance(value, bool):  # JSON true is not a count
        try:
            number = float(value) if isinstance(value, str) else value
        except ValueError:
            number = None
    if not isinstance(number, int | float) or not math.isfinite(number) or number < 0 \
            or (not seconds and number != int(number)):
        raise FaultError(f"fault {key}: expected {expected}, got {value!r}")
    return float(number) if seconds else int(number)


def parse_fault_args(items: list[str]) -> dict[str, str]:
    """`["rate_limit=3", "stall_s=2"]` -> a dict for `Faults.update`."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise FaultError(f"--fault {item!r}: expected name=value")
        out[key.strip()] = value.strip()
    return out
