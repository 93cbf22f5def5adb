"""Rescoring after a model change against moto: every lead rebuilt as a fresh replay, fanned out
through the rescore queue, counted once, dry runs that write nothing, notifications on request."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from leadscore.adapters import model_store
from leadscore.adapters.dynamo import LeadTable, StateItem, lead_key, lead_pk, state_sk
from leadscore.adapters.dynamo_rescore_jobs import DynamoRescoreJobs
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.adapters.rescore_queue import SqsRescoreQueue
from leadscore.domain import engine
from leadscore.domain.compiled import compile_model
from leadscore.domain.events import Event
from leadscore.domain.messages import encode
from leadscore.domain.model import ScoringModel, parse_model
from leadscore.domain.state import LeadState
from leadscore.services import rescore
from leadscore.services.rescore_jobs import JobCounts, JobOptions, RescoreJob
from leadscore.services.rescore_replay import logged_events, replay
from leadscore.services.scoring import score_messages
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, LambdaContext, Recorder, Topic, load_function, table_items
from tests.integration.api_client import make_api
from tests.unit.scoring_helpers import explained_points

AT = datetime(2026, 11, 1, 12, tzinfo=UTC)
JOBS = DynamoRescoreJobs()
LEADS_STORE = DynamoLeadStore()
CATALOG = model_store.DynamoModelCatalog()
LEADS = 24
PROFILES = [
    {"first_name": "Ann", "last_name": "Lee", "company": "Acme", "job_title": "VP Sales",
     "industry": "Software", "company_size": "201-500", "country": "US"},
    {"first_name": "Bo", "last_name": "Kim", "company": "Beta", "job_title": "Marketing Manager",
     "industry": "Retail", "company_size": "51-200", "country": "DE"},
    {"first_name": "Cy", "last_name": "Ode", "company": "Gamma", "job_title": "Engineer",
     "industry": "Media", "company_size": "11-50", "country": "BR"},
]  # fmt: skip


def changed_model(
    base: ScoringModel, model_id: str | None = None, **thresholds: int
) -> ScoringModel:
    """The default model with other points (pricing counts more, a demo less), engagement
    levels and thresholds."""
    document = base.model_dump(mode="json", by_alias=True, exclude_none=True)
    document.pop("version", None)
    if model_id:
        document["id"] = model_id
    for rule in document["engagement"]["rules"]:
        if rule["name"] == "pricing_page":
            rule["points"] = 25
        if rule["name"] == "demo_request":
            rule["points"] = 30
    document["engagement"]["levels"] = {"1": 60, "2": 40, "3": 20}
    document["thresholds"] = {"mql": 50, "reset": 40, **thresholds}
    return parse_model(document)


def emails() -> list[str]:
    return [f"lead{n}@corp{n % 7}.example" for n in range(LEADS)]


def activity(email: str, n: int, at: datetime, batch: int) -> list[tuple[str, Event]]:
    """A few events of the lead's batch, the first one carrying its profile."""
    rng = random.Random(f"{email}:{batch}")
    kinds = [
        ("page_view", {"url": "https://v.example/pricing"}),
        ("page_view", {"url": "https://v.example/product/x"}),
        ("download", {"asset": f"a{rng.randrange(3)}"}),
        ("email_click", {"campaign": f"c{rng.randrange(3)}"}),
        ("demo_request", {}),
        ("webinar_attended", {"webinar": "w1"}),
    ]
    events = []
    for i in range(rng.randrange(2, 6)):
        kind, properties = rng.choice(kinds)
        profile = PROFILES[n % len(PROFILES)] if i == 0 and batch == 0 else None
        moment = at + timedelta(minutes=i)
        events.append(
            (email, Event(f"{email}-{batch}-{i}", kind, moment, None, properties, profile))
        )
    return events


def score(pairs: list[tuple[str, Event]], now: datetime) -> None:
    models = model_store.CachedModels(ttl=0)
    bodies = [(f"m{n}", body) for n, body in enumerate(encode(pairs, now))]
    assert not score_messages(bodies, LEADS_STORE, models, Recorder(), clock=lambda: now).failed


def score_population(first: datetime, second: datetime) -> None:
    leads = emails()
    score([p for n, e in enumerate(leads) for p in activity(e, n, first, 0)], first)
    score([p for n, e in enumerate(leads) for p in activity(e, n, second, 1)], second)


