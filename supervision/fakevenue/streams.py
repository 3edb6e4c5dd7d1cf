"""The fake venue's websocket streams, over trio-websocket, on Binance's paths.

- `/stream?streams=btcusdt@depth@100ms/btcusdt@trade` (combined streams, frames wrapped as
  `{"stream": ..., "data": ...}`), and `/ws/<stream>` for one raw stream;
- `{"method": "SUBSCRIBE", "params": [...], "id": n}` on an open socket adds streams and is
  answered `{"result": null, "id": n}`, as on Binance;
- `/ws/<listenKey>`: the user-data stream (the key `POST /api/v3/userDataStream` gave). An
  outage (`user_down`, the `user_down_s` fault) closes it and refuses it (503) until it ends:
  the order events of that time are lost to the client, as on the venue.

Each connection has a bounded queue and its own writer task: the replay never waits for a slow
client; a client whose queue overflows is disconnected, as Binance drops a consumer that cannot
keep up. Pings are answered by trio-websocket itself.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

__all__ = ["StreamHub"]

QUEUE = 50_000


@attrs.define(eq=False)
class _Client:
    ws: WebSocketConnection
    streams: set[str]
    user: bool
    send: trio.MemorySendChannel[str]
    receive: trio.MemoryReceiveChannel[str]


class StreamHub:
    def __init__(self, venue: Any) -> None:  # the FakeVenue (which imports this module)
        self.venue = venue
        self.clients: set[_Client] = set()
        self.user_down_until = 0.0  # trio time: the user-data stream is refused until then

    async def serve(self, host: str, port: int,
                    task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            ws_server = await nursery.start(serve_websocket, self._handle, host, port, None)
            task_status.started(ws_server.port)

    def connections(self) -> dict[str, int]:
        user = sum(1 for c in self.clients if c.user)
        return {"market": len(self.clients) - user, "user": user}

    # -- publishing ----------------------------------------------------------------------------
    def publish(self, stream: str, text: str) -> None:
        for client in list(self.clients):
            if stream in client.streams:
                self._offer(client, text)

    def publish_all(self, text: str) -> None:
        for client in list(self.clients):
            if not client.user:
                self._offer(client, text)

    def publish_user(self, text: str) -> None:
        faults = self.venue.faults
        for client in list(self.clients):
            if client.user:
                self._offer(client, text)
        if faults.take("duplicate_reports"):
            self.venue.count("duplicate_reports")
            for client in list(self.clients):
                if client.user:
                    self._offer(client, text)

    def _offer(self, client: _Client, text: str) -> None:
        try:
            client.send.send_nowait(text)
        except trio.WouldBlock:
            self.venue.count("slow_consumer_dropped")
            self.clients.discard(client)
            client.send.close()
        except trio.ClosedResourceError:
            self.clients.discard(client)

    async def disconnect_all(self) -> None:
        for client in list(self.clients):
            self.clients.discard(client)
            client.send.close()
            with trio.move_on_after(1):
                await client.ws.aclose(code=1001, reason="fake venue: disconnect fault")

    async def user_down(self, seconds: float) -> None:
        """Close the user-data stream and refuse it for `seconds`."""
        self.user_down_until = trio.current_time() + seconds
        for client in [c for c in self.clients if c.user]:
            self.clients.discard(client)
            client.send.close()
            with trio.move_on_after(1):
                await client.ws.aclose(code=1001, reason="fake venue: user stream outage")

    # -- connections ---------------------------------------------------------------------------
    async def _handle(self, request: WebSocketRequest) -> None:
        url = urlsplit(request.path)
        key = url.path.removeprefix("/ws/") if url.path.startswith("/ws/") else None
        user = key == self.venue.listen_key
        if user and trio.current_time() < self.user_down_until:
            await request.reject(503, body=b"fake venue: user stream outage")
            return
        streams: set[str] = set()
        if url.path == "/stream":
            streams = {s for part in parse_qs(url.query).get("streams", [])
                       for s in part.split("/") if s}
        elif key and not user:
            streams = {key}
        ws = await request.accept()
        send, receive = trio.open_memory_channel[str](QUEUE)
        client = _Client(ws, streams, user, send, receive)
        self.clients.add(client)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer, client, nursery.cancel_scope)
                nursery.start_soon(self._reader, client, nursery.cancel_scope)
        finally:
            self.clients.discard(client)

    async def _writer(self, client: _Client, scope: trio.CancelScope) -> None:
        try:
            async for text in client.receive:
                await client.ws.send_message(text)
            await client.ws.aclose(code=1001, reason="fake venue: closed")
        except ConnectionClosed:
            pass
        scope.cancel()

    async def _reader(self, client: _Client, scope: trio.CancelScope) -> None:
        try:
            await self._read_requests(client)
        except ConnectionClosed:
            scope.cancel()

    async def _read_requests(self, client: _Client) -> None:
        while True:
            text = await client.ws.get_message()
            try:
                request = json.loads(text)
                method, params, rid = request["method"], request.get("params", []), request["id"]
            except (ValueError, KeyError, TypeError):
                continue
            if method == "SUBSCRIBE":
                client.streams.update(params)
            elif method == "UNSUBSCRIBE":
                client.streams.difference_update(params)
            await client.ws.send_message(json.dumps({"result": None, "id": rid}))
