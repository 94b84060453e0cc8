"""Pure planning: which deliveries one event needs, given routing, contacts and the ledger."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.notify.contacts import Contacts, resolve_target
from monitor.notify.events import MET, SlaNotice
from monitor.notify.ledger import RESOLVED_BY_MET, Ledger
from monitor.notify.routing import ChannelSpec, Recipient, Routing, route


@dataclass(frozen=True)
class Delivery:
    """One event to one target. `addresses` is set for email (resolved contacts)."""

    notice: SlaNotice
    recipient: Recipient
    spec: ChannelSpec
    addresses: tuple[str, ...] = ()

    @property
    def target(self) -> str:
        """The de-duplication and rate-limit key."""
        return self.recipient.key

    @property
    def lane(self) -> str:
        """Where ordering and burst folding apply: the target plus its resolved addresses.

        Two customers' named engineers share a target (`email>contact:...`) but never a lane, so a
        digest never mixes customers.
        """
        return self.target if not self.addresses else f"{self.target}|{','.join(self.addresses)}"


@dataclass(frozen=True)
class DeliveryPlan:
    """What to do for one event: deliver these, skip duplicates, report unresolved contacts."""

    deliveries: tuple[Delivery, ...]
    duplicates: tuple[Recipient, ...] = ()
    unresolved: tuple[Recipient, ...] = ()


def plan_deliveries(notice: SlaNotice, routing: Routing, contacts: Contacts, ledger: Ledger) -> DeliveryPlan:
    """Route the event; drop targets already recorded; resolve contacts; add PagerDuty/Alertmanager resolves for met events."""
    recipients = list(route(routing, notice))
    if notice.type == MET:
        routed = {r.key for r in recipients}
        recipients += [Recipient(name) for name, spec in routing.channels.items()
                       if spec.kind in RESOLVED_BY_MET and name not in routed]
    deliveries: list[Delivery] = []
    duplicates: list[Recipient] = []
    unresolved: list[Recipient] = []
    for recipient in recipients:
        spec = routing.channels[recipient.channel]
        if ledger.seen(notice.event_id, recipient.key):
            duplicates.append(recipient)
            continue
        if spec.kind in RESOLVED_BY_MET and notice.type == MET and not ledger.may_need_resolve(recipient.key, notice):
            continue
        addresses: tuple[str, ...] = ()
        if spec.kind == "email":
            targets = (recipient.to,) if recipient.to else spec.to
            addresses = tuple(dict.fromkeys(a for t in targets for a in resolve_target(contacts, notice.customer_id, t)))
            if not addresses:
                unresolved.append(recipient)
                continue
        deliveries.append(Delivery(notice=notice, recipient=recipient, spec=spec, addresses=addresses))
    return DeliveryPlan(deliveries=tuple(deliveries), duplicates=tuple(duplicates), unresolved=tuple(unresolved))
