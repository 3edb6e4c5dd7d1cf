"""The REPL's wire format: one JSON object per line, each with a type `t`.

Node to client:
    {"t": "out", "s": text}                 text to show (may arrive at any time)
    {"t": "input", "p": prompt}             the node waits for one line (the console, a y/N)
    {"t": "keys", "on": bool}               send single keys now (top() runs) / stop
    {"t": "completions", "m": [str, ...]}   the answer to "complete"
    {"t": "bye", "s": why}                  the node closes this session

Client to node:
    {"t": "hello", "cols": int, "rows": int}
    {"t": "line", "s": text}  {"t": "eof"}  {"t": "interrupt"}  {"t": "key", "k": char}
    {"t": "complete", "line": buffer, "text": word}

A line longer than `MAX_LINE` is a protocol error: the reader stops there.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from protocols.errors import TroupeError  # a module of the standard library's weight

MAX_LINE = 1 << 20


class WireError(TroupeError):
    """The other end sent something that is not this protocol."""


def encode(kind: str, **fields: Any) -> bytes:
    return json.dumps({"t": kind, **fields}, ensure_ascii=False).encode() + b"\n"


class LineReader:
    """Reads whole messages from a socket; `read()` returns None at end of stream."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def read(self) -> dict[str, Any] | None:
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE:
                raise WireError(f"a message longer than {MAX_LINE} bytes")
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                return None
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise WireError(f"not JSON: {exc}") from None
        if not isinstance(message, dict) or not isinstance(message.get("t"), str):
            raise WireError("a message must be an object with a string 't'")
        return message
