"""Two source trees' backtests compared on a shared machine: CPU time alternated, or instructions.

    python -m benchmarks.backtest_ab BEFORE AFTER [--rounds 8] [--json PATH]
    python -m benchmarks.backtest_ab BEFORE AFTER --instructions

BEFORE and AFTER are checkouts of the repository (say `git archive main | tar -x -C DIR`).
The default mode keeps one worker process per tree (imports, caches and the catalog warm), and
asks them in turn for a backtest of `config/backtest.toml`, from the `.gz` and from the catalog,
swapping who goes first each round; it prints the minimum and the median CPU seconds of each and
the load average around them. On a machine other sessions share, CPU time still swings by 10-20 %
from run to run, so only the alternation and the minimum make a few per cent visible.

`--instructions` counts what one backtest executes instead, under valgrind's cachegrind (a
process with two backtests less one with one: start-up cancels out). The count does not depend
on the load, so it settles a change of a few per cent that CPU time cannot; it is a proxy for
time (a cache miss or a slow division counts as one), and a run takes about a minute.

Every run's digest is printed: two trees that should agree on the backtest's result must.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

KINDS = ("raw", "catalog")
CATALOG_DIR = str(Path(__file__).resolve().parents[1] / "var" / "catalog")
_WORKER = """
import gc, sys, time
sys.path.insert(0, ".")
from pathlib import Path
from supervision.config.load import load_config
from supervision.node.backtest import run_backtest
configs = {kind: load_config(Path("config/backtest.toml"), [
    "data.progress=off", "data.catalog_dir=" + sys.argv[1],
    "data.catalog=" + ("true" if kind == "catalog" else "false")]) for kind in ("raw", "catalog")}
for kind in sys.argv[3:] or ["raw", "catalog"]:
    run_backtest(configs[kind])  # warm: imports, caches, the catalog built
if sys.argv[2] == "serve":
    print("ready", flush=True)
    for line in sys.stdin:
        gc.collect()
        start = time.process_time()
        result = run_backtest(configs[line.strip()])
        print(time.process_time() - start, result.digest[:16], flush=True)
else:
    for _ in range(int(sys.argv[2]) - 1):
        result = run_backtest(configs[sys.argv[3]])
"""


def cpu_ab(trees: list[str], rounds: int) -> dict[str, object]:
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, CATALOG_DIR, "serve"], cwd=tree,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for tree in trees]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    seconds: dict[tuple[int, str], list[float]] = {(i, k): [] for i in (0, 1) for k in KINDS}
    digests, loads = set(), [os.getloadavg()[0]]
    for round_ in range(rounds):
        for kind in KINDS:
            for i in (0, 1) if round_ % 2 == 0 else (1, 0):
                stdin, stdout = workers[i].stdin, workers[i].stdout
                assert stdin is not None and stdout is not None
                stdin.write(kind + "\n")
                stdin.flush()
                cpu, digest = stdout.readline().split()
                seconds[(i, kind)].append(float(cpu))
                digests.add(digest)
        loads.append(os.getloadavg()[0])
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.close()
        worker.wait()
    figures: dict[str, object] = {"digests": sorted(digests), "load": [min(loads), max(loads)]}
    for kind in KINDS:
        for i, side in enumerate(("before", "after")):
            values = seconds[(i, kind)]
            figures[f"{kind}_{side}_cpu_s"] = [round(min(values), 3),
                                               round(statistics.median(values), 3)]
    return figures


def instructions(tree: str, kind: str, backtests: int) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, "-c", _WORKER, CATALOG_DIR, str(backtests), kind],
        cwd=tree, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
        check=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    assert found is not None, out.stderr[-2000:]
    return int(found.group(1).replace(",", ""))


def instruction_ab(trees: list[str]) -> dict[str, object]:
    figures: dict[str, object] = {}
    for kind in KINDS:
        for tree, side in zip(trees, ("before", "after"), strict=True):
            one, two = instructions(tree, kind, 1), instructions(tree, kind, 2)
            figures[f"{kind}_{side}_instructions"] = two - one
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--instructions", action="store_true", help="count under cachegrind")
    p.add_argument("--json", metavar="PATH", help="also write the figures here")
    args = p.parse_args(argv)
    trees = [str(Path(args.before).resolve()), str(Path(args.after).resolve())]
    figures = instruction_ab(trees) if args.instructions else cpu_ab(trees, args.rounds)
    for kind in KINDS:
        key = "instructions" if args.instructions else "cpu_s"
        before, after = figures[f"{kind}_before_{key}"], figures[f"{kind}_after_{key}"]
        if args.instructions:
            assert isinstance(before, int) and isinstance(after, int)
            change = 100 * (after / before - 1)
            print(f"{kind:8s} {before:,} -> {after:,} instructions ({change:+.1f}%)")
        else:
            assert isinstance(before, list) and isinstance(after, list)
            print(f"{kind:8s} CPU s min / median: {before[0]} / {before[1]} -> "
                  f"{after[0]} / {after[1]} ({100 * (after[0] / before[0] - 1):+.1f}% / "
                  f"{100 * (after[1] / before[1] - 1):+.1f}%)")
    if not args.instructions:
        print(f"digests {figures['digests']}, load average {figures['load']}")
    text = json.dumps(figures, indent=2) + "\n"
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
