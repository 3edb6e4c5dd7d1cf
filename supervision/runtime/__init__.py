"""The actor runtime, for integrators: `from supervision.runtime import ...`.

Hosts run behaviours (`DeterministicHost`: one thread, virtual time, for backtests and tests;
`LiveHost`: a trio loop plus a thread per blocking actor); OTP supervisors restart them
(`Supervisor` over a `SupervisorSpec` of `ChildSpec`s); mailboxes declare their backpressure
(`BoundedReject`, `ConflateByKey`, `StablePriority`, `DropOldest`, `FlowControl`, `Unbounded`);
refs address actors by name across restarts (`RefBook`); a `Fault` armed on a cell
(`inject_fault`) makes any actor fail on demand, and a child's `watchers` are told `ActorDown`
when it dies. The runtime knows nothing of trading: it imports only `actors.behaviour` and
`protocols`.

This is one of four public tiers (see `actors.strategies`); the modules below it (cell, context,
lifecycle, executors, bridge) are the runtime's own, and Troupe's modules import those
implementation modules, never this facade.
"""

from protocols.runtime import (
    ActorDead,
    ActorDown,
    AskTimeout,
    ChildTerminated,
    FailureRecord,
    Refused,
    Reply,
)
from supervision.runtime.bridge import LoopBridge
from supervision.runtime.context import AskRefused, MetricsSink
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.faults import Fault, InjectedFault
from supervision.runtime.introspection import ActorInfo, InMemoryMetrics, SupervisionLog
from supervision.runtime.live import LiveHost
from supervision.runtime.mailbox import (
    BoundedReject,
    ConflateByKey,
    DropOldest,
    FlowControl,
    MailboxStats,
    StablePriority,
    Unbounded,
)
from supervision.runtime.refs import NamedRef, RefBook
from supervision.runtime.specs import (
    Backoff,
    ChildSpec,
    Restart,
    RestartLimit,
    Strategy,
    SupervisorSpec,
)
from supervision.runtime.supervisor import (
    ChildInfo,
    Supervisor,
    WhichChildren,
    supervisor_child,
)

__all__ = [
    "ActorDead",
    "ActorDown",
    "ActorInfo",
    "AskRefused",
    "AskTimeout",
    "Backoff",
    "BoundedReject",
    "ChildInfo",
    "ChildSpec",
    "ChildTerminated",
    "ConflateByKey",
    "DeterministicHost",
    "DropOldest",
    "FailureRecord",
    "Fault",
    "FlowControl",
    "InMemoryMetrics",
    "InjectedFault",
    "LiveHost",
    "LoopBridge",
    "MailboxStats",
    "MetricsSink",
    "NamedRef",
    "RefBook",
    "Refused",
    "Reply",
    "Restart",
    "RestartLimit",
    "StablePriority",
    "Strategy",
    "SupervisionLog",
    "Supervisor",
    "SupervisorSpec",
    "Unbounded",
    "WhichChildren",
    "supervisor_child",
]
