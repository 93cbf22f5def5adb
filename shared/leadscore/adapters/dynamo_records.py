"""Records of the store port as items of the table, and back: keys, index keys and the JSON
of pending notifications are written here and nowhere else."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import MapAttribute

from leadscore.adapters.dynamo import (
    EVERY_LEAD,
    AccountItem,
    ChangeItem,
    EventItem,
    FeedbackItem,
    LeadTable,
    LogPointerItem,
    NotificationItem,
    ProfileItem,
    StateItem,
    account_pk,
    event_sk,
    lead_pk,
    notification_log_pk,
    state_sk,
)
from leadscore.domain.events import event_from_dict, event_to_dict
from leadscore.domain.notifications import Notification
from leadscore.domain.state import LeadState
from leadscore.services.notification_log import LoggedNotification
from leadscore.services.store import (
    NO_DEADLINE,
    AccountRecord,
    ChangeRecord,
    EventRecord,
    FeedbackRecord,
    ProfileRecord,
    StateRecord,
    StoredRecord,
    account_list_shard,
    account_row,
    forgotten_id,
    lead_row,
    list_shard_of,
    shard_of,
)

PROFILE_SK = "PROFILE"
ERASED_SK = "ERASED"
POINTER_PREFIX = "ALERT#"  # a log pointer's sort key: ALERT#<day>#<the log item's sort key>


def key_of(item: LeadTable) -> str:
    return item.pk.removeprefix("LEAD#")


def forgotten_sk(key: str, event_id: str) -> str:
    return f"GONE#{forgotten_id(key, event_id)}"


def due_pk(shard: int) -> str:
    return f"DUE#{shard:02d}"


def every_lead_pk(shard: int) -> str:
    return f"{EVERY_LEAD}#{shard:02d}"


def lead_list_pk(model: str, shard: int) -> str:
    """The partition of a model's leads in the by_score and by_activity indexes."""
    return f"LEAD#{model}#{shard:02d}"


def owner_queue_pk(model: str, owner: str) -> str:
    """The partition of an owner's MQLs of a model in the owner_queue index."""
    return f"{model}#{owner}"


def mql_pk(model: str, shard: int) -> str:
    """The partition of a model's MQLs in the mql_queue and mql_since indexes."""
    return f"{model}#{shard:02d}"


def account_list_pk(model: str, shard: int) -> str:
    """The partition of a model's accounts in the by_score index."""
    return f"ACCOUNT#{model}#{shard:02d}"


def _change_sk(record: ChangeRecord) -> str:
    return f"CH#{record.at:011d}#{record.model}#{record.tag}"