def state(email: str, model_id: str = "default") -> LeadState:
    item = StateItem.get(lead_pk(lead_key(email)), state_sk(model_id), consistent_read=True)
    return LeadState.from_dict(item.state)


def comparable(value: LeadState) -> dict[str, Any]:
    """Everything of a state but its model and the MQL episode (kept across a rescore)."""
    document = value.to_dict()
    for name in ("model_id", "model_version", "mql_since", "sla_due_at", "sla_breached"):
        document.pop(name)
    return document


class Queue:
    """The rescore queue in moto, drained by calling a message handler in a loop."""

    def __init__(self) -> None:
        import boto3

        self.sqs = boto3.client("sqs")
        self.url = self.sqs.create_queue(QueueName="rescore")["QueueUrl"]
        self.queue = SqsRescoreQueue(self.sqs, self.url)

    def receive(self) -> list[dict[str, Any]]:
        return list(
            self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get("Messages", [])
        )

    def delete(self, message: dict[str, Any]) -> None:
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def drain(self, handle: Callable[[str], None], repeat: int = 1) -> int:
        handled = 0
        while batch := self.receive():
            for message in batch:
                for _ in range(repeat):  # a redelivery: the same body again
                    handle(message["Body"])
                self.delete(message)
                handled += 1
        return handled


@pytest.fixture
def queue(aws: None) -> Queue:
    return Queue()


def run_job(
    queue: Queue,
    options: JobOptions | None = None,
    publisher: Recorder | None = None,
    model_id: str = "default",
    at: datetime = AT + timedelta(hours=1),
    store: DynamoLeadStore = LEADS_STORE,
    **worker: Any,
) -> dict[str, Any]:
    job = rescore.start_job(model_id, options or JobOptions(), queue.queue, JOBS, CATALOG, at)
    assert job is not None
    rescorer = rescore.Rescorer(
        queue.queue,
        publisher or Recorder(),
        JOBS,
        store,
        CATALOG,
        clock=lambda: at,
        list_page=7,
        chunk_size=3,
        **worker,
    )
    queue.drain(rescorer.handle)
    found = JOBS.read(model_id, job.job_id)
    assert found is not None
    return rescore.job_progress(found, store)


@pytest.fixture
def scored(queue: Queue) -> None:
    """24 leads scored by the default model (v1) and, live alongside, by its changed version
    under the id `fresh`; then the changed version is published as `default` v2."""
    default = load_model(ROOT / "models" / "default.yaml")
    model_store.publish(default, AT - timedelta(days=10))
    model_store.publish(changed_model(default, "fresh"), AT - timedelta(days=10))
    score_population(AT - timedelta(days=2), AT - timedelta(days=1))
    model_store.publish(changed_model(default), AT)


def test_rescore_rebuilds_every_lead_as_the_new_version_would_have_scored_it(
    queue: Queue, scored: None
) -> None:
    before = {email: state(email) for email in emails()}
    assert all(s.model_version == 1 for s in before.values())

    result = run_job(queue)

    assert result["status"] == "completed" and result["finished_at"]
    assert result["leads_total"] == result["leads_done"] == LEADS
    assert result["failures"] == 0 and result["listing_complete"]
    changed = 0
    for email in emails():
        after = state(email)
        assert after.model_version == 2
        # the same as the scorer gave the model that was live with these points all along
        assert comparable(after) == comparable(state(email, "fresh"))
        # the rescore's change record explains it
        assert explained_points(LEADS_STORE, email) == after.score
        old = before[email]
        if old.status == "mql" and after.status == "mql":
            assert after.mql_since == old.mql_since  # the same MQL episode: sales has it
        changed += comparable(old) != comparable(after)
    assert result["changed"] == changed > 0


def test_a_new_model_gets_a_state_for_every_lead(queue: Queue, scored: None) -> None:
    model_store.publish(load_model(ROOT / "models" / "analytics.yaml"), AT)
    with pytest.raises(StateItem.DoesNotExist):
        state(emails()[0], "analytics")

    result = run_job(queue, model_id="analytics")

    assert result["leads_done"] == LEADS and result["changed"] == LEADS
    assert all(state(e, "analytics").model_version == 1 for e in emails())


