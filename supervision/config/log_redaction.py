"""No secret value in a log line, whoever writes it.

A `Secret` prints as `***`, but once revealed for the one place that must send it (a header, a
signature) its plain text lives on in the libraries that carry it: ccxt logs every request at
DEBUG with its headers, `X-MBX-APIKEY` included, and a library's exception may quote what it
was given. So the node filters its own output: `redact_logs(config)` puts one
`SecretLogFilter` on each handler of the root logger (a filter on a logger would miss the
records its children propagate), which replaces each of the config's secret values with `***`
in the formatted message and in the traceback text, before any handler writes them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from supervision.config.secrets import Secret

__all__ = ["SecretLogFilter", "redact_logs", "secrets_in"]

MASK = "***"
WHOLE_TOKEN_BELOW = 8  # characters


def secrets_in(value: Any) -> list[Secret]:
    """Every `Secret` held anywhere in a config (attrs classes, tuples, lists, mappings)."""
    found: list[Secret] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Secret):
            found.append(item)
        elif attrs.has(type(item)):
            stack.extend(getattr(item, field.name) for field in attrs.fields(type(item)))
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return found


class SecretLogFilter(logging.Filter):
    """Masks these secrets' values in every record it sees (longest first, so a secret that
    contains another is masked whole)."""

    def __init__(self, secrets: Iterable[Secret]) -> None:
        super().__init__()
        values = {secret.reveal() for secret in secrets}
        self._values = sorted((v for v in values if v), key=len, reverse=True)
        # A value shorter than a real key (a placeholder such as "k") is masked only where it
        # stands alone: masked inside words it turns every log line into "mar***et".
        short = [re.escape(v) for v in self._values if len(v) < WHOLE_TOKEN_BELOW]
        self._short = (re.compile(rf"(?<![A-Za-z0-9])(?:{'|'.join(short)})(?![A-Za-z0-9])")
                       if short else None)

    def __repr__(self) -> str:
        return f"<SecretLogFilter of {len(self._values)} secret(s)>"

    def _mask(self, text: str) -> str:
        for value in self._values:
            if len(value) >= WHOLE_TOKEN_BELOW:
                text = text.replace(value, MASK)
        return self._short.sub(MASK, text) if self._short is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self._mask(record.stack_info)
        return True


def redact_logs(config: Any, handlers: Iterable[logging.Handler] | None = None) -> None:
    """Mask `config`'s secrets on these handlers (default: the root logger's), replacing any
    filter an earlier call put there."""
    secrets = secrets_in(config)
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        for old in [f for f in handler.filters if isinstance(f, SecretLogFilter)]:
            handler.removeFilter(old)
        if secrets:
            handler.addFilter(SecretLogFilter(secrets))
