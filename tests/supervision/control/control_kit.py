"""Helpers for the control-plane tests: a fake node, an h11 client on loopback, payloads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import h11
import trio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from protocols.control import ControlCommand, ControlOutcome, Readiness
from supervision.control.http import ControlPlane

TOKEN = "s3cret-token-for-tests"
AM_TOKEN = "alertmanager-token-for-tests"
STATES = {"disable_live": "REDUCING", "reduce_only": "REDUCING", "halt": "HALTED"}


class Token:
    """Stands in for `supervision.config.load.Secret`: a repr that gives nothing away."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "***"


class FakeNode:
    """A ControlTarget that records every command and renders real Prometheus text."""

    def __init__(self) -> None:
        self.commands: list[ControlCommand] = []
        self.state = "ACTIVE"
        self.ready = Readiness(True, True, "paper", "ACTIVE", {"books": {"BTCUSDT": "synced"}})
        self.refuse = False
        self.explode = False
        self.registry = CollectorRegistry()
        self.actions = Counter(
            "troupe_control_actions",
            "Control actions.",
            ["action", "source"],
            registry=self.registry,
        )

    def apply(self, command: ControlCommand) -> ControlOutcome:
        if self.explode:
            raise RuntimeError("journal at /var/secret/path is on fire")
        self.commands.append(command)
        if self.refuse:
            return ControlOutcome(False, self.state, "resume refused: daily loss limit hit")
        self.state = STATES.get(command.action.value, "ACTIVE")
        self.actions.labels(command.action.value, command.source).inc()
        return ControlOutcome(True, self.state, "")

    def readiness(self) -> Readiness:
        return self.ready

    def metrics_text(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


@attrs.frozen
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        assert self.headers["content-type"] == "application/json"
        return json.loads(self.body)


async def http(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: Sequence[tuple[str, str]] = (),
    declared_length: int | None = None,
    chunks: Sequence[bytes] | None = None,
) -> Reply:
    """One request on a fresh connection, read with h11 (the server's own parser library).

    `declared_length` sends only the headers with that Content-Length; `chunks` sends a
    chunked body without its final chunk: both ask the server to answer before the body ends."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        client = h11.Connection(h11.CLIENT)
        framing = (
            [("transfer-encoding", "chunked")]
            if chunks is not None
            else [
                ("content-length", str(len(body) if declared_length is None else declared_length))
            ]
        )
        names = {name.lower() for name, _ in headers}
        defaults = [("host", "127.0.0.1")] if "host" not in names else []
        if method == "POST" and "content-type" not in names:
            defaults.append(("content-type", "application/json"))
        request = h11.Request(method=method, target=path, headers=[*defaults, *headers, *framing])
        await stream.send_all(client.send(request) or b"")
        if chunks is not None:
            for chunk in chunks:
                await stream.send_all(client.send(h11.Data(data=chunk)) or b"")
        elif declared_length is None:
            if body:
                await stream.send_all(client.send(h11.Data(data=body)) or b"")
            await stream.send_all(client.send(h11.EndOfMessage()) or b"")
        status, response_headers, data = 0, {}, b""
        while True:
            event = client.next_event()
            if event is h11.NEED_DATA:
                client.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                response_headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                data += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return Reply(status, response_headers, data)


def control_body(action: str = "halt", reason: str = "operator says so") -> bytes:
    return json.dumps({"action": action, "reason": reason}).encode()


AUTH = (("x-auth-token", TOKEN),)


@asynccontextmanager
async def serving(plane: ControlPlane) -> AsyncIterator[int]:
    """Run the plane on a real socket for the body of a `with`, then stop it gracefully."""
    with trio.fail_after(1.5):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(plane.serve)
            try:
                yield port
            finally:
                plane.shutdown()


def plane_for(node: FakeNode, **options: Any) -> ControlPlane:
    options.setdefault("token", Token(TOKEN))
    return ControlPlane(node, **options)


def am_alert(status: str = "firing", name: str = "TickToTradeP99High", **labels: str) -> Any:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": "critical", **labels},
        "annotations": {"summary": "too slow"},
        "startsAt": "2024-05-01T12:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": f"fp-{name}",
        "futureAlertField": [1, 2, 3],
    }


def am_payload(*alerts: Any) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "groupKey": "{}:{}",
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "troupe",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://am:9093",
            "futurePayloadField": {"x": 1},
            "alerts": list(alerts),
        }
    ).encode()
