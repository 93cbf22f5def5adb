"""A preview's job item stays under DynamoDB's 400 KB in the worst case: the largest draft a
preview takes, the longest model id, every shard's sample and MQL lists full, every tally a
dry run can count, and counters of ten million leads, all written as the worker writes them."""

from __future__ import annotations

import json
from typing import Any

from leadscore.adapters.dynamo_rescore_jobs import DynamoRescoreJobs
from leadscore.api.bodies import MAX_PREVIEW_DRAFT
from leadscore.domain.model import RATINGS
from leadscore.services.rescore import SAMPLE_SIZE
from leadscore.services.rescore_jobs import (
    BINS,
    COUNTERS,
    MQL_LEADS_KEPT,
    NO_RATING,
    DryRunTally,
    JobCounts,
    JobOptions,
    RescoreJob,
    RescoreLock,
    RescoreStep,
)
from leadscore.services.store import SHARDS

from tests.conftest import table_items

ITEM_LIMIT = 400 * 1024  # DynamoDB's, names and values together
T0 = 1_700_000_000
LEADS = 10_000_000
SCORE = 33.333333333333336  # the longest a score's float is written
FAILED_STEP = "CHUNK#15-000099-009"


def dynamo_bytes(value: dict[str, Any]) -> int:
    """The size DynamoDB counts of an attribute value (its documented rules, rounded up: a
    number as its digits plus one, a map or list 3 bytes and 1 an element)."""
    (kind, inner), *_ = value.items()
    if kind in ("S", "B"):
        return len(inner.encode()) if kind == "S" else len(inner)
    if kind == "N":
        return len(inner) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS"):
        return sum(len(v.encode()) + (kind == "NS") for v in inner)
    if kind == "L":
        return 3 + sum(1 + dynamo_bytes(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + dynamo_bytes(v) for k, v in inner.items())
    raise ValueError(kind)


def item_bytes(item: dict[str, dict[str, Any]]) -> int:
    return sum(len(name.encode()) + dynamo_bytes(value) for name, value in item.items())


def largest_draft() -> dict[str, Any]:
    """A document whose JSON is the most a preview keeps (the route measures json.dumps)."""
    draft = {"id": "m" * 64, "pad": ""}
    draft["pad"] = "x" * (MAX_PREVIEW_DRAFT - len(json.dumps(draft)))
    assert len(json.dumps(draft)) == MAX_PREVIEW_DRAFT
    return draft


def full_sample(shard: str) -> list[dict[str, Any]]:
    state = {"score": SCORE, "rating": "A1", "status": "open"}
    return [
        {"lead": f"{shard}{n:030x}", "before": state, "after": state} for n in range(SAMPLE_SIZE)
    ]


TALLIES = [f"{side}.{n}" for side in ("before", "after") for n in range(BINS)] + [
    f"{a}>{b}" for a in (*RATINGS, NO_RATING) for b in RATINGS
]


def full_tally(shard: int) -> DryRunTally:
    """A chunk's tally: its shard's lists full, and its share of every tally a dry run can
    count (a chunk adds a few dozen: all of them, over the shards)."""
    tally = DryRunTally(f"{shard:02d}")
    tally.counts = dict.fromkeys(TALLIES[shard::SHARDS], LEADS)
    tally.became_mql = [f"b{shard:02d}{n:029x}" for n in range(MQL_LEADS_KEPT)]
    tally.left_mql = [f"l{shard:02d}{n:029x}" for n in range(MQL_LEADS_KEPT)]
    return tally


def test_the_largest_preview_job_fits_in_one_item(aws: None) -> None:
    jobs = DynamoRescoreJobs()
    job = RescoreJob(
        model_id="m" * 64,
        model_version=999_999,
        job_id="20260101T000000Z-0123abcd",
        options=JobOptions(dry_run=True, draft=largest_draft()),
        at=T0,
        created_at=T0,
        starts_at=T0 + 900,
        shards=SHARDS,
        tallies={},
    )
    assert jobs.start(job, RescoreLock(job.model_id, job.job_id, T0 + 3600), None)
    counts = JobCounts(**dict.fromkeys(COUNTERS, LEADS))
    for n in range(SHARDS):  # the last chunk of each shard leaves its sample and lists
        shard, step_id = f"{n:02d}", f"CHUNK#{n:02d}-000000-000"
        jobs.record_step(job, RescoreStep(step_id, before={}))
        sample, tally = {shard: full_sample(shard)}, full_tally(n)
        assert jobs.count_step(job, step_id, counts, sample, T0, tally)

    [item] = [v for (_pk, sk), v in table_items("MODEL#").items() if sk.startswith("RESCORE#")]
    assert len(item["tallies"]["M"]) == len(TALLIES) == 292
    stored = item_bytes(item)
    draft = len(json.dumps(largest_draft()))
    assert stored < ITEM_LIMIT
    assert stored - draft < 60_000  # all but the draft: samples, tallies, MQL lists, counters
    # The room left holds the ids of failed chunks (listed until they succeed, 100 leads
    # each): every chunk of a million leads failing at once (194 KB stored, room for 10,770).
    assert (ITEM_LIMIT - stored) // (len(FAILED_STEP) + 1) > 1_000_000 // 100
