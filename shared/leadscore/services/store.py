"""The store port: what the use cases read and write, in domain types. Design: docs/design/store.md.

Two implementations keep the same semantics: `adapters.dynamo_store` (DynamoDB, through
pynamodb) and `adapters.memory_store` (in memory, for fast tests and fault injection).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar, get_args

from leadscore.domain.events import Event
from leadscore.domain.notifications import Notification
from leadscore.domain.state import LeadState

if TYPE_CHECKING:  # the log's module reads the records of this one
    from leadscore.services.notification_log import LoggedNotification

MAX_TRANSACTION_RECORDS = 100  # DynamoDB's limit on the items of one transaction
SHARDS = 16  # partitions of the due and every-lead listings: spreads hot index keys
# Partitions of the sales lists (docs/design/table.md "Lists"): a page reads every one of them.
LIST_SHARDS = 4
LIST_READ_CAP = 1_000  # index items one list request reads at most: a short page, and a cursor
# The lists' orders, named once: the API's query, the CLI and the stores take these.
LeadSort = Literal["sla_due_at", "-score", "-mql_since", "-last_activity_at"]
AccountSort = Literal["-score"]
LEAD_SORTS: tuple[str, ...] = get_args(LeadSort)
ACCOUNT_SORTS: tuple[str, ...] = get_args(AccountSort)
MQL_SORTS = ("sla_due_at", "-mql_since")  # the queue: MQLs only
# An MQL without a deadline sorts after every deadline in the queue.
NO_DEADLINE = 253_402_300_799  # 9999-12-31T23:59:59Z

Deltas = dict[str, list[dict[str, Any]]]  # model id -> the explained changes of one record
Cursor = Any  # opaque and JSON-serialisable: where a listing continues
Row = TypeVar("Row")


class WriteConflict(Exception):
    """A write kept meeting concurrent writers of the same item; the caller may repeat it."""


class ListUnavailable(RuntimeError):
    """A list whose index the table does not have yet (a stack being upgraded step by step)."""


class WriteRefused(ValueError):
    """A lead's write that the store can never hold (an item or key over its size limits,
    more items than one transaction takes)."""


@dataclass(slots=True)
class ProfileRecord:
    """Who the lead is: its address, its fields (each with the time of the value kept)."""

    key: str
    email: str
    profile: dict[str, Any] = field(default_factory=dict)
    # field -> epoch of the value kept, so a late older form never overwrites a newer value
    field_times: dict[str, int] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0
    account: str | None = None  # the company domain, None for a personal address
    feedback: str | None = None
    feedback_at: int | None = None
    version: int | None = None  # None: not stored yet
    # field -> the untrusted source that set it (a form, ...): any trusted value replaces it
    # (services/profiles.py)
    untrusted: dict[str, str] = field(default_factory=dict)
    # [the hour (epoch), how many untrusted events arrived in it]: what they may still score
    untrusted_hour: list[int] = field(default_factory=list)
    known: bool = False  # a trusted source (the user's systems) sent an event of the lead
    # field -> the source of the value kept (services/profiles.py `source_name`); a field
    # stored before sources were kept has none
    field_sources: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class StateRecord:
    """A lead's score state for one model, with the notifications not yet published."""

    key: str
    model: str
    state: LeadState
    pending: dict[str, Notification] = field(default_factory=dict)  # by notification id
    updated_at: int = 0
    # the lead's company domain ("" for none), so that decay finds the account without the
    # profile; None on states written before it existed
    account_domain: str | None = None
    due_at: int | None = None  # next decay or follow-up check; None: nothing due
    version: int | None = None
    # What the lists show of the lead, copied from its profile (next_state_record): a list
    # page reads state items only
    email: str | None = None
    name: str | None = None
    company: str | None = None
    owner: str | None = None
    # sales recorded a verdict since the lead became an MQL: it has no deadline left, and
    # leaves the follow-up queue (sort sla_due_at)
    followed_up: bool = False


@dataclass(slots=True)
class EventRecord:
    """An event applied to a lead (also its idempotency record), with its deltas per model."""

    key: str
    event: Event
    received_at: int
    deltas: Deltas = field(default_factory=dict)
    expires_at: int | None = None


