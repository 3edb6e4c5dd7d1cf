"""The effective configuration as text (`--check-config`) and as plain data (for a journal).

`redacted(config)` writes TOML that loads back into the same config: every value, defaults
included, in the order of the schema. A secret is written as the reference it came from, with
a `***` comment where the value would be; it never appears. A value that is not set is a
comment (`# token: not set`), since TOML has no null.
"""

from __future__ import annotations

import enum
import json
import re
from decimal import Decimal
from typing import Any

import attrs
import cattrs

from supervision.config.fields import NONE_WORD
from supervision.config.secrets import Secret

__all__ = ["redacted", "unstructure"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def redacted(config: Any) -> str:
    """`config` (any attrs config object) as TOML text, secrets shown by reference only."""
    lines = ["# Effective configuration. Secrets are shown by reference only, never by value."]
    _table(lines, (), config)
    return "\n".join(lines) + "\n"


def _unstructure_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_unstructure_hook(Secret, lambda _secret: "***")
    converter.register_unstructure_hook(Decimal, str)
    return converter


_UNSTRUCTURE = _unstructure_converter()


def unstructure(config: Any) -> Any:
    """`config` as plain data (dicts, lists, strings, numbers) for JSON: Decimal as its string,
    enums as their values, each secret as "***"."""
    return _UNSTRUCTURE.unstructure(config)


def _key(key: Any) -> str:
    text = str(key)
    return text if _BARE_KEY.fullmatch(text) else json.dumps(text, ensure_ascii=False)


def _entries(obj: Any) -> list[tuple[str, Any, Any]]:
    """(key, value, attrs metadata) of an attrs instance's fields or a dict's items."""
    if isinstance(obj, dict):
        return [(key, value, {}) for key, value in obj.items()]
    return [(f.alias or f.name, getattr(obj, f.name), f.metadata) for f in attrs.fields(type(obj))]


def _is_table(value: Any) -> bool:
    return attrs.has(type(value)) or (isinstance(value, dict) and bool(value))


def _is_table_array(value: Any) -> bool:
    return (
        isinstance(value, tuple | list)
        and bool(value)
        and all(attrs.has(type(item)) for item in value)
    )


def _table(lines: list[str], prefix: tuple[str, ...], obj: Any) -> None:
    # A table's own values must come before its first sub-table header; sub-tables and arrays
    # of tables then follow in the schema's order.
    nested = []
    for key, value, metadata in _entries(obj):
        if _is_table(value) or _is_table_array(value):
            nested.append((key, value))
        else:
            lines.append(_line(key, value, metadata))
    for key, value in nested:
        path = (*prefix, _key(key))
        header = ".".join(path)
        if _is_table(value):
            lines.extend(["", f"[{header}]"])
            _table(lines, path, value)
            continue
        for item in value:
            lines.extend(["", f"[[{header}]]"])
            _table(lines, path, item)


def _line(key: str, value: Any, metadata: Any) -> str:
    if value is None:
        word = metadata.get(NONE_WORD)
        return f"{_key(key)} = {json.dumps(word)}" if word else f"# {key}: not set"
    if isinstance(value, Secret):
        kind, _, target = value.reference.partition(":")
        if kind in ("env", "file"):
            return f"{_key(key)} = {{ {kind} = {json.dumps(target)} }}  # value: ***"
        return f'{_key(key)} = "***"'
    return f"{_key(key)} = {_inline(value)}"


def _inline(value: Any) -> str:
    if isinstance(value, Secret):
        return '"***"'
    if isinstance(value, enum.Enum):
        return _inline(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, int) else repr(float(value))
    if isinstance(value, Decimal):
        return json.dumps(str(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple | list | set | frozenset):
        return "[" + ", ".join(_inline(item) for item in value) + "]"
    if isinstance(value, dict) or attrs.has(type(value)):
        parts = [f"{_key(k)} = {_inline(v)}" for k, v, _ in _entries(value) if v is not None]
        return "{ " + ", ".join(parts) + " }" if parts else "{}"
    return json.dumps(str(value))
