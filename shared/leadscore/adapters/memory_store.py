"""The lead store in memory, with DynamoDB's semantics: for fast tests and injected faults."""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from leadscore.domain.events import EventError, event_from_dict, event_to_dict
from leadscore.services.notification_log import LoggedNotification, notifications_of
from leadscore.services.store import (
    AccountRecord,
    AccountRow,
    AccountSnapshots,
    ChangeRecord,
    Cursor,
    ErasureCheck,
    EventRecord,
    FeedbackRecord,
    LeadLog,
    LeadRecord,
    LeadRow,
    LeadSnapshot,
    LeadWrite,
    ListFilters,
    ListPage,
    ProfileRecord,
    StateRecord,
    WriteRefused,
    account_list_shard,
    account_row,
    forgotten_id,
    lead_row,
    list_shard_of,
    row_matches,
    shard_of,
    sort_rank,
)
from leadscore.services.transactions import fitting, transactions
from leadscore.services.visitor_store import Visit, VisitorLink

# DynamoDB's limits, which this store refuses as that one does (WriteRefused).
KEY_BYTES = 1_024  # a sort key
ITEM_BYTES = 400 * 1_024  # an item, here measured as its record's JSON

RowType = TypeVar("RowType", LeadRow, AccountRow)

# A hook called with each transaction's writes before it is applied: it may raise (a
# fault) or return the keys whose transaction must fail as a conflict.
CommitHook = Callable[[list[LeadWrite]], Iterable[str] | None]


@dataclass
class _StoredLead:
    """Everything stored under one lead key."""

    profile: ProfileRecord | None = None
    erased_at: int | None = None
    states: dict[str, StateRecord] = field(default_factory=dict)
    events: dict[str, EventRecord] = field(default_factory=dict)
    changes: dict[tuple[int, str, str], ChangeRecord] = field(default_factory=dict)
    feedback: list[FeedbackRecord] = field(default_factory=list)
    forgotten: set[str] = field(default_factory=set)  # forgotten_id of erased events
    # the pointers to the notification log's entries that name the lead: (day, place)
    logged: set[tuple[str, str]] = field(default_factory=set)