def test_dry_run_writes_nothing_and_reports_what_the_real_run_changes(
    queue: Queue, scored: None
) -> None:
    expected = {"rating": 0, "new": 0, "lost": 0}
    for email in emails():
        old, new = state(email), state(email, "fresh")
        expected["rating"] += old.rating != new.rating
        expected["new"] += old.status != "mql" and new.status == "mql"
        expected["lost"] += old.status == "mql" and new.status != "mql"
    assert expected["rating"] and expected["new"]
    items = table_items("LEAD#")

    dry = run_job(queue, JobOptions(dry_run=True))

    assert table_items("LEAD#") == items
    assert dry["dry_run"] and dry["status"] == "completed"
    assert (dry["rating_changes"], dry["new_mqls"], dry["lost_mqls"]) == (
        expected["rating"],
        expected["new"],
        expected["lost"],
    )
    assert 0 < len(dry["sample"]) <= 20
    sample = dry["sample"][0]
    assert sample["email"] in emails()
    assert sample["after"] == {
        "score": state(sample["email"], "fresh").score / 100,
        "rating": state(sample["email"], "fresh").rating,
        "status": state(sample["email"], "fresh").status,
    }

    real = run_job(queue)
    names = ("leads_done", "changed", "rating_changes", "new_mqls", "lost_mqls")
    assert {n: real[n] for n in names} == {n: dry[n] for n in names}


def test_no_notifications_unless_asked(queue: Queue, scored: None) -> None:
    quiet = Recorder()
    result = run_job(queue, publisher=quiet)
    assert result["new_mqls"] > 0 and quiet.sent == [] and result["notifications"] == 0

    # a version with a lower threshold, rescored with notify: every new MQL is told, once
    model_store.publish(
        changed_model(load_model(ROOT / "models" / "default.yaml"), mql=30, reset=20), AT
    )
    told = Recorder()
    result = run_job(queue, JobOptions(notify=True), publisher=told)
    kinds = [n.kind for n in told.sent]
    assert result["new_mqls"] > 0
    assert kinds.count("lead.mql") == result["new_mqls"] == result["notifications"]
    assert len({n.id for n in told.sent}) == len(told.sent)
    mqls = [n.document["email"] for n in told.sent]
    assert all(state(email).status == "mql" for email in mqls)


def test_a_redelivered_message_counts_once(queue: Queue, scored: None) -> None:
    once = run_job(queue, JobOptions(dry_run=True))
    job = rescore.start_job(
        "default", JobOptions(), queue.queue, JOBS, CATALOG, AT + timedelta(hours=1)
    )
    assert job is not None
    rescorer = rescore.Rescorer(
        queue.queue,
        Recorder(),
        JOBS,
        LEADS_STORE,
        CATALOG,
        clock=lambda: AT,
        list_page=7,
        chunk_size=3,
    )
    queue.drain(rescorer.handle, repeat=2)
    twice = rescore.job_progress(JOBS.read("default", job.job_id), LEADS_STORE)  # type: ignore[arg-type]
    names = ("leads_total", "leads_done", "changed", "rating_changes", "new_mqls", "lost_mqls")
    assert {n: twice[n] for n in names} == {n: once[n] for n in names}
    assert twice["chunks"] == once["chunks"]
    assert twice["chunks"]["done"] == twice["chunks"]["listed"] > LEADS // 3


