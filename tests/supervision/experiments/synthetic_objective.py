"""A synthetic objective with a known optimum, run by the real executors, sweep and optimiser in
place of a backtest (`Job.runner`): a worker imports it by name, as it imports the backtest's.

Its figures are shaped like a report's (`pnl.total`), from the job's own parameters:
gamma (log scale) best at 1e-10, quote_lots best at 7, so the search has one answer to find."""

from __future__ import annotations

import math

from supervision.experiments.variants import Job, Outcome

RUNNER = "tests.supervision.experiments.synthetic_objective:quadratic"
BEST_GAMMA, BEST_LOTS = 1e-10, 7


def score(gamma: float, lots: int) -> float:
    return -((math.log10(gamma) - math.log10(BEST_GAMMA)) ** 2) - ((lots - BEST_LOTS) / 4) ** 2


def quadratic(job: Job) -> Outcome:
    params = dict(job.params)
    value = score(float(params["strategies.0.params.gamma"]),
                  int(params["strategies.0.params.quote_lots"]))
    return Outcome(job.name, job.params, {"pnl": {"total": f"{value:.12f}"}, "fills": 1})
