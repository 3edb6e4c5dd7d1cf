"""A replace whose answer is lost: UNKNOWN, never piled on, and bounded.

A replace that times out may or may not have been applied; the adapter looks its order up
(`supervision.venues.lookups`) and that answer settles it. Until then the venue connection
(`actors.execution.venue_connection`, whose base `LostReplaces` is) neither trusts the order's
price nor lets amends pile onto it, and it does not wait forever:

- Another replace of that order is not sent (`_without_piled_replaces`): it is answered here
  with a `Reject` ("replace not sent: the last replace of this order is unresolved"), on which
  its owner cancels the order (the market maker's rule for a refused replace): a cancel takes
  the order whatever the venue made of the replace, and the strategy quotes afresh.
- If nothing has settled it `ConnectionConfig.replace_unknown_s` (5 s) after the timeout
  (the look-up held by a 429 storm or a ban, or not readable), it is given up
  (`_give_up_replace`): a `Reject` to its owner and the journal, whose message is the reason,
  a WARNING log line, and the order stays as it was as far as we know; the owner cancels it as
  above. The look-up's answer, if it comes after that, is journaled and told to nobody.
- A later replace refused with a 429 (it never reached the order) leaves the first one
  UNKNOWN; an ack, or a refusal by the venue itself, settles it (`VenueSession`).

Metric: troupe_replace_unresolved_total{venue,what="refused"|"given_up"}.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs

from actors.behaviour import Behaviour, Context
from actors.execution.connection_records import count_report
from actors.execution.venue_session import VenueSession
from protocols.orders import Reject, RejectCode, ReplaceIntent, VenueReport
from protocols.venue_state import ActionOwner, SendActions

__all__ = ["GiveUpReplace", "LostReplaces"]

log = logging.getLogger("troupe.orders")


@attrs.frozen(slots=True)
class GiveUpReplace:
    """The connection's own timer: the bound of `client_order_id`'s lost replace is over."""

    client_order_id: str


class LostReplaces(Behaviour):
    """The venue connection's handling of lost replaces (see the module docstring)."""

    session: VenueSession
    config: Any
    peers: Any
    venue: str

    def _on_report(self, report: VenueReport, mid_x2: int | None, now: int,
                   ctx: Context) -> None:
        raise NotImplementedError

    def _bound_replace(self, intent: ReplaceIntent, ctx: Context) -> None:
        """`intent` timed out: if it left its order's amends UNKNOWN, the wait starts."""
        if self.session.replace_unresolved(intent.client_order_id):
            ctx.schedule(self.config.replace_unknown_s, GiveUpReplace(intent.client_order_id),
                         key=("replace", intent.client_order_id))

    def _without_piled_replaces(self, send: SendActions, now: int, ctx: Context) -> SendActions:
        """A replace of an order whose last replace is UNKNOWN is not sent: answered here with
        a Reject, on which its owner cancels the order (a cancel takes it, whatever the venue
        made of the replace) rather than piling amends onto one nobody can vouch for."""
        intents, owners = send.batch.intents, send.owners
        piled = [i for i, intent in enumerate(intents) if isinstance(intent, ReplaceIntent)
                 and self.session.replace_unresolved(intent.client_order_id)]
        if not piled:
            return send
        for i in piled:
            ctx.count("troupe_replace_unresolved_total", venue=self.venue, what="refused")
            self._answer_here(Reject(
                intents[i].client_order_id, RejectCode.NOT_SENT, "replace not sent: the last "
                "replace of this order is unresolved (its answer was lost; being looked up)",
                venue_ns=now, recv_ns=now), owners[i], ctx)
        kept = [i for i in range(len(intents)) if i not in piled]
        return attrs.evolve(send, batch=attrs.evolve(
            send.batch, intents=tuple(intents[i] for i in kept)),
            owners=tuple(owners[i] for i in kept))

    def _give_up_replace(self, cid: str, now: int, ctx: Context) -> None:
        wait = self.config.replace_unknown_s
        reject = self.session.give_up_replace(cid, (
            f"replace given up: unresolved {wait:g} s after its answer was lost (the order "
            "stays as it was, as far as we know)"), now)
        if reject is None:
            return  # settled meanwhile
        ctx.count("troupe_replace_unresolved_total", venue=self.venue, what="given_up")
        log.warning("%s: replace of %s given up: its answer was lost and its order not found "
                    "in %g s", self.venue, cid, wait)
        self._on_report(reject, None, now, ctx)

    def _answer_here(self, report: VenueReport, owner: ActionOwner | None,
                     ctx: Context) -> None:
        """A report this connection makes itself, for an intent it did not send."""
        if owner is not None:
            ctx.tell(owner.reply_to, report)
        if self.peers.journal is not None:
            ctx.tell(self.peers.journal, report)
        count_report(ctx, self.venue, report, None)
