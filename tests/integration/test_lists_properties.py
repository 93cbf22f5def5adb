"""The lists' pages against a model of the truth, on both stores (DynamoDB inside moto).

What holds: the concatenated pages of a list are its leads, sorted and filtered (leads of
equal sort value in any order). Under concurrent scoring between pages, no lead is listed
twice when scores and activity only move it toward the front (what new events do), and every
lead that did not move and matches is listed exactly once; a lead that moved back (decay)
may be listed again with its new values, which this suite does not pin down.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain.state import LeadState
from leadscore.services.store import (
    NO_DEADLINE,
    LeadStore,
    LeadWrite,
    ListFilters,
    StateRecord,
)

from tests.conftest import moto_table

T0 = 1_700_000_000
SORTS = ("-score", "sla_due_at", "-mql_since", "-last_activity_at")
OWNERS = (None, "ann@sales.example", "bob@sales.example")

leads_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "score": st.integers(0, 6),  # few values: many ties
            "mql": st.booleans(),
            "grade": st.sampled_from("AB"),
            "level": st.integers(1, 2),
            "owner": st.sampled_from(OWNERS),
            "activity": st.one_of(st.none(), st.integers(0, 5)),
            "due": st.one_of(st.none(), st.integers(0, 5)),
        }
    ),
    max_size=30,
)
filters_strategy = st.builds(
    ListFilters,
    status=st.sampled_from([None, "open", "mql"]),
    ratings=st.sampled_from([(), ("A1",), ("A2", "B1")]),
    grade=st.sampled_from([None, "A", "B"]),
    owner=st.sampled_from([None, *OWNERS[1:]]),
)


def _record(n: int, lead: dict[str, Any]) -> StateRecord:
    key = f"{n * 2_654_435_761 % 16**8:08x}" + "cd" * 28
    state = LeadState("fit", 1, score=lead["score"] * 100, grade=lead["grade"], level=lead["level"])
    state.last_activity_at = None if lead["activity"] is None else T0 + lead["activity"]
    if lead["mql"]:
        state.status, state.mql_since = "mql", T0 + lead["score"]
        state.sla_due_at = None if lead["due"] is None else T0 + lead["due"]
    record = StateRecord(key, "fit", state, account_domain="acme.example")
    record.email, record.owner = f"p{n}@acme.example", lead["owner"]
    return record


def _value(record: StateRecord, sort: str) -> int:
    """The truth's order, written apart from the stores': smaller first."""
    state = record.state
    if sort == "-score":
        return -state.score
    if sort == "sla_due_at":
        return NO_DEADLINE if state.sla_due_at is None else state.sla_due_at
    if sort == "-mql_since":
        return -(state.mql_since or 0)
    return -(state.last_activity_at or 0)


def _kept(record: StateRecord, sort: str, filters: ListFilters) -> bool:
    state = record.state
    return (
        (sort not in ("sla_due_at", "-mql_since") or state.status == "mql")
        and (filters.status is None or state.status == filters.status)
        and (not filters.ratings or f"{state.grade}{state.level}" in filters.ratings)
        and (filters.grade is None or state.grade == filters.grade)
        and (filters.owner is None or record.owner == filters.owner)
    )


@contextmanager
def _store(kind: str) -> Iterator[LeadStore]:
    if kind == "memory":
        yield MemoryLeadStore()
        return
    with moto_table():
        yield DynamoLeadStore()


def _pages(
    store: LeadStore, sort: str, filters: ListFilters, limit: int, between: Any = None
) -> list[tuple[str, int]]:
    listed: list[tuple[str, int]] = []
    cursor: Any = None
    while True:
        page = store.list_leads("fit", sort, filters, limit, cursor)
        assert len(page.rows) <= limit
        listed += [(row.key, _row_value(row, sort)) for row in page.rows]
        cursor = json.loads(json.dumps(page.cursor))
        if cursor is None:
            return listed
        if between is not None:
            between()


def _row_value(row: Any, sort: str) -> int:
    if sort == "-score":
        return -int(row.score)
    if sort == "sla_due_at":
        return NO_DEADLINE if row.sla_due_at is None else int(row.sla_due_at)
    if sort == "-mql_since":
        return -int(row.mql_since or 0)
    return -int(row.last_activity_at or 0)


def _check_pages_equal_the_truth(kind: str, leads: list[dict[str, Any]], sort: str,
                                 filters: ListFilters, limit: int) -> None:  # fmt: skip
    records = [_record(n, lead) for n, lead in enumerate(leads)]
    with _store(kind) as store:
        assert store.commit([LeadWrite(r.key, [r]) for r in records])[1] == set()
        listed = _pages(store, sort, filters, limit)
    truth = sorted((_value(r, sort), r.key) for r in records if _kept(r, sort, filters))
    assert [value for _, value in listed] == [value for value, _ in truth]
    assert sorted(key for key, _ in listed) == sorted(key for _, key in truth)


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(leads_strategy, st.sampled_from(SORTS), filters_strategy, st.integers(1, 7))
def test_memory_pages_are_the_sorted_filtered_truth(
    leads: list[dict[str, Any]], sort: str, filters: ListFilters, limit: int
) -> None:
    _check_pages_equal_the_truth("memory", leads, sort, filters, limit)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leads_strategy, st.sampled_from(SORTS), filters_strategy, st.integers(1, 7))
def test_dynamo_pages_are_the_sorted_filtered_truth(
    leads: list[dict[str, Any]], sort: str, filters: ListFilters, limit: int
) -> None:
    _check_pages_equal_the_truth("dynamo", leads, sort, filters, limit)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    leads_strategy,
    st.sampled_from(["-score", "-last_activity_at"]),
    st.sampled_from(["memory", "dynamo"]),
    st.integers(1, 5),
    st.randoms(use_true_random=False),
)
def test_scoring_between_pages_lists_no_lead_twice(
    leads: list[dict[str, Any]], sort: str, kind: str, limit: int, chance: Any
) -> None:
    records = [_record(n, lead) for n, lead in enumerate(leads)]
    moved: set[str] = set()
    with _store(kind) as store:
        assert store.commit([LeadWrite(r.key, [r]) for r in records])[1] == set()

        def score_some() -> None:
            """New events for a few leads: score and activity go up, as events make them."""
            for record in chance.sample(records, min(3, len(records))):
                record.state.score += 100 * chance.randint(1, 3)
                record.state.last_activity_at = (record.state.last_activity_at or T0) + 10
                assert store.commit([LeadWrite(record.key, [record])])[1] == set()
                moved.add(record.key)

        listed = [key for key, _ in _pages(store, sort, ListFilters(), limit, score_some)]
    assert len(listed) == len(set(listed))  # no lead twice
    assert {r.key for r in records} - moved <= set(listed)  # every lead that stayed, once
