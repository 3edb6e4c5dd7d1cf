"""The control plane's wire schemas: operator commands, Alertmanager webhooks, and replies.

This module is data only, in the spirit of h11: it turns request bodies (bytes) into validated
records, or refuses them with a `ControlRequestError` carrying the HTTP status and a message an
operator can act on. It never opens a socket; the HTTP shell in `supervision/control/`
(`http.py` routes, `commands.py` the POSTs) feeds it bytes and writes back what it returns.

Rules for `POST /control` (`parse_control_body`):

- the body is one JSON object `{"action": ..., "reason": ...}` (a key written twice is refused,
  in any object of any body: parsers disagree on which one wins), with an optional
  `"instrument"` for resume (lift that instrument's halt), flatten and cancel_all, nothing else:
  an unknown key is refused (a typo such as `"reson"` must not silently drop the operator's
  reason), and so is an instrument on an account-wide action (halt, reduce_only, disable_live);
- `action` is one of `ControlActionName`; the error lists the valid ones;
- `reason` is a non-empty string of at most `MAX_REASON_CHARS` characters without control
  characters, because it is written verbatim into the log line `<action> reason=<reason>` and into
  the journal, and a newline there would let a caller forge log lines. Every other string from a
  request is escaped (`printable`) before it is repeated in an error or a log line.

Rules for `POST /am-webhook` (`parse_am_webhook`), after the Alertmanager webhook payload,
version "4":

    {"version": "4", "groupKey": ..., "truncatedAlerts": 0, "status": "firing|resolved",
     "receiver": ..., "groupLabels": {...}, "commonLabels": {...}, "commonAnnotations": {...},
     "externalURL": ..., "alerts": [{"status": "firing|resolved", "labels": {...},
     "annotations": {...}, "startsAt": "<rfc3339>", "endsAt": "<rfc3339>",
     "generatorURL": ..., "fingerprint": ...}]}

Unknown fields are ignored (Alertmanager adds fields between releases and must not be refused
for it); the fields we act on are checked strictly: the version, the alerts list, each alert's
status, and labels and annotations that map strings to strings.
"""

from __future__ import annotations

import enum
import ipaddress
import json
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from protocols.errors import TroupeError

MAX_REASON_CHARS = 500
MAX_INSTRUMENT_CHARS = 64
AM_WEBHOOK_VERSION = "4"


MAX_ECHO_CHARS = 200
# A shorter token is a password someone typed, not a secret: `openssl rand -hex 16` gives 32.
MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    """Is `host` (a name or an address, IPv6 with or without brackets) this machine only?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def printable(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """`text` made safe to put in one log line or error message: every character that is not
    printable (newline, carriage return, escape, bidi controls...) becomes its backslash escape,
    and the text is cut at `limit` characters. Whatever a request carried (a path, a JSON key, a
    label, a header) passes through here before we repeat it, so nobody forges a log line."""
    shown = "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )
    return shown if len(shown) <= limit else shown[:limit] + "..."


class ControlRequestError(TroupeError):
    """A request we refuse, with the HTTP status to answer and a message for the caller. The
    message is escaped (`printable`): it may quote the request, and it is logged."""

    def __init__(self, status: int, message: str) -> None:
        message = printable(message, limit=2 * MAX_REASON_CHARS)
        super().__init__(message)
        self.status = status
        self.message = message


class ControlActionName(enum.StrEnum):
    """What an operator (or Alertmanager) may ask of the node's trading state."""

    DISABLE_LIVE = "disable_live"
    REDUCE_ONLY = "reduce_only"
    HALT = "halt"
    RESUME = "resume"
    FLATTEN = "flatten"
    CANCEL_ALL = "cancel_all"


INSTRUMENT_ACTIONS = (ControlActionName.RESUME, ControlActionName.FLATTEN,
                      ControlActionName.CANCEL_ALL)
