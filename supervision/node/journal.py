"""The journal read back: every record in file order, and what a restart would recover from it.

The journal (written by `supervision.node.journal_writer`, one line per record as
`protocols.journal_codec` says) is the node's memory across restarts and its evidence
afterwards. Reading it keeps one promise: **a crash mid-write does not stop the next start, and
nothing else is skipped.** A process killed mid-write leaves an unfinished last line; the next
writer starts on a fresh line and journals a `TornLine` naming the fragment's offset. The
reader skips exactly the lines so named (and an unfinished final line) with a warning. Any
other malformed line is an error naming the file and line: a journal is evidence, so damage is
reported, never skipped.

`recover_journal` replays the records through `actors.recovery.recover`, and
`python -m supervision.node.journal PATH` prints what a restart would recover.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from actors.recovered import RecoveredState
from actors.recovery import recover
from protocols.journal import JournalError, TornLine
from protocols.journal_codec import decode_line

__all__ = ["iter_journal", "recover_journal"]

log = logging.getLogger("troupe.journal")


def iter_journal(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Every record of the journal at `path`, in file order. A missing file has none.

    An unfinished last line is skipped with a warning, and so is a line a later `TornLine`
    record names. Any other malformed line raises `JournalError` naming the file and line.
    """
    path = Path(path)
    if not path.exists():
        return
    with path.open("rb") as f:
        offset = 0
        suspect: tuple[int, int, bytes, str] | None = None  # (lineno, offset, raw, why)
        for lineno, raw in enumerate(f, 1):
            start, offset = offset, offset + len(raw)
            finished = raw.endswith(b"\n")
            try:
                record = decode_line(raw[:-1] if finished else raw)
            except JournalError as exc:
                if suspect is not None:
                    raise _malformed(path, *suspect) from None
                if not finished:
                    log.warning("%s:%d: skipping an unfinished last line (%d bytes): the "
                                "process stopped mid-write", path, lineno, len(raw))
                    return
                suspect = (lineno, start, raw, str(exc))
                continue
            if suspect is not None:
                marker = record["kind"] == TornLine.__name__
                if not marker or record["data"].get("offset") != suspect[1]:
                    raise _malformed(path, *suspect)
                log.warning("%s:%d: skipping an unfinished line left by a crash (marked by "
                            "seq %d)", path, suspect[0], record["seq"])
                suspect = None
            yield record
        if suspect is not None:
            raise _malformed(path, *suspect)


def _malformed(path: Path, lineno: int, _offset: int, raw: bytes, why: str) -> JournalError:
    return JournalError(
        f"{path}:{lineno}: malformed journal line ({why}): {raw[:80]!r}. A journal is "
        f"evidence and is not skipped silently: move the file aside or repair that line.")


def recover_journal(path: str | os.PathLike[str]) -> RecoveredState:
    """Replay the journal at `path` (see `actors.recovery.recover`). Raises `JournalError`."""
    return recover(iter_journal(path))


def main(argv: list[str] | None = None) -> int:
    """`python -m supervision.node.journal PATH`: what a restart would recover from a journal."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m supervision.node.journal PATH\n")
        return 2
    try:
        state = recover_journal(args[0])
    except (JournalError, OSError) as exc:
        sys.stderr.write(f"journal: {exc}\n")
        return 2
    sys.stdout.write("\n".join(state.summary()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
