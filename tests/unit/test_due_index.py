"""What is due for decay comes from a keys-only index (`due_keys`): the states are read back by
key, as they are now. The template's DueIndex parameter moves a stack from `due` (ALL) to it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
import pytest
from leadscore.adapters import dynamo_store
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.domain.notifications import Notification
from leadscore.domain.state import LeadState
from leadscore.services.store import LeadWrite, StateRecord, shard_of
from leadscore.settings import Settings, settings
from leadscore_tools.intrinsics import Naming
from leadscore_tools.template import read_stack, table_definition

from tests.conftest import moto_table

T0 = 1_700_000_000
SHARD = 7


def lead(n: int) -> str:
    """A lead key in SHARD, ordered by `n`."""
    key = f"{n:03x}{SHARD:x}" + "cd" * 14
    assert shard_of(key) == SHARD
    return key


def state(key: str, due_at: int | None, score: int = 1000) -> StateRecord:
    return StateRecord(
        key,
        "fit",
        LeadState("fit", model_version=2, score=score, reasons={"title": [score, 1]}),
        updated_at=T0,
        account_domain="acme.example",
        due_at=due_at,
    )


def commit(store: DynamoLeadStore, *records: StateRecord) -> None:
    assert store.commit([LeadWrite(r.key, [r]) for r in records]) == (
        {r.key for r in records},
        set(),
    )


@pytest.fixture
def store(aws: None) -> DynamoLeadStore:
    return DynamoLeadStore()


def index_entries(index: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb")
    return client.scan(TableName=os.environ["TABLE_NAME"], IndexName=index)["Items"]


def test_due_page_reads_whole_current_states_through_the_keys_only_index(
    store: DynamoLeadStore,
) -> None:
    first, second, later = lead(1), lead(2), lead(3)
    due = state(first, T0 - 10, score=4200)
    due.pending = {
        "lead.mql:fit:1": Notification("lead.mql:fit:1", "lead.mql", "New MQL", {"score": 42.0},
                                       "A new MQL", {"kind": "lead.mql"}),
    }  # fmt: skip
    commit(store, due, state(second, T0), state(later, T0 + 60))
    # The index holds keys only: nothing of the state is copied into it.
    assert {frozenset(entry) for entry in index_entries("due_keys")} == {
        frozenset({"pk", "sk", "due_pk", "due_at"})
    }
    found, cursor = store.due_page(SHARD, T0, 10, None)
    assert cursor is None
    assert list(found) == [first, second]  # by due time
    assert found[first] == {"fit": due}  # whole: state, pending, version, row
    assert due.version is not None


def test_a_state_whose_due_moved_after_the_index_was_read_is_left_out(
    store: DynamoLeadStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index is eventually consistent: what it names is read by key, and only what is
    still due by then (in its current version) is handed back; the cursor is the index's."""
    moved, rescored, erased, kept, next_page = (lead(n) for n in range(1, 6))
    leads = [moved, rescored, erased, kept, next_page]
    records = {key: state(key, T0 - 100 + n) for n, key in enumerate(leads)}
    commit(store, *records.values())
    read_by_key = dynamo_store._batch_get

    def meanwhile(keys: list[tuple[str, str]]) -> Iterable[Any]:
        # Between the Query and the reads: one lead's activity pushes its decay later,
        # another's rescore changes its state (still due), a third is erased.
        records[moved].due_at = T0 + 86_400
        records[rescored].state.score = 9000
        commit(store, records[moved], records[rescored])
        client = boto3.client("dynamodb")
        client.delete_item(
            TableName=os.environ["TABLE_NAME"],
            Key={"pk": {"S": f"LEAD#{erased}"}, "sk": {"S": "STATE#fit"}},
        )
        return read_by_key(keys)

    monkeypatch.setattr(dynamo_store, "_batch_get", meanwhile)
    found, cursor = store.due_page(SHARD, T0, 4, None)
    assert found == {rescored: {"fit": records[rescored]}, kept: {"fit": records[kept]}}
    assert found[rescored]["fit"].state.score == 9000  # the current version, not the index's
    assert cursor is not None  # the index's page was full: the next one goes on from it
    monkeypatch.setattr(dynamo_store, "_batch_get", read_by_key)
    assert store.due_page(SHARD, T0, 4, cursor) == ({next_page: {"fit": records[next_page]}}, None)


@pytest.fixture
def stack_from_before(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A table of a stack deployed with DueIndex=all (only `due`, ALL) and the decay
    function's environment of that stack."""
    monkeypatch.setattr("leadscore_tools.template.table_definition", _all_table)
    monkeypatch.setenv("DUE_INDEX", _decay_environment("all")["DUE_INDEX"])
    settings.cache_clear()
    with moto_table():
        yield


def _all_table(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return table_definition(*args, **{**kwargs, "parameters": {"DueIndex": "all"}})


def test_a_stack_from_before_reads_the_due_index_it_has(stack_from_before: None) -> None:
    store = DynamoLeadStore()
    key = lead(5)
    stored = state(key, T0)
    commit(store, stored)
    assert [entry["pk"]["S"] for entry in index_entries("due")] == [f"LEAD#{key}"]
    assert store.due_page(SHARD, T0, 10, None) == ({key: {"fit": stored}}, None)


def _indexes(due_index: str | None) -> dict[str, str]:
    definition = table_definition(parameters={"DueIndex": due_index} if due_index else None)
    return {
        index["IndexName"]: index["Projection"]["ProjectionType"]
        for index in definition["GlobalSecondaryIndexes"]
        if index["IndexName"].startswith("due")
    }


def _decay_environment(due_index: str) -> dict[str, str]:
    stack = read_stack(Naming(endpoint=""), {"DueIndex": due_index})
    return stack.functions["DecayFunction"].environment


@pytest.mark.parametrize(
    ("due_index", "indexes", "queried"),
    [
        ("all", {"due": "ALL"}, "due"),  # a stack from before
        # due_keys may still be backfilling (unreadable): the stack update does not wait for it
        ("both", {"due": "ALL", "due_keys": "KEYS_ONLY"}, "due"),
        ("keys", {"due_keys": "KEYS_ONLY"}, "due_keys"),  # `due` dropped
    ],
)
def test_each_due_index_step_has_its_indexes_and_decay_reads_one_that_is_there(
    due_index: str, indexes: dict[str, str], queried: str
) -> None:
    """DynamoDB adds or drops one index per table update: all -> both -> keys; decay reads
    `due` as long as it exists."""
    assert _indexes(due_index) == indexes
    assert _decay_environment(due_index)["DUE_INDEX"] == queried


def test_only_the_decay_function_is_told_the_due_index_and_new_stacks_take_keys() -> None:
    stack = read_stack(Naming(endpoint=""))
    told = {name for name, f in stack.functions.items() if "DUE_INDEX" in f.environment}
    assert told == {"DecayFunction"}
    assert _indexes(None) == {"due_keys": "KEYS_ONLY"}
    assert Settings().due_index == "due_keys"
