"""The visitor store port: what the scorer keeps of anonymous website visitors, and which
lead each one became. Implemented by adapters/dynamo_visitors.py and adapters/memory_store.py.

Erasing a lead (`LeadStore.erase`) also forgets the visitors linked to it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from leadscore.domain.events import Event


@dataclass(frozen=True, slots=True)
class Visit:
    """An anonymous visitor's event, kept until `expires_at` (or until it is credited and
    its lead erased)."""

    visitor: str
    event: Event
    received_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class VisitorLink:
    """The lead a visitor became: its key and email, when the event that linked them arrived
    (no link is made to a lead erased since), and whether a trusted source said so (only a
    trusted source moves a visitor another lead has)."""

    visitor: str
    key: str
    email: str
    linked_at: int
    trusted: bool


class VisitorStore(Protocol):
    def links(self, visitors: Iterable[str]) -> dict[str, VisitorLink]:
        """The links of these visitors that exist (read consistently)."""
        ...

    def keep(self, visits: Sequence[Visit]) -> None:
        """Store the visits (one kept twice, with its time, is one)."""
        ...

    def link(self, link: VisitorLink, most: int) -> VisitorLink | None:
        """Link the visitor to the lead; the link in force after (this one, or the lead's own
        from an earlier claim), or None when refused: another lead has the visitor and `link`
        is not trusted, the lead was erased at or after `linked_at`, or an untrusted `link`
        would give the lead more than `most` visitors. A move takes it off the other lead."""
        ...

    def visits(self, visitor: str, since: int, limit: int) -> list[Visit]:
        """The visitor's latest `limit` visits that occurred at or after `since`, oldest first."""
        ...
