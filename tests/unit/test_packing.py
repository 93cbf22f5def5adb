"""Greedy packing (domain/packing.py), and events packed into scoring messages and messages
into SendMessageBatch calls with it (lead writes into transactions: test_scoring_isolation)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from leadscore.adapters.queue import MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, _batches
from leadscore.domain.events import Event, EventError
from leadscore.domain.messages import MAX_MESSAGE_BYTES, encode
from leadscore.domain.packing import packed

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_chunks_keep_the_order_and_stay_within_the_weight_and_the_count() -> None:
    assert list(packed([3, 3, 3, 1, 5], lambda n: n, 6)) == [[3, 3], [3, 1], [5]]
    assert list(packed([1] * 5, lambda n: n, 100, count=2)) == [[1, 1], [1, 1], [1]]
    assert list(packed([9, 1], lambda n: n, 4)) == [[9], [1]]  # too heavy: alone
    assert list(packed([], lambda n: n, 4)) == []


def test_messages_hold_as_many_events_as_fit_and_no_more() -> None:
    rng = random.Random(7)
    events = [
        Event(f"e{n}", "page_view", NOW, None, {"note": "x" * rng.randrange(10, 60_000)})
        for n in range(40)
    ]
    bodies = list(encode([(f"l{n}@corp.example", e) for n, e in enumerate(events)], NOW))
    sent = [json.loads(body)["events"] for body in bodies]
    assert [event["id"] for message in sent for event in message] == [e.id for e in events]
    sizes = [len(body.encode()) for body in bodies]
    assert max(sizes) <= MAX_MESSAGE_BYTES
    for body, following in pairwise(sent):  # full: the next did not fit
        head = len(json.dumps(following[0], separators=(",", ":")).encode())
        events_bytes = len(json.dumps(body, separators=(",", ":")).encode()) - 2  # no [ ]
        assert events_bytes + 1 + head > MAX_MESSAGE_BYTES - 100


def test_an_event_no_message_holds_is_refused() -> None:
    huge = Event("big", "page_view", NOW, None, {"note": "x" * MAX_MESSAGE_BYTES})
    with pytest.raises(EventError, match="too large for the scoring queue"):
        list(encode([("a@corp.example", huge)], NOW))


def test_queue_batches_stay_within_sqs_limits() -> None:
    bodies = ["x" * size for size in (100_000, 100_000, 100_000, *[10] * 25)]
    batches = list(_batches(bodies))
    assert [b for batch in batches for b in batch] == bodies
    assert all(len(batch) <= MAX_BATCH_ENTRIES for batch in batches)
    assert all(sum(len(b) for b in batch) <= MAX_BATCH_BYTES for batch in batches)
    assert [len(batch) for batch in batches] == [2, 10, 10, 6]
