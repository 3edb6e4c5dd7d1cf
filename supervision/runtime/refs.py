"""Refs by name, for wiring a supervision tree whose actors point at each other.

A node's actors form cycles (the budget sends to the venue connection, which reports back to the
budget; a book asks its connection for snapshots, the connection feeds the book), and they live
under different supervisors, which create their children only when they start. So a factory
cannot be handed the ref of an actor that does not exist yet. A `NamedRef` is an address by
name: it resolves to the cell's ref the first time it is used and keeps it, which is safe because
a cell is the stable address of an actor across restarts (supervisors reuse their children's
cells). A tell to a name that does not exist yet is refused like a tell to a full mailbox: the
sender counts it and carries on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocols.runtime import Refused

__all__ = ["NamedRef", "RefBook"]


class NamedRef:
    """An address by name (see the module docstring). Once resolved, `tell` and
    `deliver_envelope` are the target's own: a tell through a name costs no more than one
    through the ref."""

    __slots__ = ("_host", "_ref", "deliver_envelope", "name", "tell")

    def __init__(self, host: Any, name: str) -> None:
        self._host = host
        self.name = name
        self._ref: Any = None
        # Until resolved, the methods below; a NamedRef lives as long as its node, so the
        # cycle these bound methods make costs the collector nothing worth counting.
        self.tell: Callable[[Any], Refused | None] = self._tell
        self.deliver_envelope: Callable[[Any], Refused | None] = self._deliver_envelope

    def _resolve(self) -> Any:
        if self._ref is None:
            cell = self._host.existing_cell(self.name)
            if cell is not None:
                self._ref = ref = cell.ref
                self.tell = ref.tell
                self.deliver_envelope = ref.deliver_envelope
        return self._ref

    def _tell(self, message: Any) -> Refused | None:
        ref = self._resolve()
        if ref is None:
            return Refused(self.name, "not_started")
        result: Refused | None = ref.tell(message)
        return result

    def _deliver_envelope(self, envelope: Any) -> Refused | None:
        ref = self._resolve()
        if ref is None:
            return Refused(self.name, "not_started")
        result: Refused | None = ref.deliver_envelope(envelope)
        return result

    def __repr__(self) -> str:
        return f"<NamedRef {self.name}>"


class RefBook:
    """One `NamedRef` per name, so a ref used as a subscriber key is the same object everywhere."""

    def __init__(self, host: Any) -> None:
        self._host = host
        self._refs: dict[str, NamedRef] = {}

    def __call__(self, name: str) -> NamedRef:
        ref = self._refs.get(name)
        if ref is None:
            ref = self._refs[name] = NamedRef(self._host, name)
        return ref
