"""The DynamoDB table as pynamodb models: items grouped by lead, plus the model catalog.

Design: docs/design/table.md.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    DiscriminatorAttribute,
    JSONAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.indexes import (
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
)
from pynamodb.models import Model

from leadscore.adapters.compressed import LEAD_STATE, CompressedJSONAttribute

# Its home is the domain; re-exported for the tests and benches that import it from here.
from leadscore.domain.emails import lead_key as lead_key  # noqa: PLC0414
from leadscore.settings import DUE_KEYS_INDEX, settings


class DueIndex(GlobalSecondaryIndex["LeadTable"]):
    """Sparse: the states with something due, by due time. Keys only: decay reads the states
    by key (template.yaml's `DueIndex` parameter; a stack from before has `due`, ALL)."""

    class Meta:
        index_name = DUE_KEYS_INDEX
        projection = KeysOnlyProjection()

    due_pk = UnicodeAttribute(hash_key=True)
    due_at = NumberAttribute(range_key=True)


class ModelIndex(GlobalSecondaryIndex["LeadTable"]):
    class Meta:
        index_name = "by_model"
        projection = KeysOnlyProjection()

    model_pk = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class AccountIndex(GlobalSecondaryIndex["LeadTable"]):
    class Meta:
        index_name = "by_account"
        projection = KeysOnlyProjection()

    account = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


# What a list row shows, projected into the list indexes beside their keys (table.md "Lists").
LIST_ATTRIBUTES = [
    "email",
    "name",
    "company",
    "account_domain",
    "owner",
    "score",
    "fit",
    "engagement",
    "grade",
    "rating",
    "status",
    "mql_since",
    "sla_due_at",
    "last_activity_at",
]


def _row_without(key: str, *more: str) -> IncludeProjection:
    """The row's attributes but the index's own sort key (DynamoDB projects keys anyway)."""
    return IncludeProjection([name for name in [*LIST_ATTRIBUTES, *more] if name != key])


class ScoreIndex(GlobalSecondaryIndex["LeadTable"]):
    """Leads (`LEAD#<model>#<shard>`) and accounts (`ACCOUNT#<model>#<shard>`) by score."""

    class Meta:
        index_name = "by_score"
        projection = _row_without("score", "mqa_since")

    list_pk = UnicodeAttribute(hash_key=True)
    score = NumberAttribute(range_key=True)


class ActivityIndex(GlobalSecondaryIndex["LeadTable"]):
    class Meta:
        index_name = "by_activity"
        projection = _row_without("last_activity_at")

    list_pk = UnicodeAttribute(hash_key=True)
    last_activity_at = NumberAttribute(range_key=True)


class MqlQueueIndex(GlobalSecondaryIndex["LeadTable"]):
    """Sparse: MQLs only, by follow-up deadline."""

    class Meta:
        index_name = "mql_queue"
        projection = _row_without("sla_due_at")

    mql_pk = UnicodeAttribute(hash_key=True)
    sla_due_at = NumberAttribute(range_key=True)


class OwnerQueueIndex(GlobalSecondaryIndex["LeadTable"]):
    """Sparse: an owner's MQLs of a model, by follow-up deadline (one partition each)."""

    class Meta:
        index_name = "owner_queue"
        projection = _row_without("sla_due_at")

    owner_pk = UnicodeAttribute(hash_key=True)
    sla_due_at = NumberAttribute(range_key=True)


class MqlSinceIndex(GlobalSecondaryIndex["LeadTable"]):
    """Sparse: MQLs only, by when they became one."""

    class Meta:
        index_name = "mql_since"
        projection = _row_without("mql_since")

    mql_pk = UnicodeAttribute(hash_key=True)
    mql_since = NumberAttribute(range_key=True)


class LeadTable(Model):
    """Every item of the table; `kind` picks the subclass when items are read back."""

    class Meta:
        table_name = settings().table_name
        region = settings().region
        host = settings().endpoint_url

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    # Index keys live on the base class so every subclass shares one schema.
    due_pk = UnicodeAttribute(null=True)
    due_at = NumberAttribute(null=True)
    model_pk = UnicodeAttribute(null=True)
    account = UnicodeAttribute(null=True)
    list_pk = UnicodeAttribute(null=True)
    score = NumberAttribute(null=True)
    last_activity_at = NumberAttribute(null=True)
    mql_pk = UnicodeAttribute(null=True)
    owner_pk = UnicodeAttribute(null=True)
    sla_due_at = NumberAttribute(null=True)
    mql_since = NumberAttribute(null=True)
    due_keys = DueIndex()
    by_model = ModelIndex()
    by_account = AccountIndex()
    by_score = ScoreIndex()
    by_activity = ActivityIndex()
    mql_queue = MqlQueueIndex()
    owner_queue = OwnerQueueIndex()
    by_mql_since = MqlSinceIndex()


class ProfileItem(LeadTable, discriminator="profile"):
    email = UnicodeAttribute()
    profile = JSONAttribute(default=dict)
    # field -> epoch of the value kept, so a late older form never overwrites a newer value
    field_times = JSONAttribute(default=dict)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    feedback = UnicodeAttribute(null=True)
    feedback_at = NumberAttribute(null=True)
    untrusted = JSONAttribute(null=True)  # field -> the untrusted source that set it
    untrusted_hour = JSONAttribute(null=True)  # [hour, untrusted events in it]
    known = BooleanAttribute(null=True)  # a trusted source sent an event of the lead
    field_sources = JSONAttribute(null=True)  # field -> the source of the value kept
    version = VersionAttribute()


class StateItem(LeadTable, discriminator="state"):
    model = UnicodeAttribute()
    state = CompressedJSONAttribute(tag=LEAD_STATE)  # LeadState.to_dict()
    # notification id -> message JSON: recorded with the score, removed once published
    pending = MapAttribute[str, str](default=dict)
    updated_at = NumberAttribute()
    # the lead's company domain ("" for none), so that decay finds the account without the
    # profile; unset on states written before it existed. Not `account`: by_account's key.
    account_domain = UnicodeAttribute(null=True)
    version = VersionAttribute()
    # What the lists show (the index keys above carry the rest): table.md "Lists"
    email = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)
    company = UnicodeAttribute(null=True)
    owner = UnicodeAttribute(null=True)
    followed_up = BooleanAttribute(null=True)  # an MQL sales answered: not in the queue
    fit = NumberAttribute(null=True)
    engagement = NumberAttribute(null=True)
    grade = UnicodeAttribute(null=True)
    rating = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)


