"""A session's namespace: the helpers, the message classes, and the console's own words.

Every public attrs class and enum of the top-level `protocols` modules is importable by name
(`tell("gate", SetTradingState(...))`), found by walking the package, so a message class that
moves between modules stays reachable. `help()` lists the helpers with their first doc line.
"""

from __future__ import annotations

import enum
import functools
import importlib
import inspect
import pkgutil
from typing import TYPE_CHECKING, Any

import attrs

import protocols
from supervision.repl.helpers import Actors, Inspection, TraceHub
from supervision.repl.operations import Operations

if TYPE_CHECKING:
    from supervision.node.assembly import Node
    from supervision.repl.session import Session

INSPECT = ("actors", "top", "tree", "state", "why", "trace", "metrics", "stacks")
CHANGE = ("tell", "ask", "restart", "stop", "fail")
TRADING = ("halt", "reduce_only", "resume", "flatten", "cancel_all")
VIEWS = ("positions", "orders", "pnl", "budget")


def message_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(protocols.__path__):
        if info.ispkg:
            continue
        module = importlib.import_module(f"protocols.{info.name}")
        for name, value in vars(module).items():
            if name.startswith("_") or not isinstance(value, type):
                continue
            if value.__module__ == module.__name__ and (attrs.has(value)
                                                        or issubclass(value, enum.Enum)):
                found.setdefault(name, value)
    return found


def banner(node: Node) -> str:
    cfg = node.config
    return (f"troupe repl: node {cfg.node.name!r}, profile {cfg.profile.value}, mode "
            f"{node.mode.value}. help() lists the helpers; exit() or Ctrl-D detaches "
            "(the node keeps running).")


def namespace_factory(node: Node) -> Any:
    """What the server calls for each new session."""
    hub = TraceHub()
    classes = message_classes()

    def namespace_for(session: Session) -> dict[str, Any]:
        actors = Actors(node)
        inspection = Inspection(node, session, hub)
        operations = Operations(node, session, actors)
        helpers: dict[str, Any] = {}
        for name in INSPECT:
            helpers[name] = Helper(getattr(inspection, name))
        for name in CHANGE + TRADING + VIEWS:
            helpers[name] = Helper(getattr(operations, name))

        def help(obj: Any = None) -> None:
            """help() lists the helpers; help(x) shows x's documentation."""
            if obj is not None:
                doc = inspect.getdoc(obj) or "no documentation"
                print(f"{getattr(obj, '__name__', type(obj).__name__)}"
                      f"{_signature(obj)}\n{doc}")
                return
            for title, names in (("look", INSPECT), ("act", CHANGE), ("trade", TRADING),
                                 ("trading views", VIEWS)):
                print(f"{title}:")
                for name in names:
                    call = f"{name}{_signature(helpers[name])}"
                    gap = "\n" + " " * 37 if len(call) > 34 else " " * (35 - len(call))
                    print(f"  {call}{gap}{_summary(helpers[name])}")
            print("also: tb() the last full traceback, exit() detach, node, message classes "
                  "(OrderIntent, NoTrade, ...)")

        def tb() -> None:
            """The full traceback of the last error."""
            print(session.last_traceback or "no error yet")

        def exit() -> None:
            """Detach; the node keeps running."""
            raise SystemExit

        return {**classes, **helpers, "help": help, "tb": tb, "exit": exit, "quit": exit,
                "node": node, "_actor_names": actors.completions, "__name__": "__repl__"}

    return namespace_for


class Helper:
    """A helper as the console shows it: typing its name without calling it says how."""

    def __init__(self, function: Any) -> None:
        self._function = function
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function(*args, **kwargs)

    def __repr__(self) -> str:
        name = self._function.__name__
        return f"{name}{_signature(self._function)}: {_summary(self._function)}"


def _signature(obj: Any) -> str:
    """`(name, n=20)`: parameters and defaults, without annotations."""
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return ""
    shown = [p.replace(annotation=inspect.Parameter.empty) for p in parameters]
    return "(" + ", ".join(map(str, shown)) + ")"


def _summary(obj: Any) -> str:
    """The first sentence of a docstring."""
    text = " ".join((inspect.getdoc(obj) or "").split("\n\n")[0].split())
    head, dot, _ = text.partition(". ")
    return head + ("." if dot or not text.endswith(".") else "")


def start_repl(node: Node) -> Any:
    """Serve the REPL for `node` if its config says so: the server, or None. A socket that
    cannot be served costs the REPL, never the node: one line says why."""
    from supervision.repl.server import ReplServer, ReplSocketError

    cfg = node.config
    if not cfg.repl.enabled:
        return None
    path = cfg.repl.socket_path(cfg.journal.path)
    server = ReplServer(path, namespace_factory(node), banner=banner(node),
                        confirm_changes=cfg.profile.value == "live")
    try:
        server.start()
    except ReplSocketError as exc:
        print(f"repl: off: {exc}", flush=True)
        return None
    print(f"repl: python -m supervision.repl --socket {path}", flush=True)
    return server
