"""The control plane's two doors to a change: `POST /control` and `POST /am-webhook`.

`CommandEndpoints` authenticates, reads the bounded body, parses it with the pure schemas of
`protocols/control.py` and hands the command to the node's `apply`, the single entry point for
a change (the node journals and counts there; we log here, `<action> reason=<reason>
source=<source>` at WARNING on `troupe.control`). The plane (`supervision.control.http`) has
already checked the Host header, the route and the content type.

- Authentication comes before the body is read: a caller without the token cannot make us
  read, let alone parse, anything. Tokens are compared in constant time
  (`supervision.control.guard.check_token`: `hmac.compare_digest` over SHA-256 digests, so not
  even the length leaks), are at least `MIN_TOKEN_CHARS` long, and failed attempts are counted
  (`troupe_control_auth_failures_total{endpoint}`) and rate-limited per client (429 with
  Retry-After, without comparing the token at all). A node without a control token refuses
  `/control` with 403 rather than running an open kill switch.
- Only an operator relaxes an operator's decision: Alertmanager's commands only tighten, and a
  resolved alert resumes only a REDUCING an alert caused, where the config allows it
  (`supervision.control.webhook`; the node and the risk gate check it again). A webhook
  payload, however many alerts it carries, makes at most one command, one journal record, one
  log line.

`/am-webhook` and its token. Alertmanager sends credentials with `http_config.authorization`
(`Authorization: Bearer <token>`, from a `credentials_file`; see docs/prometheus/
alertmanager.yml); we also accept `X-Auth-Token`. The token is required whenever the plane
listens beyond loopback (the plane checks that at construction). On loopback it may be left
out: then any local process can reach the webhook, and what it can do is bounded by the rule
above (stop trading; resume only an alert's REDUCING, and only with `resume_on_resolved`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from protocols.control import (
    MIN_TOKEN_CHARS,
    ControlCommand,
    ControlOutcome,
    ControlRequestError,
    ControlSource,
    am_reply,
    control_reply,
    parse_am_webhook,
    parse_control_body,
    printable,
)
from supervision.control.guard import AuthLimiter, check_token, header_values, read_body
from supervision.control.replies import HttpReply, Receive, RequestRefused, Scope, error
from supervision.control.webhook import AlertTracker

__all__ = ["CommandEndpoints", "SecretLike", "check_token_length"]

Apply = Callable[[ControlCommand], Awaitable[ControlOutcome]]
Count = Callable[..., None]


class SecretLike(Protocol):
    """A secret held so that its repr is `***` (`supervision.config.load.Secret`)."""

    def reveal(self) -> str: ...


def check_token_length(name: str, secret: SecretLike | None) -> None:
    """Refuse a configured token too short to be a real secret (ValueError)."""
    if secret is None:
        return
    length = len(secret.reveal())
    if length < MIN_TOKEN_CHARS:
        raise ValueError(
            f"{name} is {length} characters long; a token needs at least {MIN_TOKEN_CHARS} "
            "(a real secret, e.g. from `openssl rand -hex 16`)"
        )


class CommandEndpoints:
    """`POST /control` and `POST /am-webhook` for one plane.

    `apply` carries a command to the node's `apply` (on the node's loop) and returns its
    outcome; `count(metric, **labels)` counts and never raises."""

    def __init__(
        self,
        *,
        apply: Apply,
        count: Count,
        token: SecretLike | None,
        max_body_bytes: int,
        am_token: SecretLike | None,
        am_max_body_bytes: int,
        alerts: AlertTracker,
        log: logging.Logger,
    ) -> None:
        check_token_length("token", token)
        check_token_length("am_token", am_token)
        if max_body_bytes <= 0 or am_max_body_bytes <= 0:
            raise ValueError("body limits must be positive")
        self._apply_on_node = apply
        self._count = count
        self._token = token
        self._max_body_bytes = max_body_bytes
        self._am_token = am_token
        self._am_max_body_bytes = am_max_body_bytes
        self._alerts = alerts
        self._auth = AuthLimiter()
        self._log = log

    async def control(self, scope: Scope, receive: Receive) -> HttpReply:
        """`POST /control`: X-Auth-Token; {"action": ..., "reason": ...} -> node.apply."""
        if self._token is None:
            return error(403, "control disabled: no token configured")
        self._authenticate(scope, "/control", self._token, header_values(scope, b"x-auth-token"))
        body = await read_body(scope, receive, self._max_body_bytes)
        command = parse_control_body(body, source=ControlSource.HTTP)
        outcome = await self._apply(command)
        return HttpReply(200 if outcome.ok else 409, control_reply(command, outcome))

    async def am_webhook(self, scope: Scope, receive: Receive) -> HttpReply:
        """`POST /am-webhook`: Alertmanager webhook v4 -> at most one command per payload."""
        if self._am_token is not None:
            provided = header_values(scope, b"x-auth-token") + [
                value[7:].strip()
                for value in header_values(scope, b"authorization")
                if value[:7].lower() == b"bearer "
            ]
            self._authenticate(scope, "/am-webhook", self._am_token, provided)
        body = await read_body(scope, receive, self._am_max_body_bytes)
        decision = self._alerts.decide(parse_am_webhook(body))
        applied = refused = 0
        if decision.command is not None:
            outcome = await self._apply(decision.command)
            self._alerts.applied(decision.command, outcome)
            applied, refused = (1, 0) if outcome.ok else (0, 1)
        return HttpReply(200, am_reply(applied, refused, decision.ignored))

    async def _apply(self, command: ControlCommand) -> ControlOutcome:
        """The single door to a change: the node applies, we log what it did."""
        outcome = await self._apply_on_node(command)
        if outcome.ok:
            self._log.warning("%s", command.log_line())
        else:
            self._log.warning(
                "refused: %s state=%s detail=%s", command.log_line(), outcome.state,
                printable(outcome.detail),
            )
        return outcome

    def _authenticate(self, scope: Scope, endpoint: str, expected: SecretLike,
                      provided: list[bytes]) -> None:
        client = str((scope.get("client") or ("?",))[0])
        wait = self._auth.retry_after(client)
        if wait is not None:
            retry = str(max(1, round(wait))).encode()
            raise RequestRefused(429, f"too many failed authentications; retry in {wait:.0f} s",
                          "auth_rate_limited", (b"retry-after", retry))
        try:
            check_token(expected.reveal(), provided)
        except ControlRequestError:
            self._auth.failed(client)
            self._count("troupe_control_auth_failures_total", endpoint=endpoint)
            raise