class EventItem(LeadTable, discriminator="event"):
    event = JSONAttribute()
    occurred_at = NumberAttribute()
    received_at = NumberAttribute()
    deltas = JSONAttribute(default=dict)  # model -> delta
    expires_at = TTLAttribute(null=True)


class ChangeItem(LeadTable, discriminator="change"):
    at = NumberAttribute()
    deltas = JSONAttribute(default=dict)  # model -> delta
    expires_at = TTLAttribute(null=True)


class ErasedItem(LeadTable, discriminator="erased"):
    erased_at = NumberAttribute()
    expires_at = TTLAttribute(null=True)


class ForgottenItem(LeadTable, discriminator="forgotten"):
    """An erased lead's event id, as a hash in its key (`GONE#...`): a replay is known."""

    expires_at = TTLAttribute(null=True)


class FeedbackItem(LeadTable, discriminator="feedback"):
    outcome = UnicodeAttribute()
    at = NumberAttribute()
    model = UnicodeAttribute(null=True)
    note = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class AccountItem(LeadTable, discriminator="account"):
    """An account's score for one model: its people's inputs and its status."""

    domain = UnicodeAttribute()
    model = UnicodeAttribute()
    people = CompressedJSONAttribute(default=dict)  # lead key -> accounts.Person.to_list()
    state = JSONAttribute(default=dict)  # status, mqa_since, score, rating
    pending = MapAttribute[str, str](default=dict)  # as in StateItem
    updated_at = NumberAttribute()
    version = VersionAttribute()
    grade = UnicodeAttribute(null=True)  # the list's (by_score): table.md "Lists"
    rating = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    mqa_since = NumberAttribute(null=True)


class NotificationItem(LeadTable, discriminator="notification"):
    """A notification in the log (`ALERTS#<yyyy-mm-dd>`, `<recorded epoch>#<id>`): written
    with the state or account that records it pending, `sent_at` set once published."""

    notification_id = UnicodeAttribute()
    notification_kind = UnicodeAttribute()
    model = UnicodeAttribute()
    subject = UnicodeAttribute()
    created_at = NumberAttribute()  # when it was recorded
    transition_at = NumberAttribute(null=True)  # when the threshold was crossed
    email = UnicodeAttribute(null=True)
    lead = UnicodeAttribute(null=True)  # the key of the lead it names
    sent_at = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class LogPointerItem(LeadTable, discriminator="log_pointer"):
    """Under the lead a log item names (`ALERT#<yyyy-mm-dd>#<its sort key>`): erasure deletes
    the log item it points to, then it, as it deletes the lead's other items."""

    expires_at = TTLAttribute(null=True)


class ModelItem(LeadTable, discriminator="model"):
    """The catalog entry of a model: its current version and document."""

    model_id = UnicodeAttribute()
    current_version = NumberAttribute()
    document = JSONAttribute()
    published_at = NumberAttribute()
    version = VersionAttribute()


class ModelVersionItem(LeadTable, discriminator="model_version"):
    model_id = UnicodeAttribute()
    model_version = NumberAttribute()
    document = JSONAttribute()
    published_at = NumberAttribute()


