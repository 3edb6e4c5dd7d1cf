"""Secrets: held in a type that never shows its value, and given to the config only by reference.

A config file is copied, pasted into tickets and committed by accident, so it never holds a
secret. It says where one is: `{ env = "NAME" }` (an environment variable) or
`{ file = "/path" }` (a file only its owner can read, like an ssh key), and the loader resolves
the reference once, at start-up, into a `Secret`. Add `optional = true` when the node can run
without it (the control token of a paper node: without one, the control POST is disabled).

`Secret` prints as `***` everywhere Python turns an object into text (repr, str, f-strings,
logging, attrs reprs of the config, the REPL, a traceback's locals), refuses to be pickled, and
compares in constant time, so checking a request's token does not leak it one byte at a time.
The only way to the value is `reveal()`, which is easy to grep for.
"""

from __future__ import annotations

import hmac
import os
import re
import stat
from collections.abc import Mapping
from typing import Any, NoReturn, final

from protocols.errors import TroupeError

__all__ = ["REFERENCE_HINT", "Secret", "SecretError", "resolve_secret"]

REFERENCE_HINT = 'give a reference: { env = "NAME" } or { file = "/path" }'

_NO_PICKLE = (
    "a Secret cannot be pickled: it would carry its value in clear; "
    "pass the reference and resolve it where it is needed"
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@final
class Secret:
    """A secret value that shows itself as `***`. `reference` says where it came from
    (`env:NAME`, `file:/path`), which is safe to print and is what `--check-config` shows."""

    __slots__ = ("_value", "reference")

    _value: str
    reference: str

    def __init__(self, value: str, reference: str = "inline") -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret holds a str")
        object.__setattr__(self, "_value", value)
        object.__setattr__(self, "reference", reference)

    def reveal(self) -> str:
        """The value itself: for the one place that must send it (a header, a signature)."""
        return self._value

    def matches(self, candidate: str | bytes | None) -> bool:
        """Constant-time comparison with a candidate (a request header, say); None never
        matches."""
        if candidate is None:
            return False
        if isinstance(candidate, str):
            candidate = candidate.encode()
        return hmac.compare_digest(self._value.encode(), candidate)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        if isinstance(other, str | bytes):
            return self.matches(other)
        return NotImplemented

    def __hash__(self) -> int:
        # Equal secrets must hash alike, and a hash of the value would be a value-derived
        # number anyone can print: every Secret hashes the same (configs are rarely dict keys).
        return hash(Secret)

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __format__(self, _spec: str) -> str:
        return "***"

    def __setattr__(self, _name: str, _value: Any) -> NoReturn:
        raise AttributeError("a Secret is immutable")

    def __reduce_ex__(self, _protocol: Any) -> NoReturn:
        raise TypeError(_NO_PICKLE)

    def __reduce__(self) -> NoReturn:
        raise TypeError(_NO_PICKLE)

    def __copy__(self) -> Secret:
        return self  # immutable: copies may share it

    def __deepcopy__(self, _memo: Any) -> Secret:
        return self


class SecretError(TroupeError, ValueError):
    """A reference that cannot be resolved; the message never contains a secret value."""


def _refuse_plain(value: Any) -> NoReturn:
    # Never echo the value: if it is a string, it probably *is* the secret.
    kind = "a string" if isinstance(value, str) else f"a {type(value).__name__}"
    raise SecretError(f"{REFERENCE_HINT}, not {kind}")


def resolve_secret(reference: Any, environ: Mapping[str, str]) -> Secret | None:
    """Resolve `{ env = ... }` / `{ file = ... }` (plus `optional = true`) into a `Secret`.

    None when an optional reference finds nothing. Raises `SecretError` for anything else that
    is not a usable secret: a plain value, a malformed reference, a missing variable or file, a
    file others can read or write, an empty value.
    """
    if not isinstance(reference, dict):
        _refuse_plain(reference)
    unknown = sorted(set(reference) - {"env", "file", "optional"})
    if unknown:
        raise SecretError(
            f"unknown key {unknown[0]!r} in a secret reference; {REFERENCE_HINT} "
            "(and optionally optional = true)"
        )
    optional = reference.get("optional", False)
    if not isinstance(optional, bool):
        raise SecretError("optional must be true or false")
    has_env, has_file = "env" in reference, "file" in reference
    if has_env == has_file:
        raise SecretError(f"{REFERENCE_HINT} (exactly one of them)")
    if has_env:
        return _from_env(reference["env"], environ, optional)
    return _from_file(reference["file"], optional)


def _from_env(name: Any, environ: Mapping[str, str], optional: bool) -> Secret | None:
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
        raise SecretError(f"env must name an environment variable, got {name!r}")
    value = environ.get(name)
    if not value:
        if optional:
            return None
        state = "is empty" if value == "" else "is not set"
        raise SecretError(f"environment variable {name} {state}")
    return Secret(value, f"env:{name}")


def _from_file(path: Any, optional: bool) -> Secret | None:
    if not isinstance(path, str) or not path:
        raise SecretError(f"file must be a path, got {path!r}")
    full = os.path.expanduser(path)
    try:
        info = os.stat(full)
    except FileNotFoundError:
        if optional:
            return None
        raise SecretError(f"secret file {path} does not exist") from None
    except OSError as exc:
        raise SecretError(f"cannot read secret file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SecretError(f"secret file {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        how = "readable" if mode & 0o044 else "writable" if mode & 0o022 else "accessible"
        raise SecretError(
            f"secret file {path} is {how} by others (mode {mode:04o}): chmod 600 {path}"
        )
    try:
        with open(full, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SecretError(f"cannot read secret file {path}: {reason}") from None
    text = text.rstrip("\r\n")  # editors add a final newline; it is never part of a token
    if not text:
        raise SecretError(f"secret file {path} is empty")
    return Secret(text, f"file:{path}")