class MemoryLeadStore:
    """`LeadStore` in memory. Records are copied in and out, as a table would; transactions
    are all or nothing under one lock. `before_commit` injects faults and conflicts."""

    def __init__(self) -> None:
        self.leads: dict[str, _StoredLead] = {}
        self.accounts: dict[tuple[str, str], AccountRecord] = {}
        self.before_commit: CommitHook | None = None
        self.transactions = 0  # committed, for tests that count rounds
        self.visitor_links: dict[str, VisitorLink] = {}
        self.visitor_visits: dict[str, dict[str, Visit]] = {}  # visitor -> time#id -> visit
        # the notification log: day -> place -> entry (expiry is DynamoDB's TTL's, not kept)
        self.notification_entries: dict[str, dict[str, LoggedNotification]] = {}
        self._lock = threading.RLock()

    def read_leads(
        self,
        wanted: Mapping[str, Iterable[str]],
        model_ids: Sequence[str],
        domains: Iterable[str] = (),
        account_models: Sequence[str] = (),
    ) -> tuple[dict[str, LeadSnapshot], AccountSnapshots]:
        with self._lock:
            snapshots: dict[str, LeadSnapshot] = {}
            for key, ids in wanted.items():
                event_ids = list(ids)  # read twice
                lead = self.leads.get(key, _StoredLead())
                snapshots[key] = LeadSnapshot(
                    key,
                    copy.deepcopy(lead.profile),
                    lead.erased_at,
                    {m: copy.deepcopy(lead.states[m]) for m in model_ids if m in lead.states},
                    {i for i in event_ids if i in lead.events},
                    {i for i in event_ids if forgotten_id(key, i) in lead.forgotten},
                )
            return snapshots, self._accounts(domains, account_models)

    def _accounts(self, domains: Iterable[str], model_ids: Sequence[str]) -> AccountSnapshots:
        found: AccountSnapshots = {}
        for domain in domains:
            found[domain] = {
                m: copy.deepcopy(self.accounts[domain, m])
                for m in model_ids
                if (domain, m) in self.accounts
            }
        return found

    def read_profiles(self, keys: Iterable[str]) -> dict[str, ProfileRecord]:
        return self.read_profiles_and_accounts(keys, (), ())[0]

    def read_profiles_and_accounts(
        self, keys: Iterable[str], domains: Iterable[str], account_models: Sequence[str]
    ) -> tuple[dict[str, ProfileRecord], AccountSnapshots]:
        with self._lock:
            profiles = {
                key: copy.deepcopy(lead.profile)
                for key in keys
                if (lead := self.leads.get(key)) is not None and lead.profile is not None
            }
            return profiles, self._accounts(domains, account_models)

    def commit(
        self, writes: Sequence[LeadWrite], refused: dict[str, str] | None = None
    ) -> tuple[set[str], set[str]]:
        written: set[str] = set()
        retry: set[str] = set()
        accepted = []
        for write in fitting(writes, refused):
            reason = _refusal(write)
            if reason is None:
                accepted.append(write)
            elif refused is None:
                raise WriteRefused(reason)
            else:
                refused.update(dict.fromkeys(write.keys, reason))
        for chunk in list(transactions(accepted)):
            keys = {key for write in chunk for key in write.keys}
            with self._lock:
                conflicts = set(self.before_commit(chunk) or ()) if self.before_commit else set()
                if conflicts & keys or not self._conditions_hold(chunk):
                    retry |= keys
                    continue
                for write in chunk:
                    for record in write.records:
                        self._put(record)
                self.transactions += 1
            written |= keys
        return written, retry

    def _conditions_hold(self, chunk: list[LeadWrite]) -> bool:
        seen: set[tuple[str, ...]] = set()
        for write in chunk:
            for index, record in enumerate(write.records):
                identity = _identity(record)
                if identity in seen:  # DynamoDB refuses one item twice in a transaction
                    raise ValueError(f"one transaction writes {identity[0]} twice")
                seen.add(identity)
                if isinstance(record, ErasureCheck):
                    if self.leads.get(record.key, _StoredLead()).erased_at != record.erased_at:
                        return False
                    continue
                stored = self._stored(record)
                if index in write.new and stored is not None:
                    return False
                version = getattr(record, "version", False)
                if version is not False and version != getattr(stored, "version", None):
                    return False
        return True

    def _stored(self, record: LeadRecord) -> LeadRecord | None:
        if isinstance(record, AccountRecord):
            return self.accounts.get((record.domain, record.model))
        if isinstance(record, ErasureCheck):
            return None
        lead = self.leads.get(record.key)
        if lead is None:
            return None
        if isinstance(record, ProfileRecord):
            return lead.profile
        if isinstance(record, StateRecord):
            return lead.states.get(record.model)
        if isinstance(record, EventRecord):
            return lead.events.get(record.event.id)
        return lead.changes.get((record.at, record.model, record.tag))

    def _put(self, record: LeadRecord) -> None:
        if isinstance(record, ErasureCheck):
            return
        for entry in notifications_of(record):
            self.notification_entries.setdefault(entry.day, {})[entry.place] = entry
            if entry.lead is not None:  # its pointer, under the lead it names
                pointers = self.leads.setdefault(entry.lead, _StoredLead()).logged
                pointers.add((entry.day, entry.place))
        if isinstance(record, ProfileRecord | StateRecord | AccountRecord):
            record.version = (record.version or 0) + 1
        stored = copy.deepcopy(record)
        if isinstance(stored, AccountRecord):
            self.accounts[stored.domain, stored.model] = stored
            return
        lead = self.leads.setdefault(stored.key, _StoredLead())
        if isinstance(stored, ProfileRecord):
            lead.profile = stored
        elif isinstance(stored, StateRecord):
            lead.states[stored.model] = stored
        elif isinstance(stored, EventRecord):
            lead.events[stored.event.id] = stored
        else:
            lead.changes[stored.at, stored.model, stored.tag] = stored

    def clear_pending(self, key: str, model_id: str, notification_ids: Iterable[str]) -> None:
        notification_ids = list(notification_ids)
        if not notification_ids:  # as DynamoDB's store: no request, so no check
            return
        with self._lock:
            lead = self.leads.get(key)
            state = None if lead is None else lead.states.get(model_id)
            if state is None:
                raise LookupError(f"no state {model_id} for lead {key[:8]}")
            for notification_id in notification_ids:
                state.pending.pop(notification_id, None)

    def clear_account_pending(
        self, domain: str, model_id: str, notification_ids: Iterable[str]
    ) -> None:
        notification_ids = list(notification_ids)
        if not notification_ids:
            return
        with self._lock:
            account = self.accounts.get((domain, model_id))
            if account is None:
                raise LookupError(f"no account {domain} for {model_id}")
            for notification_id in notification_ids:
                account.pending.pop(notification_id, None)

    def notifications_sent(self, notifications: Iterable[LoggedNotification], at: int) -> None:
        with self._lock:
            for entry in notifications:
                stored = self.notification_entries.get(entry.day, {}).get(entry.place)
                if stored is not None:
                    stored.sent_at = at

    def notification_log(
        self, day: str, limit: int, before: str | None
    ) -> list[LoggedNotification]:
        with self._lock:
            entries = self.notification_entries.get(day, {})
            places = sorted((p for p in entries if before is None or p < before), reverse=True)
            return [copy.deepcopy(entries[place]) for place in places[:limit]]

    def due_page(
        self, shard: int, at: int, limit: int, cursor: Cursor | None
    ) -> tuple[dict[str, dict[str, StateRecord]], Cursor | None]:
        with self._lock:
            due = sorted(
                (state.due_at, key, model_id)
                for key, lead in self.leads.items()
                if shard_of(key) == shard
                for model_id, state in lead.states.items()
                if state.due_at is not None and state.due_at <= at
            )
            if cursor is not None:
                due = [entry for entry in due if list(entry) > list(cursor)]
            page = due[:limit]
            found: dict[str, dict[str, StateRecord]] = {}
            for _, key, model_id in page:
                found.setdefault(key, {})[model_id] = copy.deepcopy(
                    self.leads[key].states[model_id]
                )
            return found, list(page[-1]) if len(page) == limit and len(due) > limit else None

    def lead_keys(
        self, shard: int, limit: int, cursor: Cursor | None
    ) -> tuple[list[str], Cursor | None]:
        with self._lock:
            keys = sorted(
                key
                for key, lead in self.leads.items()
                if lead.profile is not None and shard_of(key) == shard
                and (cursor is None or key > cursor)
            )  # fmt: skip
            page = keys[:limit]
            return page, page[-1] if len(keys) > limit else None

    def list_leads(
        self, model: str, sort: str, filters: ListFilters, limit: int, cursor: Cursor | None
    ) -> ListPage[LeadRow]:
        with self._lock:
            rows = [
                (list_shard_of(key), key, lead_row(lead.states[model]))
                for key, lead in self.leads.items()
                if model in lead.states
            ]
        return _list_page(rows, sort, filters, limit, cursor)

    def list_accounts(
        self, model: str, sort: str, filters: ListFilters, limit: int, cursor: Cursor | None
    ) -> ListPage[AccountRow]:
        with self._lock:
            rows = [
                (account_list_shard(domain), domain, account_row(record))
                for (domain, model_id), record in self.accounts.items()
                if model_id == model
            ]
        return _list_page(rows, sort, filters, limit, cursor)

    def lead_log(self, key: str) -> LeadLog:
        with self._lock:
            lead = copy.deepcopy(self.leads.get(key, _StoredLead()))
            readable = [record for record in lead.events.values() if _readable(record)]
            return LeadLog(
                key,
                lead.profile,
                lead.erased_at,
                lead.states,
                sorted(readable, key=lambda r: (r.event.occurred_at, r.event.id)),
                [lead.changes[k] for k in sorted(lead.changes)],
                lead.feedback,
                {i: r.deltas for i, r in lead.events.items() if not _readable(r)},
            )

    def account_records(self, domain: str) -> list[AccountRecord]:
        with self._lock:
            return [
                copy.deepcopy(record)
                for (stored, _), record in sorted(self.accounts.items())
                if stored == domain
            ]

    def erase(self, key: str, at: int, until: int) -> None:
        with self._lock:  # what expires at `until` is kept here: this store forgets nothing
            lead = self.leads.get(key, _StoredLead())
            forgotten = lead.forgotten | {forgotten_id(key, i) for i in lead.events}
            self.leads[key] = _StoredLead(erased_at=at, forgotten=forgotten)
            for day, place in lead.logged:
                self.notification_entries.get(day, {}).pop(place, None)
            for visitor, link in list(self.visitor_links.items()):  # its visitors with it
                if link.key == key:
                    del self.visitor_links[visitor]
                    self.visitor_visits.pop(visitor, None)

    # The visitor store (services/visitor_store.py), beside the leads it links to.

    def links(self, visitors: Iterable[str]) -> dict[str, VisitorLink]:
        with self._lock:
            return {v: self.visitor_links[v] for v in visitors if v in self.visitor_links}

    def keep(self, visits: Sequence[Visit]) -> None:
        with self._lock:
            for visit in visits:
                at = int(visit.event.occurred_at.timestamp())
                self.visitor_visits.setdefault(visit.visitor, {})[f"{at}#{visit.event.id}"] = visit

    def link(self, link: VisitorLink, most: int) -> VisitorLink | None:
        with self._lock:
            current = self.visitor_links.get(link.visitor)
            if current is not None and current.key == link.key:
                return current
            if current is not None and not link.trusted:
                return None
            erased_at = self.leads.get(link.key, _StoredLead()).erased_at
            if erased_at is not None and erased_at >= link.linked_at:
                return None
            has = sum(other.key == link.key for other in self.visitor_links.values())
            if not link.trusted and has >= most:
                return None
            self.visitor_links[link.visitor] = link
            return link

    def visits(self, visitor: str, since: int, limit: int) -> list[Visit]:
        with self._lock:
            found = [
                visit
                for visit in self.visitor_visits.get(visitor, {}).values()
                if visit.event.occurred_at.timestamp() >= since
            ]
        found.sort(key=lambda v: (v.event.occurred_at, v.event.id))
        return found[-limit:] if limit else []

    def record_feedback(self, key: str, feedback: FeedbackRecord) -> bool:
        with self._lock:
            lead = self.leads.get(key)
            if lead is None or lead.profile is None:
                return False
            lead.profile.feedback, lead.profile.feedback_at = feedback.outcome, feedback.at
            lead.profile.version = (lead.profile.version or 0) + 1
            lead.feedback.append(copy.deepcopy(feedback))
            return True