"""The actions that may name one instrument: resume lifts that instrument's halt (a spec change,
a time regression), flatten and cancel_all act on it alone."""


class ControlSource(enum.StrEnum):
    HTTP = "http"
    ALERTMANAGER = "alertmanager"
    REPL = "repl"


def _reason_problem(reason: object) -> str | None:
    """Why `reason` cannot be used, or None if it can."""
    if not isinstance(reason, str):
        return f"reason must be a string, got {type(reason).__name__}"
    if not reason.strip():
        return "reason must not be empty"
    if len(reason) > MAX_REASON_CHARS:
        return f"reason is {len(reason)} characters long, at most {MAX_REASON_CHARS} are allowed"
    if any(not ch.isprintable() for ch in reason):
        return "reason must not contain control characters (newlines, tabs, escapes)"
    return None


def _instrument_problem(instrument: object) -> str | None:
    if not isinstance(instrument, str):
        return f"instrument must be a string, got {_json_kind(instrument)}"
    if not instrument or len(instrument) > MAX_INSTRUMENT_CHARS:
        return f"instrument must be 1 to {MAX_INSTRUMENT_CHARS} characters long"
    if any(not (ch.isalnum() or ch in "-_./:") for ch in instrument):
        return "instrument may hold only letters, digits and - _ . / :"
    return None