@dataclass(slots=True)
class ChangeRecord:
    """Deltas not caused by an event (decay, a profile change, rescoring), at `at`.

    (`at`, `model`, `tag`) identify it: a writer that must not write one twice (decay) picks a
    tag that a replay repeats, one that may write several in a second picks unique tags."""

    key: str
    at: int
    model: str
    tag: str
    deltas: Deltas = field(default_factory=dict)
    expires_at: int | None = None


@dataclass(slots=True)
class AccountRecord:
    """An account's score for one model: its people's inputs and its status."""

    domain: str
    model: str
    people: dict[str, list[Any]] = field(default_factory=dict)  # lead key -> Person.to_list()
    state: dict[str, Any] = field(default_factory=dict)  # status, mqa_since, score, rating
    pending: dict[str, Notification] = field(default_factory=dict)
    updated_at: int = 0
    version: int | None = None


@dataclass(slots=True)
class FeedbackRecord:
    """Sales' verdict on a lead."""

    outcome: str  # accepted, rejected, won, lost
    at: int
    model: str | None = None
    note: str | None = None
    expires_at: int | None = None


@dataclass(slots=True)
class ErasureCheck:
    """Not written, but checked: the write holds only while the lead's erasure marker is
    still the one its writer read (`erased_at`, None: none), so that a lead erased between
    a writer's read and its write is not re-created."""

    key: str
    erased_at: int | None = None


StoredRecord = ProfileRecord | StateRecord | EventRecord | ChangeRecord | AccountRecord
LeadRecord = StoredRecord | ErasureCheck  # what a LeadWrite holds
AccountSnapshots = dict[str, dict[str, AccountRecord]]  # domain -> model id -> account


@dataclass(slots=True)
class LeadSnapshot:
    """What the store holds for one lead, read in one consistent round with its batch."""

    key: str
    profile: ProfileRecord | None = None
    erased_at: int | None = None
    states: dict[str, StateRecord] = field(default_factory=dict)
    logged: set[str] = field(default_factory=set)  # ids of the events already applied
    # ids of the events applied to the lead before it was erased: a replay must not revive it
    forgotten: set[str] = field(default_factory=set)


@dataclass(slots=True)
class LeadLog:
    """Everything stored about one lead, for its page, its history and rescoring."""

    key: str
    profile: ProfileRecord | None = None
    erased_at: int | None = None
    states: dict[str, StateRecord] = field(default_factory=dict)
    events: list[EventRecord] = field(default_factory=list)  # oldest first
    changes: list[ChangeRecord] = field(default_factory=list)  # oldest first
    feedback: list[FeedbackRecord] = field(default_factory=list)
    # event id -> deltas of a logged event that no longer reads as an Event (a format since
    # changed): its points stay in the lead's history, but rescoring cannot replay it
    unreadable: dict[str, Deltas] = field(default_factory=dict)


@dataclass(slots=True)
class LeadWrite:
    """Everything one lead's batch changes; written atomically or not at all.

    Conditions: a record with a `version` is written only over that version (None: only
    where none is stored); the records at the indexes in `new` only where none is stored.
    Leads of one account are merged into one write with its account records: `also` holds
    the other leads' keys, which succeed or retry together.
    """

    key: str
    records: list[LeadRecord]
    new: set[int] = field(default_factory=set)
    also: list[str] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        return [self.key, *self.also]


@dataclass(frozen=True, slots=True)
class ListFilters:
    """What a list keeps: every filter set must match (a rating among `ratings`)."""

    status: str | None = None
    ratings: tuple[str, ...] = ()
    grade: str | None = None
    owner: str | None = None


@dataclass(slots=True)
class LeadRow:
    """A lead in a list: what its state item carries for the lists (centipoints, epochs)."""

    key: str
    email: str | None
    name: str | None
    company: str | None
    account: str | None
    owner: str | None
    score: int
    fit: int
    engagement: int
    grade: str
    rating: str
    status: str
    mql_since: int | None
    sla_due_at: int | None  # None for an MQL sales answered (followed_up)
    last_activity_at: int | None
    followed_up: bool = False


