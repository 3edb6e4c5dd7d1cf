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
| `rate_limit`        | answers the next n REST requests 429 with `Retry-After: retry_after_s`|
| `storm_s`           | a 429 storm: every REST request for that long is answered 429 with   |
|                     | `Retry-After` the whole seconds left (from the next request on)      |
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

from collections.abc import Mapping
from typing import Any

import attrs

from protocols.errors import TroupeError

__all__ = ["FaultError", "Faults"]


class FaultError(TroupeError, ValueError):
    """A fault setting that does not exist or has the wrong type: one line."""


@attrs.define(slots=True)
class Faults:
    disconnect: int = 0
    stall_s: float = 0.0
    gap: int = 0
    malformed: int = 0
    rate_limit: int = 0
    retry_after_s: int = 1
    weight_limit: int = 0
    order_limit: int = 0
    storm_s: float = 0.0
    ack_delay_s: float = 0.0
    lose_response: int = 0
    insert_delay_s: float = 0.0
    lose_amend: int = 0
    duplicate_reports: int = 0
    reorder_reports: int = 0
    null_bbo: int = 0
    user_down_s: float = 0.0

    def update(self, changes: Mapping[str, Any]) -> None:
        names = {a.name: a for a in attrs.fields(Faults)}
        for key, value in changes.items():
            field = names.get(key)
            if field is None:
                raise FaultError(f"no fault named {key!r} (known: {', '.join(sorted(names))})")
            kind = float if field.type in (float, "float") else int
            try:
                number = kind(value)
            except (TypeError, ValueError):
                raise FaultError(f"fault {key}: {value!r} is not a number") from None
            if number < 0:
                raise FaultError(f"fault {key}: {value!r} is negative")
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


def parse_fault_args(items: list[str]) -> dict[str, str]:
    """`["rate_limit=3", "stall_s=2"]` -> a dict for `Faults.update`."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise FaultError(f"--fault {item!r}: expected name=value")
        out[key.strip()] = value.strip()
    return out
