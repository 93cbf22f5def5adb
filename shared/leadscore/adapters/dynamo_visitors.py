"""The visitor store port on the leads table (services/visitor_store.py).

Items: a visitor's events `VISITOR#<id>` / `V#<occurred_at, 10 digits>#<event id>` (TTL), its
link `VISITOR#<id>` / `LINK`, and beside the lead `LEAD#<key>` / `VISITOR#<id>`, which is how
erasing the lead finds its visitors (`forget`). Design: docs/design/visitors.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, TransactWriteError
from pynamodb.transactions import TransactWrite

from leadscore.adapters.dynamo import (
    ErasedItem,
    LeadTable,
    LeadVisitorItem,
    VisitItem,
    VisitorLinkItem,
    cancelled_by,
    lead_pk,
)
from leadscore.adapters.dynamo import connection as shared_connection
from leadscore.adapters.dynamo_records import ERASED_SK
from leadscore.domain.events import event_from_dict, event_to_dict
from leadscore.services.visitor_store import Visit, VisitorLink

LINK_SK = "LINK"
ATTEMPTS = 3  # a link raced by another is read again and tried again
BATCH_GET = 100  # keys per BatchGetItem


def visitor_pk(visitor: str) -> str:
    return f"VISITOR#{visitor}"


def visit_sk(visit: Visit) -> str:
    return f"V#{int(visit.event.occurred_at.timestamp()):010d}#{visit.event.id}"


class DynamoVisitors:
    """`VisitorStore` on the leads table."""

    def __init__(self, connection: Connection | None = None) -> None:
        self._connection = connection

    @property
    def connection(self) -> Connection:
        return self._connection or shared_connection()

    def links(self, visitors: Iterable[str]) -> dict[str, VisitorLink]:
        keys = [(visitor_pk(v), LINK_SK) for v in sorted(set(visitors))]
        found: dict[str, VisitorLink] = {}
        for start in range(0, len(keys), BATCH_GET):
            for item in LeadTable.batch_get(keys[start : start + BATCH_GET], consistent_read=True):
                if isinstance(item, VisitorLinkItem):
                    link = _link(item)
                    found[link.visitor] = link
        return found

    def keep(self, visits: Sequence[Visit]) -> None:
        with LeadTable.batch_write() as batch:
            for visit in {visit_sk(v): v for v in visits}.values():
                batch.save(
                    VisitItem(
                        visitor_pk(visit.visitor),
                        visit_sk(visit),
                        event=event_to_dict(visit.event),
                        received_at=visit.received_at,
                        expires_at=datetime.fromtimestamp(visit.expires_at, UTC),
                    )
                )

    def link(self, link: VisitorLink, most: int) -> VisitorLink | None:
        for _ in range(ATTEMPTS):
            current = self.links([link.visitor]).get(link.visitor)
            if current is not None and current.key == link.key:
                return current
            if current is not None and not link.trusted:
                return None
            if not link.trusted and self._visitors_of(link.key, most) >= most:
                return None
            try:
                self._write_link(link, current)
            except TransactWriteError as error:
                if not cancelled_by(error, {"ConditionalCheckFailed", "TransactionConflict"}):
                    raise
                if self._erased_since(link):
                    return None
                continue
            return link
        return None

    def _visitors_of(self, key: str, most: int) -> int:
        """How many visitors the lead has, counted up to `most`."""
        found = LeadTable.count(
            lead_pk(key), LeadTable.sk.startswith("VISITOR#"), consistent_read=True, limit=most
        )
        return int(found)

    def _write_link(self, link: VisitorLink, current: VisitorLink | None) -> None:
        """The link and the lead's marker in one transaction, on the link as read, and only
        if the lead was not erased since the claim arrived; a move drops the other's marker."""
        item = VisitorLinkItem(
            visitor_pk(link.visitor),
            LINK_SK,
            lead=link.key,
            email=link.email,
            linked_at=link.linked_at,
            trusted=link.trusted,
        )
        as_read = (
            VisitorLinkItem.pk.does_not_exist()
            if current is None
            else VisitorLinkItem.lead == current.key
        )
        not_erased = ErasedItem.pk.does_not_exist() | (ErasedItem.erased_at < link.linked_at)
        with TransactWrite(connection=self.connection) as transaction:
            transaction.save(item, condition=as_read)
            transaction.save(
                LeadVisitorItem(
                    lead_pk(link.key), visitor_pk(link.visitor), linked_at=link.linked_at
                )
            )
            transaction.condition_check(ErasedItem, lead_pk(link.key), ERASED_SK, not_erased)
            if current is not None:
                transaction.delete(LeadVisitorItem(lead_pk(current.key), visitor_pk(link.visitor)))

    def _erased_since(self, link: VisitorLink) -> bool:
        for item in LeadTable.batch_get([(lead_pk(link.key), ERASED_SK)], consistent_read=True):
            if isinstance(item, ErasedItem) and int(item.erased_at) >= link.linked_at:
                return True
        return False

    def visits(self, visitor: str, since: int, limit: int) -> list[Visit]:
        if limit <= 0:
            return []
        newest = LeadTable.query(
            visitor_pk(visitor),
            LeadTable.sk.between(f"V#{max(since, 0):010d}", "V$"),
            consistent_read=True,
            scan_index_forward=False,
            limit=limit,
        )
        found = [_visit(visitor, item) for item in newest if isinstance(item, VisitItem)]
        return found[::-1]


def forget(visitor: str, key: str) -> None:
    """Delete the visitor's link and events, if the visitor is still the lead's, then the
    lead's marker of it (erasure: a retry goes on with the visitors left)."""
    try:
        VisitorLinkItem(visitor_pk(visitor), LINK_SK).delete(
            condition=VisitorLinkItem.pk.does_not_exist() | (VisitorLinkItem.lead == key)
        )
    except DeleteError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
    else:
        visits = LeadTable.query(
            visitor_pk(visitor), LeadTable.sk.startswith("V#"), consistent_read=True
        )
        with LeadTable.batch_write() as batch:
            for item in visits:
                batch.delete(item)
    # Moved to another lead (its events are that lead's now), or forgotten: the marker goes.
    LeadVisitorItem(lead_pk(key), visitor_pk(visitor)).delete()


def _link(item: VisitorLinkItem) -> VisitorLink:
    return VisitorLink(
        item.pk.removeprefix("VISITOR#"),
        item.lead,
        item.email,
        int(item.linked_at),
        bool(item.trusted),
    )


def _visit(visitor: str, item: VisitItem) -> Visit:
    received = int(item.received_at)
    expires = int(item.expires_at.timestamp()) if item.expires_at else 0
    event = event_from_dict(item.event, datetime.fromtimestamp(received, UTC))
    return Visit(visitor, event, received, expires)
