"""Website visitors in a scoring batch: an anonymous visitor's events are kept under the
visitor; a lead's event that names a visitor (a form post from a page with the snippet, an
identify) links the visitor to the lead and credits the visitor's recent events to it; a
linked visitor's events go to its lead. Design: docs/design/visitors.md.

Crediting hands the visitor's events to the lead's scoring with their own ids and times: the
engine applies them as it applies any late event (limits keep the earliest, recency weighs
by age), and the lead's event log makes each count once, however often it is credited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from leadscore.domain.emails import lead_key
from leadscore.domain.messages import Incoming
from leadscore.domain.visitors import CREDIT_DAYS, KEEP_DAYS, MAX_VISITORS
from leadscore.services.visitor_store import Visit, VisitorLink, VisitorStore

DAY = 86_400

# (message id, event): the batch's items, each with the message it came in.
Item = tuple[str, Incoming]


@dataclass(frozen=True, slots=True)
class VisitPolicy:
    """How long an anonymous visitor's events are kept, how many days of them (at most how
    many) are credited when it becomes a lead, and how many visitors public sources may link
    to one lead (each is one more thing to erase with it)."""

    keep_days: int = KEEP_DAYS
    credit_days: int = CREDIT_DAYS
    credit_limit: int = 500
    max_visitors: int = MAX_VISITORS  # visitors an untrusted source may link to one lead


DEFAULT_VISITS = VisitPolicy()


@dataclass(slots=True)
class VisitStats:
    kept: int = 0  # anonymous events kept under their visitor
    routed: int = 0  # events of a linked visitor handed to its lead
    linked: int = 0  # lead events that linked a visitor (a first link, again, or a move)
    credited: int = 0  # visitor events handed to a lead when it was linked
    refused: int = 0  # links refused: another lead has the visitor (an untrusted claim), the
    # lead was erased since, or it has as many visitors as public sources may link


def resolve(
    items: Sequence[Item], store: VisitorStore, now: int, policy: VisitPolicy, stats: VisitStats
) -> list[Item]:
    """The batch's items as lead events: every lead event, the events of linked visitors
    (now the lead's), and the events each link credits; the others are kept."""
    leads = [(m, item) for m, item in items if item.email]
    anonymous = [(m, item) for m, item in items if not item.email and item.visitor]
    resolved = leads + (_route(anonymous, store, now, policy, stats) if anonymous else [])
    claims = sorted(
        ((m, item) for m, item in leads if item.visitor),
        key=lambda pair: (pair[1].event.occurred_at, pair[1].event.id),
    )
    linked: set[tuple[str | None, str]] = set()
    for message_id, claim in claims:
        if (claim.visitor, claim.email) in linked:  # the same visitor and lead: credited once
            continue
        linked.add((claim.visitor, claim.email))
        resolved += [(message_id, credit) for credit in _claim(claim, store, now, policy, stats)]
    return resolved


def _route(
    anonymous: list[Item], store: VisitorStore, now: int, policy: VisitPolicy, stats: VisitStats
) -> list[Item]:
    """The events of linked visitors, as their leads'; the others are kept.

    Kept first, then the links read again: a link made meanwhile credited them (it read the
    visits after it linked) or is seen here, so no event falls between the two."""
    links = store.links({item.visitor for _, item in anonymous if item.visitor})
    unlinked = [item for _, item in anonymous if item.visitor not in links]
    if unlinked:
        expires = now + policy.keep_days * DAY
        store.keep([Visit(i.visitor or "", i.event, i.received_at, expires) for i in unlinked])
        links |= store.links({item.visitor for item in unlinked if item.visitor})
    routed = [
        (m, replace(item, email=link.email, visitor=None, linked_at=link.linked_at))
        for m, item in anonymous
        if (link := links.get(item.visitor or "")) is not None
    ]
    stats.kept += sum(item.visitor not in links for _, item in anonymous)
    stats.routed += len(routed)
    return routed


def _claim(
    claim: Incoming, store: VisitorStore, now: int, policy: VisitPolicy, stats: VisitStats
) -> list[Incoming]:
    """Link the claim's visitor to its lead; the visitor's recent events, for the lead, when
    this claim made the link (or is a redelivery of the one that did: the same arrival time).
    A visitor the lead already had sent nothing since that was not handed to it."""
    visitor = claim.visitor or ""
    key = lead_key(claim.email)
    link = VisitorLink(visitor, key, claim.email, claim.received_at, claim.event.trusted)
    linked = store.link(link, policy.max_visitors)
    if linked is None:
        stats.refused += 1
        return []
    stats.linked += 1
    if linked.linked_at != link.linked_at:
        return []
    visits = store.visits(visitor, now - policy.credit_days * DAY, policy.credit_limit)
    stats.credited += len(visits)
    return [
        Incoming(claim.email, visit.event, visit.received_at, linked_at=link.linked_at)
        for visit in visits
    ]
