"""Text for the console: aligned tables, the supervision tree, and state made readable.

`readable` turns what an actor answers (dicts, attrs records, enums, Decimals, deques) into
indented `key: value` lines. Secrets never appear: a `Secret` (whatever module it comes from)
and the value of any key that names a secret (`token`, `am_token`, `api_secret`, `password`,
`passphrase`, `api_key`, `private_key`; not `tokens` of a rate limit) print as `***`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

REDACTED = "***"
_SECRET_KEY = re.compile(r"(^|_)(token|secret|password|passphrase|api_key|private_key)$",
                         re.IGNORECASE)
_MAX_ITEMS = 50  # of one list or mapping, so one state() cannot flood the terminal
_MAX_TEXT = 200


def is_secret(value: Any) -> bool:
    return type(value).__name__ == "Secret"


def clip(text: str, width: int = _MAX_TEXT) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def scalar(value: Any) -> str:
    """One value on one line, as an operator reads it."""
    if is_secret(value):
        return REDACTED
    if isinstance(value, enum.Enum):
        return str(value.name if isinstance(value.value, int) else value.value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, str):
        return clip(value) if value else '""'
    return clip(repr(value))


def _fields(value: Any) -> Mapping[str, Any] | None:
    if attrs.has(type(value)):
        return {f.name: getattr(value, f.name) for f in attrs.fields(type(value))}
    if isinstance(value, Mapping):
        return {scalar(k): v for k, v in value.items()}
    return None


def readable(value: Any, indent: int = 0) -> list[str]:
    """Indented lines for any answer; nested records and mappings become nested blocks."""
    pad = "  " * indent
    fields = _fields(value)
    if fields is not None:
        if not fields:
            return [pad + "{}"]
        lines: list[str] = []
        for i, (key, item) in enumerate(fields.items()):
            if i == _MAX_ITEMS:
                lines.append(f"{pad}... {len(fields) - _MAX_ITEMS} more")
                break
            if _SECRET_KEY.search(key) and item is not None:
                lines.append(f"{pad}{key}: {REDACTED}")
            elif _nested(item):
                lines.append(f"{pad}{key}:")
                lines.extend(readable(item, indent + 1))
            else:
                lines.append(f"{pad}{key}: {_inline(item)}")
        return lines
    if _is_list(value):
        items = list(value)
        if not items:
            return [pad + "[]"]
        lines = []
        for item in items[:_MAX_ITEMS]:
            if _nested(item):
                lines.append(pad + "-")
                lines.extend(readable(item, indent + 1))
            else:
                lines.append(f"{pad}- {_inline(item)}")
        if len(items) > _MAX_ITEMS:
            lines.append(f"{pad}... {len(items) - _MAX_ITEMS} more")
        return lines
    return [pad + scalar(value)]


def _is_list(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping)


def _nested(value: Any) -> bool:
    fields = _fields(value)
    if fields is not None:
        return len(fields) > 4 or (bool(fields) and not all(map(_plain, fields.values())))
    return _is_list(value) and not all(_plain(v) for v in value)


def _plain(value: Any) -> bool:
    return _fields(value) is None and not _is_list(value)


def _inline(value: Any) -> str:
    """A small record or list on one line: {a: 1, b: 2} / [1, 2]."""
    fields = _fields(value)
    if fields is not None:
        inner = ", ".join(f"{k}: {_inline_value(k, v)}" for k, v in fields.items())
        return "{" + inner + "}"
    if _is_list(value):
        return "[" + ", ".join(_inline(v) for v in list(value)[:_MAX_ITEMS]) + "]"
    return scalar(value)


def _inline_value(key: str, value: Any) -> str:
    return REDACTED if _SECRET_KEY.search(key) and value is not None else _inline(value)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str],
          right: Iterable[int] = ()) -> str:
    """Columns aligned under their headers; columns in `right` (numbers) align right."""
    cells = [[scalar(c) if not isinstance(c, str) else c for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    right_set = set(right)

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(widths[i]) if i in right_set else v.ljust(widths[i])
                 for i, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(row) for row in cells)])


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.0f}m"


def tree_lines(label: str, children: Sequence[tuple[str, Any]], prefix: str = "") -> list[str]:
    """`children` is [(label, grandchildren)], drawn with box characters like `tree(1)`."""
    lines = [label] if not prefix else []
    for i, (child_label, grandchildren) in enumerate(children):
        last = i == len(children) - 1
        lines.append(f"{prefix}{'`-- ' if last else '|-- '}{child_label}")
        lines.extend(tree_lines("", grandchildren, prefix + ("    " if last else "|   ")))
    return lines
