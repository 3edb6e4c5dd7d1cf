"""How an operator watches and steers a node: the control plane (`[control]`, with its
Alertmanager webhook), the journal, the introspection REPL, metrics, the trading report and the
daily observation files.

The control plane can stop trading, so its defaults are the safe ones: it binds 127.0.0.1, POST
/control is off until a token is given, and a Host header it does not know is refused (no
DNS-rebinding route in). Tokens are secrets by reference and at least 16 characters; a plane
that listens beyond loopback must also give the webhook a token. Those rules span fields, so
`supervision.config.load` checks them.

Relative paths (the journal, the REPL socket, the observation directory) are from the working
directory, and the REPL socket and observation files default to beside the journal: one node,
one journal, and what belongs to a node sits next to it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import attrs

from actors.analytics import CRITERION_METRICS, DEFAULT_CRITERIA, HORIZONS_S
from protocols.journal import FsyncPolicy
from supervision.config.fields import gt, non_empty, one_of, tcp_port
from supervision.config.secrets import Secret


@attrs.frozen(slots=True, kw_only=True)
class AlertmanagerConfig:
    """A firing alert whose labels include every matcher triggers `disable_live`."""

    matchers: dict[str, str] = attrs.field(factory=lambda: {"severity": "critical"})
    resume_on_resolved: bool = False
    # Checked like the control token (Authorization: Bearer, or X-Auth-Token); at least 16
    # characters. Required when control.listen_host is beyond loopback. None: the webhook
    # relies on the loopback bind; it can only tighten, and resume only an alert's REDUCING.
    token: Secret | None = None
    max_body_bytes: int = attrs.field(default=1 << 20, validator=gt(0))


@attrs.frozen(slots=True, kw_only=True)
class ControlConfig:
    enabled: bool = True
    listen_host: str = attrs.field(default="127.0.0.1", validator=non_empty)
    listen_port: int = attrs.field(default=8321, validator=tcp_port)
    # None: POST /control is disabled (the GET endpoints and /am-webhook still serve). At least
    # 16 characters.
    token: Secret | None = None
    max_body_bytes: int = attrs.field(default=65_536, validator=gt(0))
    # Names besides listen_host and the loopback names (localhost, 127.0.0.1, ::1) that clients
    # may use in the Host header: the name Prometheus or an operator reaches the node by. Any
    # other Host is refused (no DNS-rebinding route in).
    allowed_hosts: tuple[str, ...] = ()
    alertmanager: AlertmanagerConfig = attrs.field(factory=AlertmanagerConfig)


@attrs.frozen(slots=True, kw_only=True)
class JournalConfig:
    path: str = attrs.field(default="var/journal.jsonl", validator=non_empty)  # from the cwd
    fsync: FsyncPolicy = FsyncPolicy.INTERVAL
    fsync_interval_s: float = attrs.field(default=1.0, validator=gt(0))


@attrs.frozen(slots=True, kw_only=True)
class ReplConfig:
    """The actor-introspection REPL (`python -m supervision.repl`): a Unix socket of mode 0600
    that only the node's own user can attach to."""

    enabled: bool = True
    # "": beside the journal, with the journal's name: var/journal.jsonl -> var/journal.repl.sock
    socket: str = ""

    def socket_path(self, journal_path: str) -> Path:
        if self.socket:
            return Path(self.socket)
        journal = Path(journal_path)
        return journal.with_name(f"{journal.stem}.repl.sock")


@attrs.frozen(slots=True, kw_only=True)
class MetricsConfig:
    hdr_per_actor: bool = True


@attrs.frozen(slots=True, kw_only=True)
class CriterionConfig:
    """One acceptance check of the trading report's go/no-go table: `metric op threshold`."""

    metric: str = attrs.field(validator=one_of(*CRITERION_METRICS))
    op: str = attrs.field(validator=one_of(">", ">=", "<", "<=", "=="))
    threshold: Decimal


def _default_criteria() -> tuple[CriterionConfig, ...]:
    return tuple(CriterionConfig(metric=c.metric, op=c.op, threshold=c.threshold)
                 for c in DEFAULT_CRITERIA)


@attrs.frozen(slots=True, kw_only=True)
class ReportConfig:
    """The trading report (docs/analytics.md). `decomposition_horizon_s`: the markout horizon
    that splits adverse selection from inventory mark-to-market; `go_no_go`: the acceptance
    criteria, `[[report.go_no_go]]` tables (absent: expectancy > 0, fill_ratio >= 0.35,
    reject_ratio <= 0.03)."""

    decomposition_horizon_s: int = attrs.field(
        default=30, validator=one_of(*HORIZONS_S))
    go_no_go: tuple[CriterionConfig, ...] = attrs.field(factory=_default_criteria)


@attrs.frozen(slots=True, kw_only=True)
class ObservationConfig:
    """Daily per-market statistics (oracle crossings, bbo null rate and intervals, oracle age,
    edge after fees) written to `dir` as one Parquet file a day by an observe or paper node
    (supervision/node/observation.py); a backtest writes none."""

    enabled: bool = True
    dir: str = ""  # "": beside the journal, in <journal dir>/observation
    interval_s: float = attrs.field(default=5.0, validator=gt(0))  # how often it is rewritten
