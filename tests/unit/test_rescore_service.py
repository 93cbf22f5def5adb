"""Rescoring on the in-memory stores: every lead rebuilt as the new version would have scored
it, counted once under redelivery, dry runs that write nothing, notifications on request,
leads written meanwhile kept, one job per model. The job store's own conditions:
tests/integration/test_rescore_jobs_contract.py."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from leadscore.adapters.memory_rescore_jobs import MemoryRescoreJobs
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain import engine
from leadscore.domain.compiled import compile_model
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.services import rescore, rescore_replay
from leadscore.services.accounts import refresh
from leadscore.services.rescore_jobs import JobCounts, JobOptions, JobRunning, RescoreJob
from leadscore.services.rescore_replay import logged_events, replay
from leadscore.services.store import LeadWrite
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, Recorder
from tests.unit.decay_helpers import score
from tests.unit.rescore_helpers import (
    AT,
    COUNTED,
    LEADS,
    NOW,
    MemoryQueue,
    Rescoring,
    changed_model,
    comparable,
    default_model,
    emails,
)
from tests.unit.scoring_helpers import explained_points


@pytest.fixture
def scene() -> Rescoring:
    return Rescoring()


def contents(store: MemoryLeadStore) -> Any:
    """Everything stored, to compare before and after a run."""
    return copy.deepcopy((store.leads, store.accounts))


def touches(writes: list[LeadWrite], email: str) -> bool:
    return any(write.key == lead_key(email) for write in writes)


def test_rescore_rebuilds_every_lead_as_the_new_version_would_have_scored_it(
    scene: Rescoring,
) -> None:
    before = {email: scene.state(email) for email in emails()}
    assert all(s.model_version == 1 for s in before.values())

    result = scene.run()

    assert result["status"] == "completed" and result["finished_at"]
    assert result["leads_total"] == result["leads_done"] == LEADS
    assert result["failures"] == 0 and result["listing_complete"]
    changed = 0
    for email in emails():
        after = scene.state(email)
        assert after.model_version == 2
        # the same as the scorer gave the model that was live with these points all along
        assert comparable(after) == comparable(scene.state(email, "fresh"))
        # the rescore's change record explains it
        assert explained_points(scene.store, email) == after.score
        old = before[email]
        if old.status == "mql" and after.status == "mql":
            assert after.mql_since == old.mql_since  # the same MQL episode: sales has it
        changed += comparable(old) != comparable(after)
    assert result["changed"] == changed > 0
    assert {s["email"] for s in result["sample"]} <= set(emails())


def test_a_new_model_gets_a_state_for_every_lead(scene: Rescoring) -> None:
    scene.catalog.publish(load_model(ROOT / "models" / "analytics.yaml"), AT)
    assert "analytics" not in scene.store.lead_log(lead_key(emails()[0])).states

    result = scene.run(model_id="analytics")

    assert result["leads_done"] == LEADS and result["changed"] == LEADS
    assert all(scene.state(e, "analytics").model_version == 1 for e in emails())


def test_dry_run_writes_nothing_and_reports_what_the_real_run_changes(scene: Rescoring) -> None:
    expected = {"rating": 0, "new": 0, "lost": 0}
    for email in emails():
        old, new = scene.state(email), scene.state(email, "fresh")
        expected["rating"] += old.rating != new.rating
        expected["new"] += old.status != "mql" and new.status == "mql"
        expected["lost"] += old.status == "mql" and new.status != "mql"
    assert expected["rating"] and expected["new"]
    stored = contents(scene.store)

    dry = scene.run(JobOptions(dry_run=True))

    assert contents(scene.store) == stored
    assert dry["dry_run"] and dry["status"] == "completed"
    assert (dry["rating_changes"], dry["new_mqls"], dry["lost_mqls"]) == (
        expected["rating"],
        expected["new"],
        expected["lost"],
    )
    assert 0 < len(dry["sample"]) <= 20
    sample = dry["sample"][0]
    assert sample["email"] in emails()
    fresh = scene.state(sample["email"], "fresh")
    assert sample["after"] == {
        "score": fresh.score / 100,
        "rating": fresh.rating,
        "status": fresh.status,
    }

    real = scene.run()
    names = ("leads_done", "changed", "rating_changes", "new_mqls", "lost_mqls")
    assert {n: real[n] for n in names} == {n: dry[n] for n in names}


def test_no_notifications_unless_asked(scene: Rescoring) -> None:
    quiet = Recorder()
    result = scene.run(publisher=quiet)
    assert result["new_mqls"] > 0 and quiet.sent == [] and result["notifications"] == 0

    # a version with a lower threshold, rescored with notify: every new MQL is told, once
    scene.catalog.publish(changed_model(default_model(), mql=30, reset=20), AT)
    told = Recorder()
    result = scene.run(JobOptions(notify=True), publisher=told)
    kinds = [n.kind for n in told.sent]
    assert result["new_mqls"] > 0
    assert kinds.count("lead.mql") == result["new_mqls"] == result["notifications"]
    assert len({n.id for n in told.sent}) == len(told.sent)
    mqls = [n.document["email"] for n in told.sent]
    assert all(scene.state(email).status == "mql" for email in mqls)


def test_a_redelivered_message_counts_once(scene: Rescoring) -> None:
    once = scene.run(JobOptions(dry_run=True))
    twice = scene.run(repeat=2)  # every message delivered twice in a row
    assert {n: twice[n] for n in COUNTED} == {n: once[n] for n in COUNTED}
    assert twice["leads_total"] == LEADS
    assert twice["chunks"] == once["chunks"]
    assert twice["chunks"]["done"] == twice["chunks"]["listed"] > LEADS // 3


class CrashingBeforeCounting(MemoryRescoreJobs):
    """The job store of a worker that times out after writing its first `chunks` chunks'
    leads, before counting them."""

    def __init__(self, chunks: int) -> None:
        super().__init__()
        self.left = chunks

    def count_step(
        self, job: RescoreJob, step_id: str, counts: JobCounts, *args: Any, **kwargs: Any
    ) -> bool:
        if step_id.startswith("CHUNK#") and self.left:
            self.left -= 1
            raise RuntimeError("the Lambda timed out")  # leads written, chunk not counted
        return super().count_step(job, step_id, counts, *args, **kwargs)


def test_a_chunk_that_failed_after_writing_counts_its_changes_on_redelivery(
    scene: Rescoring,
) -> None:
    dry = scene.run(JobOptions(dry_run=True))
    scene.jobs = CrashingBeforeCounting(chunks=3)
    queue = MemoryQueue()
    job = scene.start(queue)

    failures = queue.drain(scene.rescorer(queue).handle)  # each comes back, as SQS's would

    assert failures == 3
    result = scene.progress(job)
    names = ("leads_done", "changed", "rating_changes", "new_mqls", "lost_mqls")
    assert {n: result[n] for n in names} == {n: dry[n] for n in names}
    assert result["status"] == "completed"


def test_a_lead_scored_while_it_is_rescored_keeps_the_new_event(scene: Rescoring) -> None:
    target = emails()[4]
    late = Event("late-demo", "demo_request", AT + timedelta(minutes=30))
    raced = {"done": False}

    def scorer_wins(writes: list[LeadWrite]) -> None:
        if not raced["done"] and touches(writes, target):
            raced["done"] = True
            # the scorer writes first
            score(scene.store, scene.catalog, [(target, late)], AT + timedelta(minutes=30))

    scene.store.before_commit = scorer_wins
    result = scene.run()

    assert raced["done"] and result["failures"] == 0
    after = scene.state(target)
    assert any(tag == engine.digest("late-demo") for tag in after.recent_ids)
    log = scene.store.lead_log(lead_key(target))
    assert log.profile is not None
    model = compile_model(scene.catalog.read("default", 2))  # type: ignore[arg-type]
    replayed = replay(model, {**log.profile.profile, "email": target}, logged_events(log), AT)
    assert comparable(after) == comparable(replayed)
    assert explained_points(scene.store, target) == after.score


def test_a_lead_scored_by_a_newer_version_meanwhile_is_not_taken_back(scene: Rescoring) -> None:
    queue = MemoryQueue()
    job = scene.start(queue)
    assert int(job.model_version) == 2
    # v3 is published while the job waits, and the scorer gives a lead its first v3 state.
    default = scene.catalog.read("default", 2)
    assert default is not None
    scene.catalog.publish(changed_model(default, mql=55, reset=35), AT + timedelta(minutes=20))
    target = emails()[5]
    score(scene.store, scene.catalog,
          [(target, Event("v3-visit", "page_view", AT + timedelta(minutes=30)))], AT)  # fmt: skip
    scored_by_v3 = scene.state(target)
    assert scored_by_v3.model_version == 3

    queue.drain(scene.rescorer(queue).handle)

    assert scene.progress(job)["status"] == "completed"
    assert scene.state(target).to_dict() == scored_by_v3.to_dict()
    assert all(scene.state(e).model_version == 2 for e in emails() if e != target)


def test_a_lead_erased_while_it_is_rescored_gets_no_state_again(scene: Rescoring) -> None:
    scene.catalog.publish(load_model(ROOT / "models" / "analytics.yaml"), AT)
    target = emails()[5]
    erased = {"done": False}

    def erased_first(writes: list[LeadWrite]) -> None:
        if not erased["done"] and touches(writes, target):
            erased["done"] = True
            scene.store.erase(lead_key(target), int(AT.timestamp()), int(AT.timestamp()) + 86_400)

    scene.store.before_commit = erased_first
    result = scene.run(model_id="analytics")

    assert erased["done"] and result["failures"] == 0
    log = scene.store.lead_log(lead_key(target))  # only the erasure marker is left
    assert log.erased_at == int(AT.timestamp()) and log.profile is None
    assert (log.states, log.events, log.changes, log.feedback) == ({}, [], [], [])
    assert scene.state(emails()[6], "analytics").model_version == 1


def test_accounts_follow_the_rescored_leads(scene: Rescoring) -> None:
    keys = [lead_key(e) for e in emails()]
    models = scene.catalog.current()
    # the scorer kept them in step
    assert refresh(keys, scene.store, models, Recorder(), AT) == 0

    publisher = Recorder()
    scene.run(publisher=publisher)

    # The rescore already moved every account to its people's new scores, silently.
    assert refresh(keys, scene.store, models, Recorder(), AT + timedelta(hours=1)) == 0
    assert not [n for n in publisher.sent if n.kind.startswith("account.")]


def test_a_lead_that_keeps_conflicting_is_counted_as_a_failure(scene: Rescoring) -> None:
    target = lead_key(emails()[3])
    scene.store.before_commit = lambda chunk: {target}  # another writer wins every time
    result = scene.run()
    assert result["failures"] == 1 and result["leads_done"] == LEADS - 1
    assert scene.store.leads[target].states["default"].state.model_version == 1


def test_a_second_job_of_the_model_waits_for_the_first(scene: Rescoring) -> None:
    queue = MemoryQueue()
    first = scene.start(queue)
    with pytest.raises(JobRunning) as running:
        scene.start(queue)
    assert running.value.job.job_id == first.job_id
    assert rescore.start_job("nope", JobOptions(), queue, scene.jobs, scene.catalog, NOW) is None


def test_an_event_logged_with_a_future_date_is_replayed_at_its_arrival() -> None:
    """Logged before dates were bounded: a rescore no longer keeps the lead frozen by it."""
    from datetime import UTC, datetime

    from leadscore.services.store import EventRecord, LeadLog

    arrival = datetime(2026, 11, 1, tzinfo=UTC)
    future = Event("f", "demo_request", datetime(2099, 1, 1, tzinfo=UTC))
    present = Event("p", "page_view", arrival - timedelta(days=1))
    received = int(arrival.timestamp())
    log = LeadLog("k", events=[EventRecord("k", e, received) for e in (future, present)])
    assert [(at, e.id, e.occurred_at) for at, e in logged_events(log)] == [
        (received, "f", arrival),
        (received, "p", present.occurred_at),
    ]


def test_a_state_written_before_the_lists_is_written_again_and_joins_them() -> None:
    from leadscore.adapters.memory_store import MemoryLeadStore
    from leadscore.domain.messages import encode
    from leadscore.services.scoring import score_messages

    from tests.unit.scoring_helpers import NOW, FixedModels, default_model

    store = MemoryLeadStore()
    email = "old@acme.example"
    [body] = encode([(email, Event("o-1", "demo_request", NOW))], NOW)
    score_messages([("m", body)], store, FixedModels(), Recorder(), clock=lambda: NOW)
    state = store.leads[lead_key(email)].states["default"]
    state.email = state.name = state.company = state.owner = None  # as stored before
    log = store.lead_log(lead_key(email))
    plan = rescore_replay.plan_lead(default_model(), log, NOW, int(NOW.timestamp()), False, 400)
    assert plan is not None and not plan.changed and plan.write is not None
    assert store.commit([plan.write])[1] == set()
    assert store.leads[lead_key(email)].states["default"].email == email
