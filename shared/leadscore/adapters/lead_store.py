"""Reads and atomic writes of leads and their accounts in DynamoDB.

Design: docs/design/exactly-once.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from leadscore.adapters.dynamo import (
    AccountItem,
    ErasedItem,
    EventItem,
    LeadTable,
    ProfileItem,
    StateItem,
    account_pk,
    event_sk,
    lead_pk,
    state_sk,
)

MAX_TRANSACTION_ITEMS = 100
RETRYABLE_REASONS = {"ConditionalCheckFailed", "TransactionConflict"}


@dataclass(slots=True)
class LeadSnapshot:
    """What the table holds for one lead, read in the batch's single BatchGetItem."""

    key: str
    profile: ProfileItem | None = None
    erased_at: int | None = None
    states: dict[str, StateItem] = field(default_factory=dict)
    logged: set[str] = field(default_factory=set)  # event ids already applied


@dataclass(slots=True)
class LeadWrite:
    """Everything one lead's batch changes; written atomically or not at all.

    Leads of one account are merged into one write with their account item: `also` holds
    the other leads' keys, which succeed or retry together.
    """

    key: str
    items: list[LeadTable]
    conditional_new: set[int] = field(default_factory=set)  # indexes that must not exist yet
    also: list[str] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        return [self.key, *self.also]


AccountSnapshots = dict[str, dict[str, AccountItem]]  # domain -> model id -> account item


def read_leads(
    wanted: dict[str, Iterable[str]], model_ids: Sequence[str]
) -> dict[str, LeadSnapshot]:
    """Profiles, states, erasure markers and event records of the leads, in one BatchGetItem
    per 100 keys (strongly consistent, so a retry after a conflict sees the winner's write)."""
    return read_leads_and_accounts(wanted, model_ids, (), ())[0]


def read_leads_and_accounts(
    wanted: dict[str, Iterable[str]],
    model_ids: Sequence[str],
    domains: Iterable[str],
    account_models: Sequence[str],
) -> tuple[dict[str, LeadSnapshot], AccountSnapshots]:
    """`read_leads`, and the account items of `domains` for `account_models`, in the same
    BatchGetItem."""
    keys: list[tuple[str, str]] = []
    for key, event_ids in wanted.items():
        pk = lead_pk(key)
        keys += [(pk, "PROFILE"), (pk, "ERASED")]
        keys += [(pk, state_sk(m)) for m in model_ids]
        keys += [(pk, event_sk(i)) for i in event_ids]
    accounts: AccountSnapshots = {domain: {} for domain in domains}
    keys += [(account_pk(d), state_sk(m)) for d in accounts for m in account_models]
    snapshots = {key: LeadSnapshot(key) for key in wanted}
    for item in _read(keys, accounts):
        snapshot = snapshots[item.pk.removeprefix("LEAD#")]
        if isinstance(item, ProfileItem):
            snapshot.profile = item
        elif isinstance(item, ErasedItem):
            snapshot.erased_at = int(item.erased_at)
        elif isinstance(item, StateItem):
            snapshot.states[item.model] = item
        elif isinstance(item, EventItem):
            snapshot.logged.add(item.sk.removeprefix("EV#"))
    return snapshots, accounts


def read_profiles_and_accounts(
    keys: Iterable[str], domains: Iterable[str], account_models: Sequence[str]
) -> tuple[dict[str, ProfileItem], AccountSnapshots]:
    """The profiles of these leads and the account items of `domains`, in one strongly
    consistent BatchGetItem per 100 keys (for a writer that already holds the states)."""
    accounts: AccountSnapshots = {domain: {} for domain in domains}
    wanted = [(lead_pk(key), "PROFILE") for key in keys]
    wanted += [(account_pk(d), state_sk(m)) for d in accounts for m in account_models]
    profiles: dict[str, ProfileItem] = {}
    for item in _read(wanted, accounts):
        if isinstance(item, ProfileItem):
            profiles[item.pk.removeprefix("LEAD#")] = item
    return profiles, accounts


def _read(keys: list[tuple[str, str]], accounts: AccountSnapshots) -> Iterable[LeadTable]:
    """The items of `keys` (consistent BatchGetItem); account items go into `accounts`."""
    if not keys:
        return
    for item in LeadTable.batch_get(keys, consistent_read=True):
        if isinstance(item, AccountItem):
            accounts[str(item.domain)][str(item.model)] = item
        else:
            yield item


def commit(writes: Sequence[LeadWrite]) -> tuple[set[str], set[str]]:
    """Write each lead atomically, many leads per transaction.

    Returns (written, to_retry): leads whose transaction was cancelled by a concurrent change
    (a version or event-record condition failed) must be read again and recomputed. Any other
    failure (throttling after botocore's retries, validation) raises for the caller to fail
    the affected records, which SQS then redelivers.
    """
    written: set[str] = set()
    retry: set[str] = set()
    for chunk in _chunks(writes):
        try:
            with TransactWrite(connection=LeadTable._get_connection().connection) as transaction:
                for write in chunk:
                    for index, item in enumerate(write.items):
                        condition = (
                            LeadTable.pk.does_not_exist()
                            if index in write.conditional_new
                            else None
                        )
                        transaction.save(item, condition=condition)
        except TransactWriteError as error:
            reasons = (
                error.cancellation_reasons
                if error.cause_response_code == "TransactionCanceledException"
                else []
            )
            if not any(r is not None and r.code in RETRYABLE_REASONS for r in reasons):
                raise
            retry.update(key for write in chunk for key in write.keys)
            continue
        written.update(key for write in chunk for key in write.keys)
    return written, retry


def _chunks(writes: Sequence[LeadWrite]) -> Iterable[list[LeadWrite]]:
    chunk: list[LeadWrite] = []
    size = 0
    for write in writes:
        if len(write.items) > MAX_TRANSACTION_ITEMS:
            raise ValueError(
                f"lead {write.key[:8]} needs {len(write.items)} items in one transaction"
            )
        if chunk and size + len(write.items) > MAX_TRANSACTION_ITEMS:
            yield chunk
            chunk, size = [], 0
        chunk.append(write)
        size += len(write.items)
    if chunk:
        yield chunk


def clear_pending(key: str, model_id: str, notification_ids: Iterable[str]) -> None:
    """Forget notifications once published (no version bump: the score did not change)."""
    item = StateItem(lead_pk(key), state_sk(model_id))
    actions = [StateItem.pending[i].remove() for i in notification_ids]  # type: ignore[attr-defined]
    if actions:
        item.update(actions=actions, condition=StateItem.pk.exists(), add_version_condition=False)


def clear_account_pending(domain: str, model_id: str, notification_ids: Iterable[str]) -> None:
    """`clear_pending` for an account's notifications."""
    item = AccountItem(account_pk(domain), state_sk(model_id))
    actions = [AccountItem.pending[i].remove() for i in notification_ids]  # type: ignore[attr-defined]
    if actions:
        item.update(actions=actions, condition=AccountItem.pk.exists(), add_version_condition=False)