def _valid_instrument(_inst: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    problem = None if value is None else _instrument_problem(value)
    if problem is not None:
        raise ValueError(problem)


def _valid_reason(_inst: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
    problem = _reason_problem(value)
    if problem is not None:
        raise ValueError(problem)


def clean_reason(text: str) -> str:
    """Make any text a valid reason: control characters become spaces, and it is cut to size.

    Used for reasons we did not write and cannot refuse, such as an alert's name."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    if len(cleaned) > MAX_REASON_CHARS:
        cleaned = cleaned[: MAX_REASON_CHARS - 3] + "..."
    return cleaned or "unnamed"


@attrs.frozen
class ControlCommand:
    """One validated command for the node; `source` says who sent it: "http", "alertmanager",
    "repl"."""

    action: ControlActionName = attrs.field(converter=ControlActionName)
    reason: str = attrs.field(validator=_valid_reason)
    source: str = attrs.field(converter=str)
    # resume, flatten, cancel_all: only this instrument (resume lifts its halt); None: account
    instrument: str | None = attrs.field(default=None, validator=_valid_instrument)

    def log_line(self) -> str:
        """The line every applied action is logged as:
        `<action> reason=<reason> source=<src>` (then ` instrument=<symbol>` if it names one)."""
        line = f"{self.action.value} reason={self.reason} source={self.source}"
        return line if self.instrument is None else f"{line} instrument={self.instrument}"


@attrs.frozen
class ControlOutcome:
    """What the node did with a command: `ok` False means it refused, saying why in `detail`."""

    ok: bool
    state: str
    detail: str = ""


@attrs.frozen
class Readiness:
    """The node's answer to `/readyz`.

    `ready_trading` is READY-MD, reconciliation done and state ACTIVE: only then is the node
    ready. `mode` is what the node actually does ("observe", "paper" or "live"): a live config
    started without the command-line flags reports "observe"."""

    ready_md: bool
    ready_trading: bool
    mode: str
    state: str
    detail: Mapping[str, Any] = attrs.field(factory=dict)


# --------------------------------------------------------------------------------------------
# POST /control

_CONTROL_KEYS = frozenset({"action", "reason", "instrument"})
_VALID_ACTIONS = ", ".join(a.value for a in ControlActionName)


class _DuplicateKey(TroupeError, ValueError):
    """A JSON object with a key written twice (turned into a 400 by `_load_json`)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different: parsers disagree on which of two equal keys wins,
    so a proxy or an audit log could read `"halt"` where the node would apply `"resume"`."""
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKey(f"key {printable(key)!r} appears twice")
        document[key] = value
    return document


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys)
    except _DuplicateKey as error:
        raise ControlRequestError(400, f"body is not valid JSON: {error}") from None
    except UnicodeDecodeError as error:
        raise ControlRequestError(400, f"body is not UTF-8: {error.reason}") from None
    except json.JSONDecodeError as error:
        raise ControlRequestError(400, f"body is not valid JSON: {error}") from None
    except RecursionError:
        raise ControlRequestError(400, "body is not valid JSON: nested too deeply") from None


def parse_control_body(body: bytes, *, source: str = ControlSource.HTTP) -> ControlCommand:
    """Validate an operator's `{"action": ..., "reason": ...}` body, or raise a 400."""
    document = _load_json(body)
    if not isinstance(document, dict):
        raise ControlRequestError(400, f"body must be a JSON object, got {_json_kind(document)}")
    unknown = sorted(set(document) - _CONTROL_KEYS)
    if unknown:
        raise ControlRequestError(
            400, f"unknown key(s): {', '.join(unknown)}; expected only action, reason and "
            "instrument"
        )
    if "action" not in document:
        raise ControlRequestError(400, f"missing action; one of: {_VALID_ACTIONS}")
    action = document["action"]
    if not isinstance(action, str):
        raise ControlRequestError(
            400, f"action must be a string, got {_json_kind(action)}; one of: {_VALID_ACTIONS}"
        )
    try:
        action_name = ControlActionName(action)
    except ValueError:
        raise ControlRequestError(
            400, f"unknown action {action!r}; one of: {_VALID_ACTIONS}"
        ) from None
    if "reason" not in document:
        raise ControlRequestError(400, "missing reason: say why, it is logged and journaled")
    reason = document["reason"]
    if not isinstance(reason, str):
        raise ControlRequestError(400, f"reason must be a string, got {_json_kind(reason)}")
    problem = _reason_problem(reason)
    if problem is not None:
        raise ControlRequestError(400, problem)
    instrument = document.get("instrument")
    if instrument is not None:
        problem = _instrument_problem(instrument)
        if problem is None and action_name not in INSTRUMENT_ACTIONS:
            problem = (f"{action_name.value} applies to the whole account; an instrument may be "
                       f"named only for {', '.join(a.value for a in INSTRUMENT_ACTIONS)}")
        if problem is not None:
            raise ControlRequestError(400, problem)
    return ControlCommand(action=action_name, reason=reason, source=source,
                          instrument=instrument)


def _json_kind(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# --------------------------------------------------------------------------------------------
# POST /am-webhook

_ALERT_STATUSES = frozenset({"firing", "resolved"})


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@attrs.frozen
class AlertmanagerAlert:
    """One alert of a webhook payload. Times stay RFC 3339 strings: we only pass them on."""

    status: str
    labels: Mapping[str, str] = attrs.field(converter=_frozen_mapping)
    annotations: Mapping[str, str] = attrs.field(converter=_frozen_mapping, factory=dict)
    starts_at: str = ""
    ends_at: str = ""
    fingerprint: str = ""
    generator_url: str = ""

    @property
    def name(self) -> str:
        """The alert's name (its `alertname` label), made fit to be a command's reason."""
        return clean_reason(self.labels.get("alertname", "unnamed alert"))

    @property
    def firing(self) -> bool:
        return self.status == "firing"


def _string_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ControlRequestError(400, f"{where} must be an object, got {_json_kind(value)}")
    for key, item in value.items():
        if not isinstance(item, str):
            raise ControlRequestError(
                400, f"{where}.{key} must be a string, got {_json_kind(item)}"
            )
    return value


def _optional_str(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ControlRequestError(400, f"{where}.{key} must be a string, got {_json_kind(value)}")
    return value


def parse_am_webhook(body: bytes) -> list[AlertmanagerAlert]:
    """Validate an Alertmanager webhook payload (version "4") and return its alerts, or 400."""
    document = _load_json(body)
    if not isinstance(document, dict):
        raise ControlRequestError(400, f"payload must be a JSON object, got {_json_kind(document)}")
    if "version" not in document:
        raise ControlRequestError(400, 'missing version; expected "4"')
    if document["version"] != AM_WEBHOOK_VERSION:
        raise ControlRequestError(
            400, f'unsupported webhook version {document["version"]!r}; expected "4"'
        )
    if "alerts" not in document:
        raise ControlRequestError(400, "missing alerts list")
    raw_alerts = document["alerts"]
    if not isinstance(raw_alerts, list):
        raise ControlRequestError(400, f"alerts must be a list, got {_json_kind(raw_alerts)}")
    alerts = []
    for index, raw in enumerate(raw_alerts):
        where = f"alerts[{index}]"
        if not isinstance(raw, dict):
            raise ControlRequestError(400, f"{where} must be an object, got {_json_kind(raw)}")
        status = raw.get("status")
        if status not in _ALERT_STATUSES:
            raise ControlRequestError(
                400, f'{where}.status must be "firing" or "resolved", got {status!r}'
            )
        if "labels" not in raw:
            raise ControlRequestError(400, f"{where} has no labels")
        alerts.append(
            AlertmanagerAlert(
                status=status,
                labels=_string_map(raw["labels"], f"{where}.labels"),
                annotations=_string_map(raw.get("annotations", {}), f"{where}.annotations"),
                starts_at=_optional_str(raw, "startsAt", where),
                ends_at=_optional_str(raw, "endsAt", where),
                fingerprint=_optional_str(raw, "fingerprint", where),
                generator_url=_optional_str(raw, "generatorURL", where),
            )
        )
    return alerts


def matching_alerts(
    alerts: Iterable[AlertmanagerAlert], matchers: Mapping[str, str]
) -> tuple[list[AlertmanagerAlert], list[AlertmanagerAlert]]:
    """Split the alerts whose labels equal every matcher into (firing, resolved).

    Matchers are equality only (`severity="critical"`): the routing subtleties belong in the
    Alertmanager config, and an exact rule here is one an operator can check at a glance."""
    firing: list[AlertmanagerAlert] = []
    resolved: list[AlertmanagerAlert] = []
    for alert in alerts:
        if all(alert.labels.get(name) == value for name, value in matchers.items()):
            (firing if alert.firing else resolved).append(alert)
    return firing, resolved


def alert_key(alert: AlertmanagerAlert) -> str:
    """A stable identity for an alert: Alertmanager's fingerprint, or else its sorted labels."""
    if alert.fingerprint:
        return alert.fingerprint
    return json.dumps(sorted(alert.labels.items()))


# --------------------------------------------------------------------------------------------
# Replies: small JSON documents, built here so their shape is written down in one place.


def json_bytes(document: Mapping[str, Any]) -> bytes:
    """Compact JSON; anything not JSON-native (a Decimal in a readiness detail) becomes a str."""
    return json.dumps(document, separators=(",", ":"), default=str).encode("utf-8")


def error_reply(message: str) -> bytes:
    return json_bytes({"error": message})


def control_reply(command: ControlCommand, outcome: ControlOutcome) -> bytes:
    return json_bytes(
        {
            "ok": outcome.ok,
            "action": command.action.value,
            "state": outcome.state,
            "detail": outcome.detail,
        }
    )


def readiness_reply(readiness: Readiness) -> bytes:
    return json_bytes(
        {
            "ready": readiness.ready_trading,
            "mode": readiness.mode,
            "state": readiness.state,
            "ready_md": readiness.ready_md,
            "ready_trading": readiness.ready_trading,
            "detail": dict(readiness.detail),
        }
    )


def am_reply(applied: int, refused: int, ignored: int) -> bytes:
    return json_bytes({"applied": applied, "refused": refused, "ignored": ignored})
