"""Avellaneda-Stoikov experiment benchmark: the cost of one path through the actors.

    python -m benchmarks.avellaneda_stoikov --json out/avellaneda_stoikov.json

Runs `--paths` paths of each strategy in each variant (the paper's model, Troupe's post-only)
at each gamma, in this process, and reports milliseconds per path: CPU (`process_time`, the
headline: steady on a shared machine) and wall. The full experiment is 9000 such paths
(3 gammas x (2 strategies + the post-only inventory strategy) x 1000) spread over the workers,
so its CPU cost is about 9000 x the mean CPU per path, divided by the workers for the wall time
on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from supervision.config.experiment import ExperimentVariant
from supervision.experiments.avellaneda_stoikov import ASParams, paper_spread, run_path

GAMMAS = (0.1, 0.01, 0.5)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", metavar="PATH", help="also write the figures here")
    p.add_argument("--paths", type=int, default=10, help="paths per strategy, variant, gamma")
    args = p.parse_args(argv)
    figures: dict[str, float | int | str] = {"paths_each": args.paths}
    cpu_all = []
    for gamma in GAMMAS:
        for variant in ExperimentVariant:
            params = ASParams(gamma=gamma, variant=variant, paths=args.paths)
            for strategy in ("inventory", "symmetric"):
                spread = paper_spread(params) / float(params.tick)
                cpu0, wall0 = time.process_time(), time.perf_counter()
                for index in range(args.paths):
                    run_path(params, strategy, index,
                             spread_ticks=spread if strategy == "symmetric" else None)
                cpu = (time.process_time() - cpu0) / args.paths * 1000
                wall = (time.perf_counter() - wall0) / args.paths * 1000
                key = f"g{gamma}_{variant.value}_{strategy}"
                figures[f"{key}_cpu_ms"], figures[f"{key}_wall_ms"] = round(cpu, 1), round(wall, 1)
                cpu_all.append(cpu)
    figures["mean_cpu_ms_per_path"] = round(statistics.fmean(cpu_all), 1)
    figures["full_run_cpu_s"] = round(9000 * statistics.fmean(cpu_all) / 1000)
    figures["python"] = sys.version.split()[0]
    text = json.dumps(figures, indent=2) + "\n"
    sys.stdout.write(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
