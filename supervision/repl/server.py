"""The node's end of the REPL: a Unix socket, served from threads of the REPL's own.

Why threads of its own: the trading loop (trio) and the actors' dispatcher must never wait for an
operator, and the operator must get answers exactly when they are stuck (a flooded mailbox, a
busy loop). The accept loop and every session run on their own threads; they read counters
directly and reach actors only through their mailboxes (`supervision.runtime.introspection`).

Who may attach: the socket file is created with mode 0600 (umask 0177 during `bind`, then
`chmod`), so the kernel refuses `connect` to any other user; and each accepted peer's uid is
checked again with SO_PEERCRED, so a socket file loosened by hand still admits only the node's
own user. At most `max_sessions` clients at once; one more is told so and closed.

The path: a socket left behind by a node that died is removed; one that answers belongs to a
running node, and we refuse to take it over. `close()` ends every session, then removes the
file if it is still ours.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import stat
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocols.errors import TroupeError
from supervision.repl.session import Session
from supervision.repl.wire import encode

log = logging.getLogger("troupe.repl")

MAX_PATH_BYTES = 107  # sun_path is 108 bytes with its terminating NUL
_UCRED = struct.Struct("3i")  # pid, uid, gid


class ReplSocketError(TroupeError):
    """The socket cannot be served at that path; the message says why in one line."""


def peer_uid(sock: socket.socket) -> int:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return int(_UCRED.unpack(raw)[1])


def _claim_path(path: Path) -> None:
    """Make `path` free for a new socket, or say why it cannot be."""
    if len(os.fsencode(path)) > MAX_PATH_BYTES:
        raise ReplSocketError(f"socket path {path} is longer than {MAX_PATH_BYTES} bytes; "
                              "set repl.socket to a shorter path")
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise ReplSocketError(f"{path} exists and is not a socket; set repl.socket elsewhere")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(os.fspath(path))
    except OSError:
        path.unlink(missing_ok=True)  # left by a node that is gone
        return
    finally:
        probe.close()
    raise ReplSocketError(f"{path} is served by another running node")


class ReplServer:
    """Serves consoles on `path`. `namespace_for(session)` builds each session's namespace;
    `banner` greets each client; `confirm_changes` makes every change ask first (live)."""

    def __init__(self, path: str | os.PathLike[str],
                 namespace_for: Callable[[Session], dict[str, Any]], *, banner: str,
                 confirm_changes: bool, max_sessions: int = 8) -> None:
        self.path = Path(path)
        self.namespace_for = namespace_for
        self.banner = banner
        self.confirm_changes = confirm_changes
        self.max_sessions = max_sessions
        self.refused = 0
        self._sessions: dict[int, Session] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._listener: socket.socket | None = None
        self._inode: int | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    def start(self) -> ReplServer:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        _claim_path(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            listener.bind(os.fspath(path))
        except OSError as exc:
            listener.close()
            raise ReplSocketError(f"cannot listen on {path}: {exc.strerror}") from None
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o600)
        self._inode = path.lstat().st_ino
        listener.listen(16)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, name="troupe:repl", daemon=True)
        self._thread.start()
        return self

    def sessions(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def close(self) -> None:
        self._closing.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for session in self.sessions():
            session.close("the node is stopping")
        if self._thread is not None:
            self._thread.join(2.0)
        with contextlib.suppress(OSError):
            if self._inode is not None and self.path.lstat().st_ino == self._inode:
                self.path.unlink()

    # -- the accept thread ------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closing.is_set():
            listener = self._listener
            if listener is None:
                return
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed
            try:
                self._admit(conn)
            except Exception:
                log.exception("repl: could not admit a client")
                conn.close()

    def _admit(self, conn: socket.socket) -> None:
        uid = peer_uid(conn)
        if uid != os.geteuid():
            self.refused += 1
            log.warning("repl: refused a client running as uid %d (the node runs as uid %d)",
                        uid, os.geteuid())
            self._turn_away(conn, f"refused: uid {uid} is not the node's user")
            return
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                full = True
            else:
                full = False
                number = next(self._ids)
                session = Session(conn, f"s{number}", self.namespace_for, self.banner,
                                  self.confirm_changes)
                self._sessions[number] = session
        if full:
            self._turn_away(conn, f"refused: {self.max_sessions} clients are attached already")
            return
        log.info("repl: client s%d attached", number)
        threading.Thread(target=self._serve, args=(number, session),
                         name=f"troupe:repl:s{number}", daemon=True).start()

    def _serve(self, number: int, session: Session) -> None:
        try:
            session.run()
        finally:
            with self._lock:
                self._sessions.pop(number, None)
            log.info("repl: client s%d detached", number)

    @staticmethod
    def _turn_away(conn: socket.socket, why: str) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(1.0)
            conn.sendall(encode("bye", s=why))
        conn.close()
