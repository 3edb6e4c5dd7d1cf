"""What the benchmarks that time one actor's messages share: the best of several timed
rounds, and callgrind's count of the instructions spent inside `itertools.starmap`.

A benchmark that replays an actor's messages times each round's messages by kind and keeps,
per kind, the round with the lowest mean (`best_round`): a shared machine's load only adds.
A benchmark that counts instructions runs a child of itself under callgrind in which only the
calls it measures run inside `itertools.starmap`, whose C function (`starmap_next`) callgrind
is told to collect in, and which writes how many such calls it made (`{"counted": n}`) to the
JSON file it is given (`instructions_per_call`).
"""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["best_round", "instructions_per_call", "print_figures"]


def best_round(replay: Callable[[], dict[str, list[int]]],
               rounds: int) -> dict[str, dict[str, int]]:
    """Per message kind, over `rounds` calls of `replay` (ns per message, by kind), the round
    with the lowest mean: calls, p50 and mean ns. Collections are off while it runs (one lands
    where the allocations put it: not a message's cost)."""
    best: dict[str, dict[str, int]] = {}
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for kind, values in replay().items():
                values.sort()
                row = {"calls": len(values), "p50_ns": values[len(values) // 2],
                       "mean_ns": round(sum(values) / len(values))}
                if kind not in best or row["mean_ns"] < best[kind]["mean_ns"]:
                    best[kind] = row
    finally:
        gc.enable()
    return dict(sorted(best.items()))


def print_figures(result: dict[str, Any], width: int) -> None:
    """A result's `instructions_per_message` or `cpu_ns` (`best_round`'s), one kind a line,
    the kind's column `width` wide."""
    for kind, count in result.get("instructions_per_message", {}).items():
        print(f"{kind:20} {count:12,.0f} instructions a message")
    if "cpu_ns" in result:
        print(f"{'message':{width}} {'calls':>6} {'p50 ns':>8} {'mean ns':>8}")
        for kind, row in result["cpu_ns"].items():
            print(f"{kind:{width}} {row['calls']:6} {row['p50_ns']:8} {row['mean_ns']:8}")


def instructions_per_call(module_args: list[str]) -> float:
    """Run `python -m <module_args> <result.json>` under callgrind, collecting only inside
    `starmap_next`: the instructions collected over the calls the child counted."""
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "counted.json"
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", "--toggle-collect=starmap_next",
             f"--callgrind-out-file={scratch}/callgrind.out", sys.executable, "-m",
             *module_args, str(result)],
            capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"})
        found = re.search(r"Collected\s*:\s*([\d,]+)", run.stderr)
        assert found is not None, run.stderr[-2000:]
        calls = json.loads(result.read_text())["counted"]
        return int(found.group(1).replace(",", "")) / max(calls, 1)
