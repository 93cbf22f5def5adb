"""The lead store on the DynamoDB table (pynamodb). Design: docs/design/store.md.

Records become items in `adapters.dynamo_records`, and nowhere else."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from leadscore.adapters import dynamo_lists, dynamo_visitors
from leadscore.adapters.dynamo import (
    AccountItem,
    ChangeItem,
    ErasedItem,
    EventItem,
    FeedbackItem,
    ForgottenItem,
    LeadTable,
    LeadVisitorItem,
    LogPointerItem,
    NotificationItem,
    ProfileItem,
    StateItem,
    account_pk,
    cancelled_by,
    event_sk,
    lead_pk,
    notification_log_pk,
    state_sk,
)
from leadscore.adapters.dynamo import connection as shared_connection
from leadscore.adapters.dynamo_records import (
    ERASED_SK,
    PROFILE_SK,
    account_record,
    change_record,
    due_pk,
    event_record,
    every_lead_pk,
    feedback_item,
    feedback_record,
    forgotten_sk,
    item_of,
    key_of,
    logged_notification,
    notification_item,
    pointed_item,
    pointer_item,
    profile_record,
    state_record,
)
from leadscore.domain.events import EventError
from leadscore.services.notification_log import LoggedNotification, notifications_of
from leadscore.services.retry import until_settled
from leadscore.services.store import (
    AccountRecord,
    AccountRow,
    AccountSnapshots,
    Cursor,
    ErasureCheck,
    FeedbackRecord,
    LeadLog,
    LeadRow,
    LeadSnapshot,
    LeadWrite,
    ListFilters,
    ListPage,
    ProfileRecord,
    StateRecord,
    WriteConflict,
    WriteRefused,
)
from leadscore.services.transactions import fitting, transactions
from leadscore.settings import settings

logger = Logger(child=True)
RETRYABLE_REASONS = {"ConditionalCheckFailed", "TransactionConflict"}
FEEDBACK_ATTEMPTS = 5  # a feedback transaction conflicts only while a scorer's is in flight
# Erasure deletes what it finds, then looks again: a scorer's write that was in flight while
# the marker was written lands at most once more (its next attempt sees the marker).
ERASE_PASSES = 3


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
        wanted = {key: list(event_ids) for key, event_ids in wanted.items()}  # read twice
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
                accounts[str(item.domain)][str(item.model)] = account_record(item)
                continue
            snapshot = snapshots[key_of(item)]
            if isinstance(item, ProfileItem):
                snapshot.profile = profile_record(item)
            elif isinstance(item, ErasedItem):
                snapshot.erased_at = int(item.erased_at)
            elif isinstance(item, StateItem):
                snapshot.states[str(item.model)] = state_record(item)
            elif isinstance(item, EventItem):
                snapshot.logged.add(item.sk.removeprefix("EV#"))
        _read_forgotten(snapshots, wanted)
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
                accounts[str(item.domain)][str(item.model)] = account_record(item)
            elif isinstance(item, ProfileItem):
                profiles[key_of(item)] = profile_record(item)
        return profiles, accounts

    def commit(
        self, writes: Sequence[LeadWrite], refused: dict[str, str] | None = None
    ) -> tuple[set[str], set[str]]:
        written: set[str] = set()
        retry: set[str] = set()
        for chunk in list(transactions(fitting(writes, refused))):
            keys = {key for write in chunk for key in write.keys}
            try:
                (written if self._transact(chunk) else retry).update(keys)
            except WriteRefused as error:
                if refused is None:
                    raise
                if len(chunk) == 1:
                    refused.update(dict.fromkeys(keys, str(error)))
                    continue
                for write in chunk:  # find the write at fault: the others go through
                    alone_written, alone_retry = self.commit([write], refused)
                    written |= alone_written
                    retry |= alone_retry
        return written, retry

    def _transact(self, chunk: list[LeadWrite]) -> bool:
        """One transaction; False when a condition failed or it met another transaction,
        WriteRefused when DynamoDB refused it as invalid (an item or key too large)."""
        saved = [
            (record, item_of(record), index in write.new)
            for write in chunk
            for index, record in enumerate(write.records)
            if not isinstance(record, ErasureCheck)
        ]
        checks = [r for write in chunk for r in write.records if isinstance(r, ErasureCheck)]
        log = [entry for write in chunk for r in write.records for entry in notifications_of(r)]
        if not saved:  # DynamoDB refuses a transaction without a write
            return True
        try:
            with TransactWrite(connection=self.connection) as transaction:
                for _, item, new in saved:
                    # A versioned item adds its own version condition (pynamodb).
                    condition = LeadTable.pk.does_not_exist() if new else None
                    transaction.save(item, condition=condition)
                for entry in log:
                    transaction.save(notification_item(entry))
                    if entry.lead is not None:  # erasure finds it there
                        transaction.save(pointer_item(entry))
                for check in checks:
                    transaction.condition_check(
                        ErasedItem, lead_pk(check.key), ERASED_SK, _marker_is(check.erased_at)
                    )
        except TransactWriteError as error:
            message = error.cause_response_message or ""
            if error.cause_response_code == "ValidationException" and "size" in message:
                # an item over 400 KB, a key over its limit: never storable (a validation error
                # of another kind is a fault of ours, and raises)
                raise WriteRefused(f"DynamoDB refused it: {message}") from None
            if not cancelled_by(error, RETRYABLE_REASONS):
                raise
            return False
        for record, item, _ in saved:  # pynamodb moved each item's version on success
            if isinstance(record, ProfileRecord | StateRecord | AccountRecord):
                record.version = int(item.version)  # type: ignore[attr-defined]
        return True

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

    def notifications_sent(self, notifications: Iterable[LoggedNotification], at: int) -> None:
        client: Any = self.connection.client
        for entry in notifications:
            try:
                client.update_item(
                    TableName=LeadTable.Meta.table_name,
                    Key={"pk": {"S": notification_log_pk(entry.day)}, "sk": {"S": entry.place}},
                    UpdateExpression="SET sent_at = :at",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeValues={":at": {"N": str(at)}},
                )
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise

    def notification_log(
        self, day: str, limit: int, before: str | None
    ) -> list[LoggedNotification]:
        condition = None if before is None else LeadTable.sk < before
        items = NotificationItem.query(
            notification_log_pk(day),
            range_key_condition=condition,
            scan_index_forward=False,
            limit=limit,
        )
        return [logged_notification(item) for item in items]

    def due_page(
        self, shard: int, at: int, limit: int, cursor: Cursor | None
    ) -> tuple[dict[str, dict[str, StateRecord]], Cursor | None]:
        # The index gives the keys of what is due, by due time; one consistent read then
        # gives each state as it is now, under the version decay's writes are conditioned on.
        keys, next_cursor = self._keys_page(
            settings().due_index,
            "due_pk = :shard AND due_at <= :at",
            {":shard": {"S": due_pk(shard)}, ":at": {"N": str(at)}},
            limit,
            cursor,
        )
        current = {(item.pk, item.sk): item for item in _batch_get(keys)}
        found: dict[str, dict[str, StateRecord]] = {}
        for place in keys:
            item = current.get(place)
            # The index lags the table: a state gone, or no longer due by `at`, is left out.
            if isinstance(item, StateItem) and item.due_at is not None and item.due_at <= at:
                found.setdefault(key_of(item), {})[str(item.model)] = state_record(item)
        return found, next_cursor

    def lead_keys(
        self, shard: int, limit: int, cursor: Cursor | None
    ) -> tuple[list[str], Cursor | None]:
        keys, next_cursor = self._keys_page(
            "by_model",
            "model_pk = :every",
            {":every": {"S": every_lead_pk(shard)}},
            limit,
            cursor,
        )
        return [pk.removeprefix("LEAD#") for pk, _ in keys], next_cursor

    def _keys_page(
        self,
        index: str,
        condition: str,
        values: dict[str, Any],
        limit: int,
        cursor: Cursor | None,
    ) -> tuple[list[tuple[str, str]], Cursor | None]:
        """One page of an index's entries as table keys (pk, sk), in the index's order, and
        the cursor of the next page.

        The indexes read this way project keys only: items without their kind, which
        pynamodb's query filters out, so the Query goes through the connection's client."""
        request: dict[str, Any] = {
            "TableName": LeadTable.Meta.table_name,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ProjectionExpression": "pk, sk",  # `due` (ALL, a stack from before) sends no more
            "Limit": limit,
        }
        if cursor is not None:
            request["ExclusiveStartKey"] = cursor
        client: Any = self.connection.client
        answer = client.query(**request)
        keys = [(item["pk"]["S"], item["sk"]["S"]) for item in answer.get("Items", [])]
        return keys, answer.get("LastEvaluatedKey")

    def list_leads(
        self, model: str, sort: str, filters: ListFilters, limit: int, cursor: Cursor | None
    ) -> ListPage[LeadRow]:
        index = dynamo_lists.lead_index(sort, filters)
        client: Any = self.connection.client
        return dynamo_lists.list_page(
            client, index, model, sort, filters, limit, cursor, dynamo_lists.lead_row
        )

    def list_accounts(
        self, model: str, sort: str, filters: ListFilters, limit: int, cursor: Cursor | None
    ) -> ListPage[AccountRow]:
        index = dynamo_lists.ACCOUNT_INDEXES[sort]
        client: Any = self.connection.client
        return dynamo_lists.list_page(
            client, index, model, sort, filters, limit, cursor, dynamo_lists.account_row
        )

    def lead_log(self, key: str) -> LeadLog:
        log = LeadLog(key)
        for item in LeadTable.query(lead_pk(key), consistent_read=True):
            if isinstance(item, ProfileItem):
                log.profile = profile_record(item)
            elif isinstance(item, ErasedItem):
                log.erased_at = int(item.erased_at)
            elif isinstance(item, StateItem):
                log.states[str(item.model)] = state_record(item)
            elif isinstance(item, EventItem):
                try:
                    log.events.append(event_record(item))
                except EventError:
                    logger.warning("unreadable logged event skipped", lead=key[:12], event=item.sk)
                    log.unreadable[item.sk.removeprefix("EV#")] = dict(item.deltas or {})
            elif isinstance(item, ChangeItem):
                log.changes.append(change_record(item))
            elif isinstance(item, FeedbackItem):
                log.feedback.append(feedback_record(item))  # by sk: by time
        log.events.sort(key=lambda r: (r.event.occurred_at, r.event.id))
        log.changes.sort(key=lambda r: (r.at, r.model, r.tag))
        return log

    def account_records(self, domain: str) -> list[AccountRecord]:
        items = LeadTable.query(account_pk(domain), consistent_read=True)
        return [account_record(item) for item in items if isinstance(item, AccountItem)]

    def erase(self, key: str, at: int, until: int) -> None:
        pk = lead_pk(key)
        expires = datetime.fromtimestamp(until, UTC)
        # The marker first: from now on the scorer drops every event received before it, and
        # a scorer's write that read no marker fails its erasure check (ErasureCheck).
        ErasedItem(pk, ERASED_SK, erased_at=at, expires_at=expires).save()
        for _ in range(ERASE_PASSES):
            found = [
                item
                for item in LeadTable.query(pk, consistent_read=True)
                if not isinstance(item, ErasedItem | ForgottenItem)
            ]
            if not found:
                break
            # The event ids are kept (hashed) before their events are deleted.
            with LeadTable.batch_write() as batch:
                for item in found:
                    if isinstance(item, EventItem):
                        event_id = item.sk.removeprefix("EV#")
                        batch.save(
                            ForgottenItem(pk, forgotten_sk(key, event_id), expires_at=expires)
                        )
            # What its items point to first (found again if this is interrupted): its
            # visitors' links and its entries in the notification log.
            for item in found:
                if isinstance(item, LeadVisitorItem):
                    dynamo_visitors.forget(item.sk.removeprefix("VISITOR#"), key)
            with LeadTable.batch_write() as batch:
                for item in found:
                    if isinstance(item, LogPointerItem):
                        batch.delete(pointed_item(item))
            with LeadTable.batch_write() as batch:
                for item in found:
                    batch.delete(item)

    def record_feedback(self, key: str, feedback: FeedbackRecord) -> bool:
        found: dict[str, bool] = {}

        def attempt(pending: dict[str, FeedbackRecord], _: int) -> dict[str, FeedbackRecord]:
            try:
                found[key] = self._feedback_once(key, feedback)
            except TransactWriteError as error:
                if not cancelled_by(error, {"TransactionConflict"}):
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
                transaction.save(feedback_item(key, feedback))
        except TransactWriteError as error:
            if cancelled_by(error, {"ConditionalCheckFailed"}):
                return False
            raise
        return True


def _read_forgotten(
    snapshots: dict[str, LeadSnapshot], wanted: Mapping[str, Iterable[str]]
) -> None:
    """Note which of the wanted event ids an erased lead had: one more read, for erased
    leads only."""
    keys = {
        (lead_pk(key), forgotten_sk(key, event_id)): (key, event_id)
        for key, snapshot in snapshots.items()
        if snapshot.erased_at is not None
        for event_id in wanted[key]
    }
    for item in _batch_get(list(keys)):
        key, event_id = keys[item.pk, item.sk]
        snapshots[key].forgotten.add(event_id)


def _marker_is(erased_at: int | None) -> Condition:
    """The erasure marker is still as read: absent, or of the same erasure."""
    if erased_at is None:
        return ErasedItem.pk.does_not_exist()
    return ErasedItem.erased_at == erased_at


def _batch_get(keys: list[tuple[str, str]]) -> Iterable[LeadTable]:
    """The items of `keys`: one consistent BatchGetItem per 100 keys (pynamodb pages them)."""
    return LeadTable.batch_get(keys, consistent_read=True) if keys else ()


def _account_keys(domains: Iterable[str], model_ids: Sequence[str]) -> list[tuple[str, str]]:
    return [
        (account_pk(domain), state_sk(model_id)) for domain in domains for model_id in model_ids
    ]


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