@dataclass(slots=True)
class AccountRow:
    """An account in a list (centipoints, epochs)."""

    domain: str
    score: int
    grade: str
    rating: str
    status: str
    mqa_since: int | None


@dataclass(slots=True)
class ListPage(Generic[Row]):
    """One page of a list, the cursor of the next (None: the last) and the index items read."""

    rows: list[Row]
    cursor: Cursor | None
    read: int = 0


class LeadStore(Protocol):
    """Leads, their accounts and their pending notifications."""

    def read_leads(
        self,
        wanted: Mapping[str, Iterable[str]],
        model_ids: Sequence[str],
        domains: Iterable[str] = (),
        account_models: Sequence[str] = (),
    ) -> tuple[dict[str, LeadSnapshot], AccountSnapshots]:
        """Profiles, erasure markers, states of `model_ids` and which of the event ids in
        `wanted` (lead key -> ids) are logged, or were before the lead was erased; and the
        accounts of `domains` for `account_models`. Strongly consistent: a retry sees the
        winner of a conflict."""
        ...

    def read_profiles(self, keys: Iterable[str]) -> dict[str, ProfileRecord]:
        """The stored profiles of these leads (strongly consistent)."""
        ...

    def read_profiles_and_accounts(
        self, keys: Iterable[str], domains: Iterable[str], account_models: Sequence[str]
    ) -> tuple[dict[str, ProfileRecord], AccountSnapshots]:
        """`read_profiles` and the accounts of `domains` for `account_models` (every domain
        asked is in the answer), in one strongly consistent round that reads nothing else
        (no erasure marker, state or event)."""
        ...

    def commit(
        self, writes: Sequence[LeadWrite], refused: dict[str, str] | None = None
    ) -> tuple[set[str], set[str]]:
        """Write each lead atomically, many per transaction (`transactions`). Returns
        (written, to_retry): a write whose condition failed, or that met a concurrent
        transaction, must be read again and recomputed. A write the store can never hold
        (WriteRefused: an item over its size limits, more items than one transaction
        takes) is left out and its keys noted in `refused` with the reason, the others
        written; without `refused` it raises. Any
        other failure raises. On success the versioned records carry their stored version."""
        ...

    def clear_pending(self, key: str, model_id: str, notification_ids: Iterable[str]) -> None:
        """Forget a lead state's published notifications (its version does not change)."""
        ...

    def clear_account_pending(
        self, domain: str, model_id: str, notification_ids: Iterable[str]
    ) -> None:
        """`clear_pending` for an account's notifications."""
        ...

    def notifications_sent(self, notifications: Iterable[LoggedNotification], at: int) -> None:
        """Mark these notifications of the log published at `at` (one no longer in the log,
        expired or never logged, is left out)."""
        ...

    def notification_log(
        self, day: str, limit: int, before: str | None
    ) -> list[LoggedNotification]:
        """At most `limit` notifications of the log recorded on `day` (`log_day`), newest
        first, from those placed before `before` (their `place`; None: from the newest)."""
        ...

    def due_page(
        self, shard: int, at: int, limit: int, cursor: Cursor | None
    ) -> tuple[dict[str, dict[str, StateRecord]], Cursor | None]:
        """One page of the states due by `at` in a shard, by due time: lead key -> model id
        -> state (read consistently by key; it may change before the write, which checks its
        version); and the cursor of the next page (None: this was the last)."""
        ...

    def lead_keys(
        self, shard: int, limit: int, cursor: Cursor | None
    ) -> tuple[list[str], Cursor | None]:
        """One page of the keys of every lead with a profile in a shard."""
        ...

    def list_leads(
        self, model: str, sort: str, filters: ListFilters, limit: int, cursor: Cursor | None
    ) -> ListPage[LeadRow]:
        """One page of the leads with a state of `model`, in `sort`'s order (LEAD_SORTS; an
        MQL_SORTS order lists MQLs only), that match `filters`: at most `limit` rows, fewer
        when LIST_READ_CAP items were read first. Never a table scan."""
        ...

    def list_accounts(
        self, model: str, sort: str, filters: ListFilters, limit: int, cursor: Cursor | None
    ) -> ListPage[AccountRow]:
        """`list_leads` for the accounts scored by `model` (ACCOUNT_SORTS; no owner)."""
        ...

    def lead_log(self, key: str) -> LeadLog:
        """Everything stored about a lead (strongly consistent); a logged event that does not
        read as an Event is left out of `events`, its deltas kept in `unreadable`."""
        ...

    def account_records(self, domain: str) -> list[AccountRecord]:
        """The account's records of every model."""
        ...

    def erase(self, key: str, at: int, until: int) -> None:
        """Record the erasure marker, then delete everything else of the lead but the ids of
        its events, kept hashed (`forgotten_id`) so that a replay is known, and the entries of
        the notification log that name it (found by their pointers under the lead); marker
        and ids expire at `until`. It looks again after deleting, so items a writer in flight added
        meanwhile are deleted too (such a writer fails its next attempt: ErasureCheck)."""
        ...

    def record_feedback(self, key: str, feedback: FeedbackRecord) -> bool:
        """Record sales feedback on the lead's profile (its version moves, so a concurrent
        writer of the profile retries) and in its log; False when there is no such lead.
        Raises WriteConflict when concurrent writers of the profile kept it busy."""
        ...


