"""A preview: a dry-run rescore with a draft, on the in-memory stores. It scores with the draft
(not the published version), writes nothing, and counts every lead once in its histograms,
rating grid and MQL lists, however often its messages are delivered."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from leadscore.domain import engine
from leadscore.domain.compiled import compile_model
from leadscore.domain.emails import lead_key
from leadscore.domain.model import parse_model
from leadscore.services.rescore import draft_version
from leadscore.services.rescore_jobs import JobOptions, score_bin
from leadscore.services.rescore_replay import plan_lead

from tests.unit.rescore_helpers import (
    LEADS,
    NOW,
    MemoryQueue,
    Rescoring,
    changed_model,
    default_model,
    emails,
)


@pytest.fixture
def scene() -> Rescoring:
    return Rescoring()


def draft() -> dict[str, Any]:
    """The published version (v2) with a lower MQL threshold and a heavier pricing page."""
    model = changed_model(default_model(), mql=30, reset=20)
    document = model.model_dump(mode="json", by_alias=True)
    for rule in document["engagement"]["rules"]:
        if rule["name"] == "pricing_page":
            rule["points"] = 40
    return document


def expected(scene: Rescoring) -> dict[str, Any]:
    """What the preview must count, from each lead replayed with the draft directly."""
    model = compile_model(draft_version(parse_model(draft()), 2))
    before, after = [0] * 10, [0] * 10
    ratings: dict[str, dict[str, int]] = {}
    became, left = set(), set()
    for email in emails():
        log = scene.store.lead_log(lead_key(email))
        plan = plan_lead(model, log, NOW, engine.epoch(NOW), False, 400)
        assert plan is not None and plan.before is not None
        before[score_bin(plan.before.score / 100)] += 1
        after[score_bin(plan.after.score / 100)] += 1
        row = ratings.setdefault(plan.before.rating, {})
        row[plan.after.rating] = row.get(plan.after.rating, 0) + 1
        if plan.after.status == "mql" and plan.before.status != "mql":
            became.add(email)
        if plan.before.status == "mql" and plan.after.status != "mql":
            left.add(email)
    return {"before": before, "after": after, "ratings": ratings, "became": became, "left": left}


def test_a_preview_scores_every_lead_with_the_draft_and_writes_nothing(scene: Rescoring) -> None:
    stored = copy.deepcopy((scene.store.leads, scene.store.accounts))
    want = expected(scene)
    done = scene.run(JobOptions(dry_run=True, draft=draft()))
    assert (scene.store.leads, scene.store.accounts) == stored
    assert done["status"] == "completed" and done["leads_total"] == done["leads_done"] == LEADS
    assert done["scores"] == {"before": want["before"], "after": want["after"]}
    assert sum(done["scores"]["after"]) == sum(done["scores"]["before"]) == LEADS
    assert done["ratings"] == want["ratings"]
    assert sum(n for row in done["ratings"].values() for n in row.values()) == LEADS
    assert want["became"]  # the lower threshold makes MQLs
    assert sorted(done["became_mql"]) == sorted(want["became"])
    assert set(done["left_mql"]) == want["left"]
    assert done["new_mqls"] == len(want["became"]) and done["lost_mqls"] == len(want["left"])
    # The published version, dry-run, is another picture: the draft was the one scored.
    published = scene.run(JobOptions(dry_run=True))
    assert published["scores"]["before"] == done["scores"]["before"]
    assert published["scores"]["after"] != done["scores"]["after"]


def test_a_redelivered_chunk_is_tallied_once(scene: Rescoring) -> None:
    once = scene.run(JobOptions(dry_run=True, draft=draft()))
    twice = scene.run(JobOptions(dry_run=True, draft=draft()), repeat=2)
    shown = ("scores", "ratings", "became_mql", "left_mql", "leads_done", "new_mqls")
    assert {name: twice[name] for name in shown} == {name: once[name] for name in shown}


def test_a_chunk_redelivered_after_it_was_counted_adds_nothing(scene: Rescoring) -> None:
    queue = MemoryQueue()
    job = scene.start(queue, JobOptions(dry_run=True, draft=draft()))
    worker = scene.rescorer(queue)
    delivered: list[str] = []

    def handle(body: str, receives: int) -> None:
        delivered.append(body)
        worker.handle(body, receives)

    queue.drain(handle)
    done = scene.progress(job)
    chunks = [body for body in delivered if '"chunk"' in body]
    for body in chunks:  # SQS delivers each chunk once more, after the job finished
        worker.handle(body, 2)
    assert scene.progress(job) == done
    assert sum(done["scores"]["after"]) == LEADS


def test_a_rescore_shows_no_dry_run_tallies(scene: Rescoring) -> None:
    done = scene.run(JobOptions())
    assert not {"scores", "ratings", "became_mql", "left_mql"} & set(done)