def _list_page(
    rows: list[tuple[int, str, RowType]],
    sort: str,
    filters: ListFilters,
    limit: int,
    cursor: Cursor | None,
) -> ListPage[RowType]:
    """A page of the rows in `sort`'s order, ties by shard then key, after the cursor's (the
    place of the last row handed out); every row kept is counted as read."""
    ordered = sorted(
        ([sort_rank(row, sort), shard, key], row)
        for shard, key, row in rows
        if row_matches(row, sort, filters)
    )
    after = [entry for entry in ordered if cursor is None or entry[0] > cursor]
    page = after[:limit]
    following = page[-1][0] if len(after) > limit else None
    return ListPage([row for _, row in page], following, len(page))


def _readable(record: EventRecord) -> bool:
    """The event reads back from the document a table keeps of it (DynamoDB's store reads
    it so): one that does not is an unreadable entry of the lead's log."""
    received = datetime.fromtimestamp(record.received_at, UTC)
    try:
        event_from_dict(event_to_dict(record.event), received)
    except EventError:
        return False
    return True


def _refusal(write: LeadWrite) -> str | None:
    """Why DynamoDB would refuse one of the write's items (None: it would not)."""
    for record in write.records:
        if isinstance(record, EventRecord) and len(f"EV#{record.event.id}".encode()) > KEY_BYTES:
            return f"an event id longer than the table's key limit ({KEY_BYTES} bytes)"
        if not isinstance(record, ErasureCheck):
            size = len(json.dumps(dataclasses.asdict(record), default=str).encode())
            if size > ITEM_BYTES:
                return f"a {type(record).__name__} of {size} bytes, over the item limit"
    return None


def _identity(record: LeadRecord) -> tuple[str, ...]:
    if isinstance(record, AccountRecord):
        return ("account", record.domain, record.model)
    if isinstance(record, ProfileRecord):
        return ("profile", record.key)
    if isinstance(record, StateRecord):
        return ("state", record.key, record.model)
    if isinstance(record, EventRecord):
        return ("event", record.key, record.event.id)
    if isinstance(record, ErasureCheck):
        return ("erasure", record.key)
    return ("change", record.key, str(record.at), record.model, record.tag)
