"""A strategy's recent decisions, read back from the tail of the journal.

Every decision a strategy makes is journaled with its source set to the strategy's id: a
`NoTrade` with its one reason and detail when it decides not to act, an `OrderSent`,
`ReplaceSent` or `CancelSent` when its intent reached the venue. The journal is written with one
unbuffered `write` per record, so reading the file from another thread shows everything the
writer has handled, without asking any actor. We read backwards in blocks until we have `n`
decisions or have read `max_bytes`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

DECISION_KINDS = ("NoTrade", "OrderSent", "ReplaceSent", "CancelSent")
_BLOCK = 64 * 1024


def tail_records(path: str | os.PathLike[str], max_bytes: int) -> Iterator[dict[str, Any]]:
    """The journal's records, newest first; torn or unreadable lines are skipped."""
    try:
        handle = open(path, "rb")  # noqa: SIM115  # closed below, across yields
    except FileNotFoundError:
        return
    with handle:
        end = handle.seek(0, os.SEEK_END)
        position, carry, read = end, b"", 0
        while position > 0 and read < max_bytes:
            step = min(_BLOCK, position)
            position -= step
            handle.seek(position)
            block = handle.read(step) + carry
            read += step
            lines = block.split(b"\n")
            carry = lines.pop(0) if position > 0 else b""
            for line in reversed(lines):
                record = _parse(line)
                if record is not None:
                    yield record
        if carry:
            record = _parse(carry)
            if record is not None:
                yield record


def _parse(line: bytes) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def decisions(path: str | os.PathLike[str], strategy: str, n: int,
              specs: Mapping[str, Any], max_bytes: int = 32 << 20) -> list[str]:
    """The strategy's last `n` decisions as lines, oldest first."""
    found: list[str] = []
    for record in tail_records(path, max_bytes):
        if len(found) >= n:
            break
        if record.get("source") == strategy and record.get("kind") in DECISION_KINDS:
            found.append(describe(record, specs))
    return found[::-1]


def describe(record: Mapping[str, Any], specs: Mapping[str, Any]) -> str:
    """One decision on one line: time, what, its one reason or its order."""
    kind, data = record.get("kind"), record.get("data") or {}
    when = _clock(record.get("ts_ns"))
    spec = specs.get(data.get("instrument", ""))
    cid = data.get("client_order_id", "")
    if kind == "NoTrade":
        detail = f"  {data['detail']}" if data.get("detail") else ""
        return f"{when}  no trade  {data.get('reason', '?')}{detail}"
    if kind == "OrderSent":
        size, price = _size(data.get("qty"), spec), _price(data.get("price"), spec)
        flags = " reduce-only" if data.get("reduce_only") else ""
        return (f"{when}  order     {data.get('side', '?')} {size} @ {price} "
                f"{data.get('order_type', '')}/{data.get('tif', '')}{flags}  {cid}")
    if kind == "ReplaceSent":
        size, price = _size(data.get("qty"), spec), _price(data.get("price"), spec)
        return f"{when}  replace   {size} @ {price}  {cid}"
    return f"{when}  cancel    {cid}"


def _clock(ts_ns: Any) -> str:
    if not isinstance(ts_ns, int):
        return "--:--:--.---"
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).strftime("%H:%M:%S.%f")[:-3]


def _size(qty: Any, spec: Any) -> str:
    if not isinstance(qty, int) or spec is None:
        return str(qty)
    return format(Decimal(qty) * spec.lot_step, "f")


def _price(price: Any, spec: Any) -> str:
    if price is None:
        return "market"
    if not isinstance(price, int) or spec is None:
        return str(price)
    return format(Decimal(price) * spec.tick_size, "f")
