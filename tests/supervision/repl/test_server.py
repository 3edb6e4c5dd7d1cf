"""The REPL's socket: who may attach, what happens to the path, and the console over the wire,
with a plain namespace instead of a node (the node's own tests are in test_repl_session)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supervision.repl.server import ReplServer, ReplSocketError, peer_uid
from supervision.repl.wire import LineReader, encode

ROOT = Path(__file__).resolve().parents[3]
NOBODY = 65534


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: a Unix socket path has at most 107 bytes."""
    where = Path(tempfile.mkdtemp(prefix="repl-", dir="/tmp"))
    yield where
    shutil.rmtree(where, ignore_errors=True)


def serve(path: Path, **kwargs: Any) -> ReplServer:
    return ReplServer(path, lambda session: {"answer": 42, "_actor_names": list},
                      banner="test console", confirm_changes=False, **kwargs).start()


class RawClient:
    """The wire protocol by hand: what the terminal client does, minus the terminal."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(os.fspath(path))
        self.reader = LineReader(self.sock)
        with contextlib.suppress(BrokenPipeError):  # a refused client may be closed already
            self.sock.sendall(encode("hello", cols=80, rows=24))

    def until(self, kind: str) -> tuple[str, dict[str, Any]]:
        """Everything shown until a message of `kind`, and that message."""
        shown = []
        while True:
            message = self.reader.read()
            assert message is not None, "the node closed the connection"
            if message["t"] == kind:
                return "".join(shown), message
            if message["t"] == "out":
                shown.append(message["s"])

    def line(self, text: str) -> str:
        self.sock.sendall(encode("line", s=text))
        return self.until("input")[0]


def test_the_socket_is_mode_0600_and_peers_are_checked_by_uid(short_dir: Path) -> None:
    path = short_dir / "node.sock"
    server = serve(path)
    try:
        assert path.stat().st_mode & 0o777 == 0o600
        client = RawClient(path)
        banner, prompt = client.until("input")
        assert "test console" in banner and prompt["p"] == ">>> "
        assert client.line("answer + 1") == "43\n"
        assert peer_uid(client.sock) == os.geteuid()  # what the server checks, from our side
    finally:
        server.close()
    assert not path.exists()


def test_a_console_over_the_wire_completes_and_gives_one_line_errors(short_dir: Path) -> None:
    server = serve(short_dir / "node.sock")
    try:
        client = RawClient(short_dir / "node.sock")
        client.until("input")
        client.sock.sendall(encode("complete", line="answ", text="answ"))
        assert client.until("completions")[1]["m"] == ["answer"]
        assert client.line("undefined_name") == "NameError: name 'undefined_name' is not defined\n"
        assert client.line("def f(:") == "SyntaxError: invalid syntax (column 7)\n"
        client.sock.sendall(encode("eof"))
        assert client.until("bye")[1]["s"] == "detached"
    finally:
        server.close()


def test_more_clients_than_allowed_are_told_so(short_dir: Path) -> None:
    server = serve(short_dir / "node.sock", max_sessions=1)
    try:
        first = RawClient(short_dir / "node.sock")
        first.until("input")
        second = RawClient(short_dir / "node.sock")
        assert second.until("bye")[1]["s"] == "refused: 1 clients are attached already"
        assert first.line("answer") == "42\n"  # the first is undisturbed
    finally:
        server.close()


def test_a_stale_socket_is_reclaimed_a_live_one_is_not(short_dir: Path) -> None:
    path = short_dir / "node.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(os.fspath(path))
    stale.close()  # a node that died left its socket file behind
    server = serve(path)
    try:
        with pytest.raises(ReplSocketError, match="is served by another running node"):
            serve(path)
        assert RawClient(path).until("input")  # the first server still serves
    finally:
        server.close()


def test_paths_that_cannot_be_served_are_one_line_errors(short_dir: Path) -> None:
    plain = short_dir / "journal.jsonl"
    plain.write_text("")
    with pytest.raises(ReplSocketError, match="exists and is not a socket"):
        serve(plain)
    with pytest.raises(ReplSocketError, match=r"longer than 107 bytes; set repl\.socket"):
        serve(short_dir / ("x" * 120))


def _as_nobody(socket_path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """The real client, run by another user (nobody) with the system Python."""
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         "/usr/bin/python3", "-m", "supervision.repl", "--socket", os.fspath(socket_path),
         "--history", os.fspath(home / "history")],
        cwd=ROOT, input="answer\n", capture_output=True, text=True, timeout=30,
        env={"PATH": "/usr/bin:/bin", "HOME": os.fspath(home), "PYTHONDONTWRITEBYTECODE": "1"})


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None
                    or not Path("/usr/bin/python3").exists(),
                    reason="needs root, setpriv and /usr/bin/python3 to act as another user")
def test_another_user_is_refused_by_the_mode_and_by_the_uid_check(short_dir: Path) -> None:
    short_dir.chmod(0o755)  # others may reach the socket's directory: only its mode protects it
    home = short_dir / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    path = short_dir / "node.sock"
    server = serve(path)
    try:
        refused = _as_nobody(path, home)
        assert refused.returncode == 1
        assert refused.stderr.strip() == f"error: cannot attach to {path}: Permission denied"
        path.chmod(0o666)  # loosened by hand: the kernel lets nobody connect ...
        checked = _as_nobody(path, home)
        assert checked.returncode == 1  # ... and the node refuses by uid
        assert checked.stderr.strip() == f"refused: uid {NOBODY} is not the node's user"
        assert "42" not in checked.stdout
        assert server.refused == 1 and server.sessions() == []
    finally:
        server.close()


def test_print_reaches_its_session_even_when_stdout_is_wrapped_meanwhile(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys
    import threading

    from supervision.repl.session import _Routing

    class Guard(io.StringIO):  # what the node's closed-stdout guard does: wrap sys.stdout
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def write(self, text: str) -> int:
            return int(self.inner.write(text))

    terminal = io.StringIO()
    monkeypatch.setattr(sys, "stdout", terminal)
    routing, session_out, other = _Routing(), [], threading.Thread(target=print, args=("node",))
    routing.route(threading.get_ident(), session_out.append)
    sys.stdout = Guard(sys.stdout)  # wrapped while the session is attached
    print("to the session")  # noqa: T201  # what a helper does
    other.start()
    other.join()
    routing.route(threading.get_ident(), None)
    print("after detaching")  # noqa: T201
    assert "".join(session_out) == "to the session\n"
    assert terminal.getvalue() == "node\nafter detaching\n"
