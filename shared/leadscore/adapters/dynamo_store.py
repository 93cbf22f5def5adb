"""The lead store on the DynamoDB table (pynamodb). Design: docs/design/store.md.

Records become the items of `adapters.dynamo` here and nowhere else: keys, index keys and
the JSON of pending notifications are written in this module only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from pynamodb.attributes import MapAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from leadscore.adapters.dynamo import (
    EVERY_LEAD,
    AccountItem,
    ChangeItem,
    ErasedItem,
    EventItem,
    FeedbackItem,
    LeadTable,
    ProfileItem,
    StateItem,
    account_pk,
    event_sk,
    lead_pk,
    state_sk,
)
from leadscore.adapters.dynamo import connection as shared_connection
from leadscore.domain.events import EventError, event_from_dict, event_to_dict
from leadscore.domain.notifications import Notification
from leadscore.domain.state import LeadState
from leadscore.services.retry import until_settled
from leadscore.services.store import (
    AccountRecord,
    AccountSnapshots,
    ChangeRecord,
    Cursor,
    EventRecord,
    FeedbackRecord,
    LeadLog,
    LeadRecord,
    LeadSnapshot,
    LeadWrite,
    ProfileRecord,
    StateRecord,
    WriteConflict,
    shard_of,
    transactions,
)

logger = Logger(child=True)
PROFILE_SK = "PROFILE"
ERASED_SK = "ERASED"
RETRYABLE_REASONS = {"ConditionalCheckFailed", "TransactionConflict"}
FEEDBACK_ATTEMPTS = 5  # a feedback transaction conflicts only while a scorer's is in flight


class DynamoLeadStore:
    """`LeadStore` on the leads table."""

    def __init__(self, connection: Connection | None = None) -> None:
        # Transactions and raw queries go through `connection` (by default the one the job
        # and model stores share; its client is made at first use); item reads through
        # pynamodb's models.
        self.connection = connection or shared_connection()

    def read_leads(
        self,
        wanted: Mapping[str, Iterable[str]],
        model_ids: Sequence[str],
        domains: Iterable[str] = (),
        account_models: Sequence[str] = (),
    ) -> tuple[dict[str, LeadSnapshot], AccountSnapshots]:
        keys: list[tuple[str, str]] = []
        for key, event_ids in wanted.items():
            pk = lead_pk(key)
            keys += [(pk, PROFILE_SK), (pk, ERASED_SK)]
            keys += [(pk, state_sk(m)) for m in model_ids]
            keys += [(pk, event_sk(i)) for i in event_ids]
        accounts: AccountSnapshots = {domain: {} for domain in domains}
        keys += _account_keys(accounts, account_models)
        snapshots = {key: LeadSnapshot(key) for key in wanted}
        for item in _batch_get(keys):
            if isinstance(item, AccountItem):
                accounts[str(item.domain)][str(item.model)] = _account_record(item)
                continue
            snapshot = snapshots[_key_of(item)]
            if isinstance(item, ProfileItem):
                snapshot.profile = _profile_record(item)
            elif isinstance(item, ErasedItem):
                snapshot.erased_at = int(item.erased_at)
            elif isinstance(item, StateItem):
                snapshot.states[str(item.model)] = _state_record(item)
            elif isinstance(item, EventItem):
                snapshot.logged.add(item.sk.removeprefix("EV#"))
        return snapshots, accounts

    def read_profiles(self, keys: Iterable[str]) -> dict[str, ProfileRecord]:
        return self.read_profiles_and_accounts(keys, (), ())[0]

    def read_profiles_and_accounts(
        self, keys: Iterable[str], domains: Iterable[str], account_models: Sequence[str]
    ) -> tuple[dict[str, ProfileRecord], AccountSnapshots]:
        accounts: AccountSnapshots = {domain: {} for domain in domains}
        wanted = [(lead_pk(key), PROFILE_SK) for key in keys]
        wanted += _account_keys(accounts, account_models)
        profiles: dict[str, ProfileRecord] = {}
        for item in _batch_get(wanted):
            if isinstance(item, AccountItem):
                accounts[str(item.domain)][str(item.model)] = _account_record(item)
            elif isinstance(item, ProfileItem):
                profiles[_key_of(item)] = _profile_record(item)
        return profiles, accounts

    def commit(self, writes: Sequence[LeadWrite]) -> tuple[set[str], set[str]]:
        written: set[str] = set()
        retry: set[str] = set()
        for chunk in list(transactions(writes)):  # a write too large raises before any is made
            keys = {key for write in chunk for key in write.keys}
            saved = [
                (record, _item(record), index in write.new)
                for write in chunk
                for index, record in enumerate(write.records)
            ]
            try:
                if saved:  # DynamoDB refuses an empty transaction
                    with TransactWrite(connection=self.connection) as transaction:
                        for _, item, new in saved:
                            # A versioned item adds its own version condition (pynamodb).
                            condition = LeadTable.pk.does_not_exist() if new else None
                            transaction.save(item, condition=condition)
            except TransactWriteError as error:
                if not _cancelled_by(error, RETRYABLE_REASONS):
                    raise
                retry |= keys
                continue
            for record, item, _ in saved:  # pynamodb moved each item's version on success
                if isinstance(record, ProfileRecord | StateRecord | AccountRecord):
                    record.version = int(item.version)  # type: ignore[attr-defined]
            written |= keys
        return written, retry

    def clear_pending(self, key: str, model_id: str, notification_ids: Iterable[str]) -> None:
        keys = (lead_pk(key), state_sk(model_id))
        what = f"state {model_id} of {key[:8]}"
        _forget(self.connection, keys, notification_ids, what)

    def clear_account_pending(
        self, domain: str, model_id: str, notification_ids: Iterable[str]
    ) -> None:
        keys = (account_pk(domain), state_sk(model_id))
        what = f"account {domain} for {model_id}"
        _forget(self.connection, keys, notification_ids, what)

    def due_page(
        self, shard: int, at: int, limit: int, cursor: Cursor | None
    ) -> tuple[dict[str, dict[str, StateRecord]], Cursor | None]:
        page = LeadTable.due.query(
            _due_pk(shard), LeadTable.due_at <= at, limit=limit, last_evaluated_key=cursor
        )
        found: dict[str, dict[str, StateRecord]] = {}
        for item in page:
            if isinstance(item, StateItem):
                found.setdefault(_key_of(item), {})[str(item.model)] = _state_record(item)
        return found, page.last_evaluated_key

    def lead_keys(
        self, shard: int, limit: int, cursor: Cursor | None
    ) -> tuple[list[str], Cursor | None]:
        # by_model projects keys only: items without their kind, which pynamodb's query
        # filters out, so this one Query goes through the connection's botocore client.
        request: dict[str, Any] = {
            "TableName": LeadTable.Meta.table_name,
            "IndexName": "by_model",
            "KeyConditionExpression": "model_pk = :every",
            "ExpressionAttributeValues": {":every": {"S": _every_lead_pk(shard)}},
            "Limit": limit,
        }
        if cursor is not None:
            request["ExclusiveStartKey"] = cursor
        client: Any = self.connection.client
        answer = client.query(**request)
        keys = [item["pk"]["S"].removeprefix("LEAD#") for item in answer.get("Items", [])]
        return keys, answer.get("LastEvaluatedKey")

    def lead_log(self, key: str) -> LeadLog:
        log = LeadLog(key)
        for item in LeadTable.query(lead_pk(key), consistent_read=True):
            if isinstance(item, ProfileItem):
                log.profile = _profile_record(item)
            elif isinstance(item, ErasedItem):
                log.erased_at = int(item.erased_at)
            elif isinstance(item, StateItem):
                log.states[str(item.model)] = _state_record(item)
            elif isinstance(item, EventItem):
                try:
                    log.events.append(_event_record(item))
                except EventError:
                    logger.warning("unreadable logged event skipped", lead=key[:12], event=item.sk)
                    log.unreadable[item.sk.removeprefix("EV#")] = dict(item.deltas or {})
            elif isinstance(item, ChangeItem):
                log.changes.append(_change_record(item))
            elif isinstance(item, FeedbackItem):
                log.feedback.append(_feedback_record(item))  # by sk: by time
        log.events.sort(key=lambda r: (r.event.occurred_at, r.event.id))
        log.changes.sort(key=lambda r: (r.at, r.model, r.tag))
        return log

    def account_records(self, domain: str) -> list[AccountRecord]:
        items = LeadTable.query(account_pk(domain), consistent_read=True)
        return [_account_record(item) for item in items if isinstance(item, AccountItem)]

    def erase(self, key: str, at: int) -> None:
        pk = lead_pk(key)
        # The marker first, and it outlives the lead: from now on the scorer drops every
        # event received before it, so nothing scored in the meantime can revive the lead.
        ErasedItem(pk, ERASED_SK, erased_at=at).save()
        with LeadTable.batch_write() as batch:
            for item in LeadTable.query(pk, consistent_read=True):
                if not isinstance(item, ErasedItem):
                    batch.delete(item)

    def record_feedback(self, key: str, feedback: FeedbackRecord) -> bool:
        found: dict[str, bool] = {}

        def attempt(pending: dict[str, FeedbackRecord], _: int) -> dict[str, FeedbackRecord]:
            try:
                found[key] = self._feedback_once(key, feedback)
            except TransactWriteError as error:
                if not _cancelled_by(error, {"TransactionConflict"}):
                    raise
                return pending
            return {}

        if until_settled(attempt, {key: feedback}, FEEDBACK_ATTEMPTS):
            raise WriteConflict(f"lead {key[:8]} kept conflicting while recording feedback")
        return found[key]

    def _feedback_once(self, key: str, feedback: FeedbackRecord) -> bool:
        """The profile's feedback (its version ADDed to, without reading it) and the log's
        entry, in one transaction; False when the profile does not exist."""
        # A known local version makes pynamodb ADD 1 to the stored one; with no version
        # condition, the stored one is not compared.
        profile = ProfileItem(lead_pk(key), PROFILE_SK, version=0)
        actions: list[Action] = [
            ProfileItem.feedback.set(feedback.outcome),
            ProfileItem.feedback_at.set(feedback.at),
        ]
        try:
            with TransactWrite(connection=self.connection) as transaction:
                transaction.update(
                    profile,
                    actions,
                    condition=ProfileItem.pk.exists(),
                    add_version_condition=False,
                )
                transaction.save(_feedback_item(key, feedback))
        except TransactWriteError as error:
            if _cancelled_by(error, {"ConditionalCheckFailed"}):
                return False
            raise
        return True


def _batch_get(keys: list[tuple[str, str]]) -> Iterable[LeadTable]:
    """The items of `keys`: one consistent BatchGetItem per 100 keys (pynamodb pages them)."""
    return LeadTable.batch_get(keys, consistent_read=True) if keys else ()


def _account_keys(domains: Iterable[str], model_ids: Sequence[str]) -> list[tuple[str, str]]:
    return [
        (account_pk(domain), state_sk(model_id)) for domain in domains for model_id in model_ids
    ]


def _cancelled_by(error: TransactWriteError, reasons: set[str]) -> bool:
    """The transaction was cancelled, and one of its items for one of `reasons`."""
    if error.cause_response_code != "TransactionCanceledException":
        return False
    return any(r is not None and r.code in reasons for r in error.cancellation_reasons or [])


def _forget(connection: Connection, keys: tuple[str, str], ids: Iterable[str], what: str) -> None:
    """Remove notifications from an item's `pending` map, leaving its version as it is.

    A plain UpdateItem: pynamodb's `Model.update` of an item read without its version sets
    `version = 1`, which would let a stale writer's version condition pass."""
    names = {f"#n{index}": notification_id for index, notification_id in enumerate(ids)}
    if not names:
        return
    try:
        client: Any = connection.client
        client.update_item(
            TableName=LeadTable.Meta.table_name,
            Key={"pk": {"S": keys[0]}, "sk": {"S": keys[1]}},
            UpdateExpression="REMOVE " + ", ".join(f"#pending.{name}" for name in names),
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#pending": "pending", **names},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise LookupError(f"no {what}") from None
        raise


# -- records <-> items: the one place that knows both ----------------------------------


def _key_of(item: LeadTable) -> str:
    return item.pk.removeprefix("LEAD#")


def _due_pk(shard: int) -> str:
    return f"DUE#{shard:02d}"


def _every_lead_pk(shard: int) -> str:
    return f"{EVERY_LEAD}#{shard:02d}"


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


def _item(record: LeadRecord) -> LeadTable:
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
        model_pk=_every_lead_pk(shard_of(record.key)),  # every lead in by_model, for rescoring
        **_version(record.version),
    )