class CrashingBeforeCounting(DynamoRescoreJobs):
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
    queue: Queue, scored: None
) -> None:
    dry = run_job(queue, JobOptions(dry_run=True))
    jobs = CrashingBeforeCounting(chunks=3)
    job = rescore.start_job(
        "default", JobOptions(), queue.queue, jobs, CATALOG, AT + timedelta(hours=1)
    )
    assert job is not None
    rescorer = rescore.Rescorer(
        queue.queue,
        Recorder(),
        jobs,
        LEADS_STORE,
        CATALOG,
        clock=lambda: AT,
        list_page=7,
        chunk_size=3,
    )
    failures = 0
    while batch := queue.receive():
        for message in batch:
            try:
                rescorer.handle(message["Body"])
            except RuntimeError:
                failures += 1
                queue.sqs.change_message_visibility(
                    QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
                continue
            queue.delete(message)
    assert failures == 3
    result = rescore.job_progress(JOBS.read("default", job.job_id), LEADS_STORE)  # type: ignore[arg-type]
    names = ("leads_done", "changed", "rating_changes", "new_mqls", "lost_mqls")
    assert {n: result[n] for n in names} == {n: dry[n] for n in names}
    assert result["status"] == "completed"


def test_a_lead_scored_while_it_is_rescored_keeps_the_new_event(
    queue: Queue, scored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = emails()[4]
    late = Event("late-demo", "demo_request", AT + timedelta(minutes=30))
    raced = {"done": False}

    class ScorerWins(DynamoLeadStore):
        def commit(self, writes: Any) -> Any:
            if not raced["done"] and any(w.key == lead_key(target) for w in writes):
                raced["done"] = True
                score([(target, late)], AT + timedelta(minutes=30))  # the scorer writes first
            return super().commit(writes)

    result = run_job(queue, store=ScorerWins())

    assert raced["done"] and result["failures"] == 0
    after = state(target)
    assert any(tag == engine.digest("late-demo") for tag in after.recent_ids)
    log = LEADS_STORE.lead_log(lead_key(target))
    assert log.profile is not None
    model = compile_model(model_store.read("default"))  # type: ignore[arg-type]
    replayed = replay(model, {**log.profile.profile, "email": target}, logged_events(log), AT)
    assert comparable(after) == comparable(replayed)
    assert explained_points(LEADS_STORE, target) == after.score


def test_a_lead_scored_by_a_newer_version_meanwhile_is_not_taken_back(
    queue: Queue, scored: None
) -> None:
    job = rescore.start_job(
        "default", JobOptions(), queue.queue, JOBS, CATALOG, AT + timedelta(hours=1)
    )
    assert job is not None and int(job.model_version) == 2
    # v3 is published while the job waits, and the scorer gives a lead its first v3 state.
    default = model_store.read("default")
    assert default is not None
    model_store.publish(changed_model(default, mql=55, reset=35), AT + timedelta(minutes=20))
    target = emails()[5]
    score([(target, Event("v3-visit", "page_view", AT + timedelta(minutes=30)))], AT)
    scored_by_v3 = state(target)
    assert scored_by_v3.model_version == 3

    rescorer = rescore.Rescorer(
        queue.queue,
        Recorder(),
        JOBS,
        LEADS_STORE,
        CATALOG,
        clock=lambda: AT,
        list_page=7,
        chunk_size=3,
    )
    queue.drain(rescorer.handle)

    found = JOBS.read("default", job.job_id)
    assert found is not None and rescore.job_progress(found, LEADS_STORE)["status"] == "completed"
    assert state(target).to_dict() == scored_by_v3.to_dict()
    assert all(state(e).model_version == 2 for e in emails() if e != target)


def test_rescore_handler_and_api_route(
    queue: Queue, scored: None, topic: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESCORE_QUEUE_URL", queue.url)
    api = make_api(
        monkeypatch, LEADSCORE_API_KEY="k", RESCORE_QUEUE_URL=queue.url, MODEL_CACHE_SECONDS="0"
    )
    key = {"x-api-key": "k"}
    assert api.call("POST", "/v1/models/default/rescore").status == 401
    assert queue.receive() == []  # refused: no job, nothing queued
    assert api.call("POST", "/v1/models/nope/rescore", {}, headers=dict(key)).status == 404
    bad = api.call(
        "POST", "/v1/models/default/rescore", {"dry": 1, "notify": "yes"}, headers=dict(key)
    )
    assert bad.status == 422 and {e["field"] for e in bad.json()["errors"]} == {"dry", "notify"}

    started = api.call("POST", "/v1/models/default/rescore", {"dry_run": True}, headers=dict(key))
    assert started.status == 202
    body = started.json()
    assert body["status"] == "queued" and body["dry_run"] and body["model_version"] == 2
    starts_at = datetime.fromisoformat(body["starts_at"].replace("Z", "+00:00"))
    assert starts_at <= datetime.now(UTC)  # the version was published long ago: no wait
    assert started.headers["Location"] == body["progress_url"]
    queued = api.call("GET", body["progress_url"], headers=dict(key)).json()
    assert queued["status"] == "queued" and queued["leads_done"] == 0

    worker = load_function("rescore")
    batches = 0
    while batch := queue.receive():
        event = {"Records": [sqs_record(m) for m in batch]}
        answer = worker.lambda_handler(event, LambdaContext())
        assert answer == {"batchItemFailures": []}
        for message in batch:
            queue.delete(message)
        batches += 1
        if batches == 1:  # progress is readable while the job runs
            running = api.call("GET", body["progress_url"], headers=dict(key)).json()
            assert running["status"] == "running" and running["leads_total"] > 0
    done = api.call("GET", body["progress_url"], headers=dict(key)).json()
    assert done["status"] == "completed" and done["leads_done"] == LEADS
    assert topic.received() == []
    missing = api.call("GET", "/v1/models/default/rescore/nope", headers=dict(key))
    assert missing.status == 404


def test_the_sample_event_runs_through_the_handler(
    queue: Queue, topic: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESCORE_QUEUE_URL", queue.url)
    event = json.loads(Path(ROOT / "events" / "rescore_sqs.json").read_text())
    worker = load_function("rescore")
    # the job it names does not exist here: its messages are done with, not failed
    assert worker.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
    event["Records"][0]["body"] = "not json"
    failures = worker.lambda_handler(event, LambdaContext())["batchItemFailures"]
    assert failures == [{"itemIdentifier": event["Records"][0]["messageId"]}]


def sqs_record(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:rescore",
        "awsRegion": "us-east-1",
    }


def test_the_cli_rescores_through_the_api_handler_over_http(
    queue: Queue,
    scored: None,
    topic: Topic,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`leadscore rescore` against the real API handler on 127.0.0.1, the rescore function
    draining its queue meanwhile, as the local stack's poller does."""
    import threading

    from leadscore_tools.cli import main

    monkeypatch.setenv("RESCORE_QUEUE_URL", queue.url)
    api = make_api(
        monkeypatch, LEADSCORE_API_KEY="k", RESCORE_QUEUE_URL=queue.url, MODEL_CACHE_SECONDS="0"
    )
    worker = load_function("rescore")

    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            batch = queue.receive()
            if batch:
                worker.lambda_handler({"Records": [sqs_record(m) for m in batch]}, LambdaContext())
                for message in batch:
                    queue.delete(message)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        with api.serve() as url:
            status = main(
                ["rescore", "default", "--interval", "0.05", "--api-url", url, "--api-key", "k"]
            )
            out, err = capsys.readouterr()
            assert status == 0, err
            # stdout also carries the function's metrics (EMF lines): the summary is the
            # indented one
            summary, _end = json.JSONDecoder().raw_decode(out, out.index('{\n  "'))
            assert summary["status"] == "completed" and summary["leads_done"] == LEADS
            assert f"{LEADS}/{LEADS} leads 100%" in err
            status = main(["lead", emails()[0], "--api-url", url, "--api-key", "k"])
            out, _ = capsys.readouterr()
            assert status == 0
            lead, _end = json.JSONDecoder().raw_decode(out, out.index('{\n  "'))
            assert lead["scores"][0]["model_version"] == 2
    finally:
        stop.set()
        poller.join()


def test_a_lead_erased_while_it_is_rescored_gets_no_state_again(
    queue: Queue, scored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadscore.adapters.dynamo import ErasedItem

    model_store.publish(load_model(ROOT / "models" / "analytics.yaml"), AT)
    target = emails()[5]
    pk = lead_pk(lead_key(target))
    erased = {"done": False}

    class ErasedFirst(DynamoLeadStore):
        def commit(self, writes: Any) -> Any:
            if not erased["done"] and any(w.key == lead_key(target) for w in writes):
                erased["done"] = True
                ErasedItem(pk, "ERASED", erased_at=int(AT.timestamp())).save()
                for item in LeadTable.query(pk, consistent_read=True):
                    if not isinstance(item, ErasedItem):
                        item.delete()
            return super().commit(writes)

    result = run_job(queue, model_id="analytics", store=ErasedFirst())

    assert erased["done"] and result["failures"] == 0
    assert [item.sk for item in LeadTable.query(pk, consistent_read=True)] == ["ERASED"]
    assert state(emails()[6], "analytics").model_version == 1


def test_accounts_follow_the_rescored_leads(queue: Queue, scored: None) -> None:
    from leadscore.services.accounts import refresh

    keys = [lead_key(e) for e in emails()]
    models = model_store.CachedModels(ttl=0).current()
    assert refresh(keys, LEADS_STORE, models, Recorder(), AT) == 0  # the scorer kept them in step

    publisher = Recorder()
    run_job(queue, publisher=publisher)

    # The rescore already moved every account to its people's new scores, silently.
    assert refresh(keys, LEADS_STORE, models, Recorder(), AT + timedelta(hours=1)) == 0
    assert not [n for n in publisher.sent if n.kind.startswith("account.")]