def forgotten_id(key: str, event_id: str) -> str:
    """What an erased lead's store keeps of an event id: a hash, no personal data in clear."""
    return hashlib.sha256(f"{key}#{event_id}".encode()).hexdigest()[:32]


def shard_of(key: str) -> int:
    """The listing partition of a lead key (a hex hash)."""
    return int(key[:4], 16) % SHARDS


def list_shard_of(key: str) -> int:
    """The list partition of a lead key (a hex hash)."""
    return shard_of(key) % LIST_SHARDS


def account_list_shard(domain: str) -> int:
    """The list partition of an account."""
    return list_shard_of(hashlib.sha256(domain.encode()).hexdigest())


def lead_row(record: StateRecord) -> LeadRow:
    """What a list shows of a lead's state record."""
    state = record.state
    return LeadRow(
        record.key,
        record.email,
        record.name,
        record.company,
        record.account_domain or None,
        record.owner,
        state.score,
        state.fit,
        state.engagement,
        state.grade,
        state.rating,
        state.status,
        state.mql_since,
        None if record.followed_up else state.sla_due_at,
        state.last_activity_at,
        record.followed_up,
    )


def account_row(record: AccountRecord) -> AccountRow:
    """What a list shows of an account's record."""
    rating = str(record.state.get("rating") or "D4")
    mqa_since = record.state.get("mqa_since")
    return AccountRow(
        record.domain,
        int(record.state.get("score") or 0),
        rating[:1],
        rating,
        str(record.state.get("status") or "open"),
        None if mqa_since is None else int(mqa_since),
    )


def sort_rank(row: LeadRow | AccountRow, sort: str) -> int:
    """The row's place in `sort`'s order: smaller first (a missing time: last)."""
    if sort == "-score":
        return -row.score
    if isinstance(row, AccountRow):
        raise ValueError(f"accounts are not listed by {sort}")
    if sort == "sla_due_at":
        return NO_DEADLINE if row.sla_due_at is None else row.sla_due_at
    if sort == "-mql_since":
        return -(row.mql_since or 0)
    return -(row.last_activity_at or 0)


def row_matches(row: LeadRow | AccountRow, sort: str, filters: ListFilters) -> bool:
    """Whether the list in `sort`'s order with `filters` holds the row."""
    owner = row.owner if isinstance(row, LeadRow) else None
    return (
        (sort not in MQL_SORTS or row.status == "mql")
        # the follow-up queue: an MQL sales answered is not in it
        and not (sort == "sla_due_at" and isinstance(row, LeadRow) and row.followed_up)
        and filters.status in (None, row.status)
        and (not filters.ratings or row.rating in filters.ratings)
        and filters.grade in (None, row.grade)
        and filters.owner in (None, owner)
    )