def _profile_record(item: ProfileItem) -> ProfileRecord:
    return ProfileRecord(
        _key_of(item),
        str(item.email),
        dict(item.profile or {}),
        {name: int(at) for name, at in (item.field_times or {}).items()},
        int(item.created_at),
        int(item.updated_at),
        item.account,
        item.feedback,
        None if item.feedback_at is None else int(item.feedback_at),
        None if item.version is None else int(item.version),
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
        model_pk=f"{record.model}#{shard:02d}",
        due_pk=None if record.due_at is None else _due_pk(shard),
        due_at=record.due_at,
        **_version(record.version),
    )


def _state_record(item: StateItem) -> StateRecord:
    return StateRecord(
        _key_of(item),
        str(item.model),
        LeadState.from_dict(item.state),
        _pending(item.pending),
        int(item.updated_at),
        item.account_domain,
        None if item.due_at is None else int(item.due_at),
        None if item.version is None else int(item.version),
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


def _event_record(item: EventItem) -> EventRecord:
    received = int(item.received_at)
    return EventRecord(
        _key_of(item),
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


def _change_record(item: ChangeItem) -> ChangeRecord:
    _, at, model, tag = item.sk.split("#", 3)  # model ids hold no "#"; tags may
    return ChangeRecord(
        _key_of(item), int(at), model, tag, dict(item.deltas or {}), _epoch(item.expires_at)
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
        **_version(record.version),
    )


def _account_record(item: AccountItem) -> AccountRecord:
    return AccountRecord(
        str(item.domain),
        str(item.model),
        dict(item.people or {}),
        dict(item.state or {}),
        _pending(item.pending),
        int(item.updated_at),
        None if item.version is None else int(item.version),
    )


def _feedback_item(key: str, record: FeedbackRecord) -> FeedbackItem:
    return FeedbackItem(
        lead_pk(key),
        f"FEEDBACK#{record.at:011d}#{uuid.uuid4().hex[:12]}",
        outcome=record.outcome,
        at=record.at,
        model=record.model,
        note=record.note,
        expires_at=_expiry(record.expires_at),
    )


def _feedback_record(item: FeedbackItem) -> FeedbackRecord:
    return FeedbackRecord(
        str(item.outcome), int(item.at), item.model, item.note, _epoch(item.expires_at)
    )
