"""`FlowControl` mailboxes: on the deterministic host a full consumer makes its sender wait,
nothing is refused or lost, the queue stays bounded, and a consumer that cannot drain blocks
nobody for good. A live host refuses at capacity instead."""

from __future__ import annotations

from typing import Any

from actors.behaviour import Behaviour, Context, Ref
from supervision.runtime.deterministic import DeterministicHost
from supervision.runtime.mailbox import BoundedReject, FlowControl

BURST = 50  # messages the producer sends in one turn
TURNS = 10


class Producer(Behaviour):
    """Each "go" sends the next BURST numbers to the consumer; a refusal is kept as such."""

    def __init__(self, consumer: Ref) -> None:
        self.consumer = consumer
        self.sent = 0
        self.refused = 0

    def receive(self, message: Any, ctx: Context) -> Any:
        for _ in range(BURST):
            if ctx.tell(self.consumer, self.sent) is not None:
                self.refused += 1
            self.sent += 1
        return None


class Consumer(Behaviour):
    def __init__(self) -> None:
        self.seen: list[int] = []

    def receive(self, message: Any, ctx: Context) -> Any:
        self.seen.append(message)
        return None


def produce(host: DeterministicHost, mailbox: Any) -> tuple[Producer, Consumer]:
    consumer_ref = host.spawn("consumer", Consumer, mailbox=mailbox)
    producer_ref = host.spawn("producer", lambda: Producer(consumer_ref))
    host.settle()
    for _ in range(TURNS):  # ten turns of the producer queued before any runs
        producer_ref.tell("go")
    host.run_until_idle()
    producer, consumer = host.cell("producer").behaviour, host.cell("consumer").behaviour
    assert isinstance(producer, Producer) and isinstance(consumer, Consumer)
    return producer, consumer


def test_a_full_consumer_makes_its_sender_wait_and_nothing_is_lost() -> None:
    host = DeterministicHost()
    producer, consumer = produce(host, FlowControl(20))
    assert consumer.seen == list(range(BURST * TURNS))  # every one, in order
    assert producer.refused == 0
    stats = host.actor("consumer").mailbox
    assert stats.policy == "flow_control" and stats.rejected == 0
    assert stats.waits >= TURNS - 1
    # bounded: half the capacity left when the producer goes on, plus one turn of it
    assert stats.high_water <= 10 + BURST


def test_without_flow_control_the_same_producer_floods_or_loses() -> None:
    host = DeterministicHost()
    producer, consumer = produce(host, BoundedReject(20))
    assert producer.refused > 0 and len(consumer.seen) < BURST * TURNS


def test_a_consumer_that_cannot_drain_blocks_nobody_for_good() -> None:
    host = DeterministicHost()
    consumer_ref = host.spawn("consumer", Consumer, mailbox=FlowControl(20))
    producer_ref = host.spawn("producer", lambda: Producer(consumer_ref))
    host.settle()
    host.stop(consumer_ref)  # stopped, not removed: its mailbox keeps what arrives
    for _ in range(TURNS):
        producer_ref.tell("go")
    host.run_until_idle()  # returns: the producer had every turn
    producer = host.cell("producer").behaviour
    assert isinstance(producer, Producer)
    assert producer.sent == BURST * TURNS and producer.refused == 0
    assert host.actor("consumer").mailbox.depth == BURST * TURNS  # kept, not lost


def test_the_mailbox_alone_refuses_at_capacity_as_a_live_host_sees_it() -> None:
    mailbox = FlowControl(2).build()
    assert mailbox.put("a") is None and mailbox.put("b") is None
    assert mailbox.put("c") == "full"  # a live host cannot hold a sender on another thread
    assert mailbox.stats().depth == 2 and mailbox.stats().rejected == 1
