"""Range checks for strategy parameters, as attrs validators.

A parameter of the right type can still be absurd (a negative quote size, a zero fill-intensity
decay): the strategy config classes refuse it at construction, and the node's config loader runs
each check on its own to report `strategies.N.params.NAME: must be > 0, got -1`. So a message
starts with the field's name, which the loader strips, and shows the value as it was written.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

__all__ = ["non_negative", "positive"]


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _finite(attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be a finite number, got {value}")


def positive(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """`value > 0` and finite (None passes: an optional parameter left unset)."""
    if value is None:
        return
    _finite(attribute, value)
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {_show(value)}")


def non_negative(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """`value >= 0` and finite (None passes)."""
    if value is None:
        return
    _finite(attribute, value)
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {_show(value)}")
