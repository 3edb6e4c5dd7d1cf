"""`--set a.b=value` applied to the parsed TOML before structuring, so an override gets the same
checks as the file (`supervision.config.load` parses the `--set` text, then calls
`apply_override`).

The path is walked against the schema as it is applied: a key the schema does not have is named
with the closest one (`node.nmae: unknown key (did you mean 'name'?)`) instead of being created,
an array is indexed from 0 (`instruments.0.tick_size`; index len adds an entry, and a missing or
non-numeric index is answered with the path that fixes it), a scalar is not walked into, and
tables the schema has are created on the way (`--set venue.sim.rate_limit.capacity=5` on a file
without that table). Problems come back as one line without the `(from --set)` the loader adds.
"""

from __future__ import annotations

import enum
import typing
from typing import Any

import attrs

from supervision.config.secrets import Secret
from supervision.config.structure import (
    Where,
    dotted,
    init_fields,
    is_sequence,
    type_hints,
    union_arms,
    unknown_key,
)

__all__ = ["apply_override"]


def _without_none(typ: Any) -> Any:
    arms = union_arms(typ)
    if arms is None:
        return typ
    rest = [arm for arm in arms if arm is not type(None)]
    return rest[0] if len(rest) == 1 else typ


def _child_type(typ: Any, part: str) -> Any:
    """The schema type under `part` of a table of type `typ`; raises ValueError naming why
    there is none."""
    typ = _without_none(typ)
    if typ is Any:
        return Any
    if typ is Secret:
        if part not in ("env", "file", "optional"):
            raise ValueError(unknown_key(part, ["env", "file", "optional"]))
        return Any
    if attrs.has(typ):
        fields = init_fields(typ)
        if part not in fields:
            raise ValueError(unknown_key(part, list(fields)))
        return type_hints(typ)[fields[part].name]
    if typing.get_origin(typ) is dict:
        return typing.get_args(typ)[1]
    raise ValueError("not a table")


def _is_key(typ: Any, part: str) -> bool:
    try:
        _child_type(typ, part)
    except ValueError:
        return False
    return True


def _is_table(typ: Any) -> bool:
    arms = union_arms(typ)
    if arms is not None:
        return any(_is_table(arm) for arm in arms if arm is not type(None))
    return typ is Any or typ is Secret or attrs.has(typ) or typing.get_origin(typ) is dict


def _kind(value: Any) -> str:
    # Only the kind: the value may be a secret written in clear by mistake.
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number")):
        if isinstance(value, kind):
            return name
    return "a string" if isinstance(value, str) else "a value"


def _type_name(typ: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    if isinstance(typ, type) and issubclass(typ, enum.Enum):
        return "a choice"
    return names.get(typ, "a value") if isinstance(typ, type) else "a value"


def apply_override(raw: dict[str, Any], where: Where, value: Any, root: type) -> str | None:
    """Set `where` in the raw TOML to `value`, creating tables the schema has. A problem line
    (without the "(from --set)") if the path does not fit the schema or the file."""
    node: Any = raw
    typ: Any = root
    for depth, part in enumerate(where):
        here, last = dotted(where[: depth + 1]), depth == len(where) - 1
        typ = _without_none(typ)
        if isinstance(node, list):
            if not (isinstance(part, str) and part.isdigit()):
                # `strategies.id`: an index left out; `strategies.x.id`, `.-1.`: a bad one
                left_out = _is_key(typing.get_args(typ)[0] if typing.get_args(typ) else Any,
                                   str(part))
                example = dotted((*where[:depth], 0, *where[depth + (not left_out):]))
                given = "" if left_out else f", not {part!r}"
                return f"{dotted(where[:depth])}: is an array: index it from 0, e.g. {example}" \
                    + given
            index = int(part)
            if index > len(node):
                return (
                    f"{here}: no such entry: the array has {len(node)} "
                    f"(index {len(node)} would add one)"
                )
            args = typing.get_args(typ)
            typ = args[0] if args else Any
            if last:
                node[index : index + 1] = [value]
                return None
            if index == len(node):
                node.append({} if _is_table(typ) else [])
            node = node[index]
            continue
        if not isinstance(node, dict):
            return (
                f"{dotted(where[:depth])}: is {_kind(node)}, not a table: "
                f"cannot set {dotted(where)}"
            )
        try:
            typ = _child_type(typ, str(part))
        except ValueError as exc:
            return f"{here}: {exc}"
        if last:
            node[part] = value
            return None
        if part not in node:
            if is_sequence(_without_none(typ)):
                node[part] = []
            elif _is_table(typ):
                node[part] = {}
            else:
                return f"{here}: is {_type_name(typ)}, not a table: cannot set {dotted(where)}"
        node = node[part]
    return None