def _expiry(epoch: int | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _epoch(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def _version(version: int | None) -> dict[str, Any]:
    """The item's `version` argument: none for a record not stored yet (pynamodb wants no None)."""
    return {} if version is None else {"version": version}


def _pending_map(pending: Mapping[str, Notification]) -> dict[str, str]:
    return {i: json.dumps(n.to_dict()) for i, n in pending.items()}


def _pending(stored: MapAttribute[str, str] | None) -> dict[str, Notification]:
    messages: dict[str, str] = {} if stored is None else stored.attribute_values
    return {i: Notification.from_dict(json.loads(m)) for i, m in messages.items()}


def item_of(record: StoredRecord) -> LeadTable:
    if isinstance(record, ProfileRecord):
        return _profile_item(record)
    if isinstance(record, StateRecord):
        return _state_item(record)
    if isinstance(record, EventRecord):
        return _event_item(record)
    if isinstance(record, ChangeRecord):
        return _change_item(record)
    return _account_item(record)


def _profile_item(record: ProfileRecord) -> ProfileItem:
    return ProfileItem(
        lead_pk(record.key),
        PROFILE_SK,
        email=record.email,
        profile=record.profile,
        field_times=record.field_times,
        created_at=record.created_at,
        updated_at=record.updated_at,
        account=record.account,
        feedback=record.feedback,
        feedback_at=record.feedback_at,
        untrusted=record.untrusted or None,
        untrusted_hour=record.untrusted_hour or None,
        known=record.known or None,
        field_sources=record.field_sources or None,
        model_pk=every_lead_pk(shard_of(record.key)),  # every lead in by_model, for rescoring
        **_version(record.version),
    )


def profile_record(item: ProfileItem) -> ProfileRecord:
    return ProfileRecord(
        key_of(item),
        str(item.email),
        dict(item.profile or {}),
        {name: int(at) for name, at in (item.field_times or {}).items()},
        int(item.created_at),
        int(item.updated_at),
        item.account,
        item.feedback,
        None if item.feedback_at is None else int(item.feedback_at),
        None if item.version is None else int(item.version),
        dict(item.untrusted or {}),
        [int(n) for n in item.untrusted_hour or []],
        bool(item.known),
        dict(item.field_sources or {}),
    )


def _state_item(record: StateRecord) -> StateItem:
    shard = shard_of(record.key)
    return StateItem(
        lead_pk(record.key),
        state_sk(record.model),
        model=record.model,
        state=record.state.to_dict(),
        pending=_pending_map(record.pending),
        updated_at=record.updated_at,
        account_domain=record.account_domain,
        due_pk=None if record.due_at is None else due_pk(shard),
        due_at=record.due_at,
        **_list_attributes(record),
        **_version(record.version),
    )


def _list_attributes(record: StateRecord) -> dict[str, Any]:
    """What the lists read of a state: the row, and the keys of the indexes it is in (the
    MQL indexes hold MQLs only; a missing activity time sorts last, as 0)."""
    row = lead_row(record)
    shard = list_shard_of(record.key)
    mql = row.status == "mql"
    return {
        "email": row.email,
        "name": row.name,
        "company": row.company,
        "owner": row.owner,
        "score": row.score,
        "fit": row.fit,
        "engagement": row.engagement,
        "grade": row.grade,
        "rating": row.rating,
        "status": row.status,
        "mql_since": row.mql_since,
        # an MQL sales answered has no deadline: not in the follow-up queue (mql_queue,
        # owner_queue: keyed by it), still in the others
        "sla_due_at": (row.sla_due_at or NO_DEADLINE)
        if mql and not row.followed_up
        else row.sla_due_at,
        "followed_up": row.followed_up or None,
        "last_activity_at": row.last_activity_at or 0,
        "list_pk": lead_list_pk(record.model, shard),
        "mql_pk": mql_pk(record.model, shard) if mql else None,
        "owner_pk": owner_queue_pk(record.model, row.owner) if mql and row.owner else None,
    }


def state_record(item: StateItem) -> StateRecord:
    return StateRecord(
        key_of(item),
        str(item.model),
        LeadState.from_dict(item.state),
        _pending(item.pending),
        int(item.updated_at),
        item.account_domain,
        None if item.due_at is None else int(item.due_at),
        None if item.version is None else int(item.version),
        item.email,
        item.name,
        item.company,
        item.owner,
        bool(item.followed_up),
    )


def _event_item(record: EventRecord) -> EventItem:
    return EventItem(
        lead_pk(record.key),
        event_sk(record.event.id),
        event=event_to_dict(record.event),
        occurred_at=int(record.event.occurred_at.timestamp()),
        received_at=record.received_at,
        deltas=record.deltas,
        expires_at=_expiry(record.expires_at),
    )


def event_record(item: EventItem) -> EventRecord:
    received = int(item.received_at)
    return EventRecord(
        key_of(item),
        event_from_dict(item.event, datetime.fromtimestamp(received, UTC)),
        received,
        dict(item.deltas or {}),
        _epoch(item.expires_at),
    )


def _change_item(record: ChangeRecord) -> ChangeItem:
    return ChangeItem(
        lead_pk(record.key),
        _change_sk(record),
        at=record.at,
        deltas=record.deltas,
        expires_at=_expiry(record.expires_at),
    )


def change_record(item: ChangeItem) -> ChangeRecord:
    _, at, model, tag = item.sk.split("#", 3)  # model ids hold no "#"; tags may
    return ChangeRecord(
        key_of(item), int(at), model, tag, dict(item.deltas or {}), _epoch(item.expires_at)
    )


def _account_item(record: AccountRecord) -> AccountItem:
    return AccountItem(
        account_pk(record.domain),
        state_sk(record.model),
        domain=record.domain,
        model=record.model,
        people=record.people,
        state=record.state,
        pending=_pending_map(record.pending),
        updated_at=record.updated_at,
        **_account_list_attributes(record),
        **_version(record.version),
    )


def _account_list_attributes(record: AccountRecord) -> dict[str, Any]:
    row = account_row(record)
    return {
        "list_pk": account_list_pk(record.model, account_list_shard(record.domain)),
        "score": row.score,
        "grade": row.grade,
        "rating": row.rating,
        "status": row.status,
        "mqa_since": row.mqa_since,
    }


def account_record(item: AccountItem) -> AccountRecord:
    return AccountRecord(
        str(item.domain),
        str(item.model),
        dict(item.people or {}),
        dict(item.state or {}),
        _pending(item.pending),
        int(item.updated_at),
        None if item.version is None else int(item.version),
    )


def feedback_item(key: str, record: FeedbackRecord) -> FeedbackItem:
    return FeedbackItem(
        lead_pk(key),
        f"FEEDBACK#{record.at:011d}#{uuid.uuid4().hex[:12]}",
        outcome=record.outcome,
        at=record.at,
        model=record.model,
        note=record.note,
        expires_at=_expiry(record.expires_at),
    )


def feedback_record(item: FeedbackItem) -> FeedbackRecord:
    return FeedbackRecord(
        str(item.outcome), int(item.at), item.model, item.note, _epoch(item.expires_at)
    )


def notification_item(entry: LoggedNotification) -> NotificationItem:
    """A notification's log item, kept NOTIFICATION_LOG_DAYS after it was recorded."""
    return NotificationItem(
        notification_log_pk(entry.day),
        entry.place,
        notification_id=entry.id,
        notification_kind=entry.kind,
        model=entry.model,
        subject=entry.subject,
        created_at=entry.recorded_at,
        transition_at=entry.transition_at,
        email=entry.email,
        lead=entry.lead,
        sent_at=entry.sent_at,
        expires_at=_expiry(entry.expires_at),
    )


def pointer_item(entry: LoggedNotification) -> LogPointerItem:
    """The pointer to a log item under the lead it names (an entry with a `lead`)."""
    assert entry.lead is not None
    sk = f"{POINTER_PREFIX}{entry.day}#{entry.place}"
    return LogPointerItem(lead_pk(entry.lead), sk, expires_at=_expiry(entry.expires_at))


def pointed_item(pointer: LogPointerItem) -> NotificationItem:
    """The log item a pointer names (its key only: what a delete needs)."""
    day, place = pointer.sk.removeprefix(POINTER_PREFIX).split("#", 1)
    return NotificationItem(notification_log_pk(day), place)


def logged_notification(item: NotificationItem) -> LoggedNotification:
    recorded = int(item.created_at)
    return LoggedNotification(
        str(item.notification_id),
        str(item.notification_kind),
        str(item.model),
        str(item.subject),
        recorded,
        recorded if item.transition_at is None else int(item.transition_at),
        item.email,
        item.lead,
        None if item.sent_at is None else int(item.sent_at),
    )