EVERY_LEAD = "*"  # by_model's pseudo model: every profile is indexed under "*#<shard>"


class RescoreJobItem(LeadTable, discriminator="rescore_job"):
    """A rescoring job: its options, and progress counters that only grow (UpdateItem ADD)."""

    model_id = UnicodeAttribute()
    model_version = NumberAttribute()
    job_id = UnicodeAttribute()
    options = JSONAttribute(default=dict)  # dry_run, notify
    at = NumberAttribute()  # every lead is rescored as of this instant
    created_at = NumberAttribute()
    finished_at = NumberAttribute(null=True)
    shards = NumberAttribute()
    shards_listed = NumberAttribute(default=0)
    chunks_listed = NumberAttribute(default=0)
    leads_listed = NumberAttribute(default=0)
    chunks_done = NumberAttribute(default=0)
    leads_done = NumberAttribute(default=0)
    changed = NumberAttribute(default=0)
    rating_changes = NumberAttribute(default=0)
    new_mqls = NumberAttribute(default=0)
    lost_mqls = NumberAttribute(default=0)
    failures = NumberAttribute(default=0)
    notifications = NumberAttribute(default=0)
    samples = MapAttribute[str, str](default=dict)  # shard -> JSON list of changed leads
    tallies = MapAttribute[str, int](null=True)  # a dry run's score bins and rating moves (ADD)
    mql_leads = MapAttribute[str, str](default=dict)  # dry run: shard -> JSON of MQL moves
    # steps that failed their last receive (in the DLQ); a step that succeeds leaves it
    failed_steps = UnicodeSetAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class RescoreLockItem(LeadTable, discriminator="rescore_lock"):
    """The running rescore job of a model: one at a time (a conditional put takes it)."""

    job_id = UnicodeAttribute()
    held_until = NumberAttribute()  # a job that never finishes frees its model then
    expires_at = TTLAttribute(null=True)


class RescoreStepItem(LeadTable, discriminator="rescore_step"):
    """One listed page or one chunk of a rescoring job, recorded so that it counts once."""

    leads = JSONAttribute(default=dict)  # page: lead keys; chunk: key -> what it was before
    next_cursor = JSONAttribute(null=True)
    done_at = NumberAttribute(null=True)  # set with the job's counters, in one transaction
    expires_at = TTLAttribute(null=True)


class ReplayItem(LeadTable, discriminator="replay"):
    """A webhook delivery id already taken (`REPLAY#<provider>#<sha256>`), until its
    signature expires; TTL deletes it later, so `until` is what conditions read."""

    until = NumberAttribute()
    expires_at = TTLAttribute(null=True)


class VisitItem(LeadTable, discriminator="visit"):
    """An anonymous website visitor's event (`VISITOR#<id>`, `V#<occurred_at>#<event id>`),
    until TTL deletes it (services/visitors.py)."""

    event = JSONAttribute()
    received_at = NumberAttribute()
    expires_at = TTLAttribute(null=True)


class VisitorLinkItem(LeadTable, discriminator="visitor_link"):
    """The lead a visitor became (`VISITOR#<id>`, `LINK`)."""

    lead = UnicodeAttribute()  # the lead's key
    email = UnicodeAttribute()
    linked_at = NumberAttribute()
    trusted = BooleanAttribute()


class LeadVisitorItem(LeadTable, discriminator="lead_visitor"):
    """A visitor linked to the lead (`LEAD#<key>`, `VISITOR#<id>`): erasure finds it here."""

    linked_at = NumberAttribute()


def cancelled_by(error: TransactWriteError, reasons: set[str]) -> bool:
    """The transaction was cancelled, and one of its items for one of `reasons`
    (`ConditionalCheckFailed`, `TransactionConflict`, ...)."""
    if error.cause_response_code != "TransactionCanceledException":
        return False
    return any(r is not None and r.code in reasons for r in error.cancellation_reasons or [])


@functools.cache
def connection() -> Connection:
    """The table's connection, for transactions (pynamodb's public API; made once)."""
    return Connection(region=LeadTable.Meta.region, host=LeadTable.Meta.host)


def lead_pk(key: str) -> str:
    return f"LEAD#{key}"


def event_sk(event_id: str) -> str:
    return f"EV#{event_id}"


def state_sk(model_id: str) -> str:
    return f"STATE#{model_id}"


def account_pk(domain: str) -> str:
    return f"ACCOUNT#{domain}"


def notification_log_pk(day: str) -> str:
    return f"ALERTS#{day}"


def table_schema() -> dict[str, Any]:
    """The key schema and indexes pynamodb expects (compared with template.yaml in tests)."""
    schema: dict[str, Any] = json.loads(json.dumps(LeadTable._get_schema(), default=str))
    return schema
