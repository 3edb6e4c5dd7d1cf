"""`python -m supervision.main CONFIG`: run a node, or an experiment, from a TOML config.

    python -m supervision.main config/paper.toml                 # the paper node
    python -m supervision.main config/paper.toml --duration 60   # ... for a minute
    python -m supervision.main config/live.toml                  # observe mode: nothing is sent
    python -m supervision.main config/live.toml --execute --confirm-live YES
    python -m supervision.main CONFIG --check-config             # the effective config, redacted
    python -m supervision.main config/paper.toml --repl          # ... with the REPL in front
    python -m supervision.main config/avellaneda_stoikov.toml --set strategy.gamma=0.1 --report out
    python -m supervision.main config/backtest.toml --report out --sweep KEY=V1,V2  # a sweep

Exit codes: 0 done, 2 a user mistake (bad config, bad flags, a journal that cannot be opened or
replayed, a journal or venue account another node holds, a control-plane address that cannot be
bound: a clear message, never a traceback), 130 interrupted before the node started, or a
second signal during the graceful stop (forced). SIGINT, SIGTERM and SIGHUP all stop the node
gracefully (`supervision.node.process`).
"""

from __future__ import annotations

if __name__ == "__main__":  # first thing: no moment of the start-up is without the handlers
    from supervision.node.process import STOP

    STOP.install()

import argparse
import logging
import math
import sys
from typing import TYPE_CHECKING

# Only the standard library up here; everything slow is imported in `main`.
from supervision.experiments import cli as experiments
from supervision.node.process import CONSOLE, STOP

if TYPE_CHECKING:
    from supervision.config.load import ExperimentConfig

__all__ = ["main"]

USAGE_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m supervision.main",
                                description="Run a Troupe node or experiment from a config.")
    p.add_argument("config", help="a TOML config, e.g. config/paper.toml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config value (repeatable), e.g. --set node.seed=7")
    p.add_argument("--check-config", action="store_true",
                   help="print the effective config (secrets redacted) and exit")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                   help="stop cleanly after this long (default: run until Ctrl-C)")
    p.add_argument("--execute", action="store_true",
                   help="send real orders (live profile only; needs --confirm-live YES)")
    p.add_argument("--confirm-live", default=None, metavar="YES")
    p.add_argument("--report", default=None, metavar="DIR",
                   help="write the trading report here when the run ends (report.json, "
                        "report.html, Parquet tables; docs/analytics.md); an experiment's "
                        "report and plot")
    p.add_argument("--repl", action="store_true",
                   help="run the node behind an actor-introspection console (docs/repl.md); "
                        "leaving the console stops the node")
    p.add_argument("--log-level", default="WARNING",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    experiments.add_arguments(p)
    return p


def _fail(message: str) -> int:
    sys.stderr.write(f"error: {message}\n")
    return USAGE_ERROR


def main(argv: list[str] | None = None) -> int:
    from supervision.config.load import (
        ConfigError,
        ExperimentConfig,
        NodeConfig,
        load_config,
        redacted,
    )
    from supervision.config.log_redaction import redact_logs
    from supervision.node.live_guard import LiveGuardError, resolve_mode

    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.duration is not None and not 0 < args.duration < math.inf:
        return _fail(f"--duration must be a positive number of seconds (leave it out to run "
                     f"until Ctrl-C), got {args.duration:g}")
    try:
        config = load_config(args.config, args.overrides)
    except ConfigError as exc:
        sys.stderr.write(f"{args.config}: invalid config\n")
        for problem in exc.problems:
            sys.stderr.write(f"  {problem}\n")
        return USAGE_ERROR
    redact_logs(config)  # a library's DEBUG line may quote a revealed key (ccxt's headers do)
    if args.report is not None and not args.check_config:
        from supervision.report import report_dir_problem

        if (unwritable := report_dir_problem(args.report)) is not None:
            return _fail(unwritable)  # before anything runs, not after the whole run
    if isinstance(config, ExperimentConfig):
        if args.check_config:
            print(redacted(config))
            return 0
        return _experiment(config, args)
    assert isinstance(config, NodeConfig)
    try:
        decision = resolve_mode(config.profile.value, execute=args.execute,
                                confirm_live=args.confirm_live)
    except LiveGuardError as exc:
        return _fail(str(exc))
    missing = [k for k in ("api_key", "api_secret") if getattr(config.venue, k) is None]
    if decision.mode.value == "live" and config.venue.kind.value.startswith("binance") \
            and missing:
        return _fail(f"--execute needs the venue's keys ({', '.join('venue.' + k for k in missing)}"
                     " resolved to nothing); without them this config can only observe")
    if args.check_config:
        print(redacted(config))
        print(f"# mode: {decision.mode.value} ({decision.notice})")
        return 0
    if experiments.used(args):  # --sweep, --optimize and their flags
        return experiments.run(args, config)
    if config.profile.value == "backtest":
        if args.repl:
            return _fail("--repl attaches to a running node; a backtest runs in virtual time")
        from supervision.node.backtest import main_backtest

        return main_backtest(config, decision.notice, report=args.report)
    if args.repl:
        from supervision.repl.foreground import run_with_repl

        STOP.uninstall()  # the console handles Ctrl-C itself, and stops the node it started
        given = sys.argv[1:] if argv is None else list(argv)
        return run_with_repl([a for a in given if a != "--repl"], config)
    from supervision.node.run import run_node

    return run_node(config, decision, duration=args.duration, report=args.report)


def _experiment(config: ExperimentConfig, args: argparse.Namespace) -> int:
    from supervision.experiments.as_run import main_experiment, refused_flag

    given = experiments.given(args) + [f for f in ("--duration", "--execute", "--confirm-live",
                                                   "--repl") if _given(args, f)]
    if given:
        return _fail(refused_flag(given[0]))
    return main_experiment(config, args.report)


def _given(args: argparse.Namespace, flag: str) -> bool:
    return getattr(args, flag[2:].replace("-", "_")) not in (None, False)


if __name__ == "__main__":
    CONSOLE.guard_stdout()
    raise SystemExit(main())
