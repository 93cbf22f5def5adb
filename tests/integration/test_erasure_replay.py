"""Erasure holds against replays: after DELETE /v1/leads/{email}, the very same delivery sent
again (each webhook sample of the corpus, /v1/events, /v1/forms) or still queued when it
answered leaves the lead gone; a new interaction afterwards is a new lead with only what it said."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from leadscore.adapters import model_store
from leadscore.adapters.dynamo import LeadTable, ReplayItem, lead_pk
from leadscore.adapters.dynamo_records import forgotten_sk
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.adapters.webhooks import EnvironmentSecrets, env_name
from leadscore.domain.emails import lead_key
from leadscore.domain.events import RETRY_WINDOW
from leadscore.services.scoring import Stats, score_messages
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, Recorder, item_text, moto_table, table_items
from tests.integration.api_client import Answer, Api, make_api
from tests.integration.test_api_webhooks_corpus import post
from tests.unit.test_webhooks_corpus import (
    BASIC,
    SAMPLES,
    UNSIGNED_NOW,
    Sample,
    address,
    is_scored,
    sample_id,
)

KEY = {"x-api-key": "k"}
EMAIL = "grace@corp.io"
URLENCODED = {"content-type": "application/x-www-form-urlencoded"}
# Post, DELETE, replay: well within every signature's replay tolerance (5 minutes), yet the
# replay arrives after the erasure, so only the hashed ids it kept can recognise it.
STEP = timedelta(seconds=30)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PROFILE = {
    "first_name": "Grace",
    "company": "Corp",
    "job_title": "VP Engineering",
    "company_size": 300,
    "country": "US",
}


def leads_of(sample: Sample) -> list[str]:
    """The addresses the sample's scored events belong to, in order, once each."""
    found = (address(e["email"]) for e in sample.meta["expected"] if is_scored(e))
    return list(dict.fromkeys(a for a in found if a is not None))


SCORED_SAMPLES = [sample for sample in SAMPLES if leads_of(sample)]


@dataclass
class Stack:
    """The API handler on one moto table, with a clock the test moves."""

    api: Api
    now: datetime = START

    def later(self, by: timedelta = STEP) -> None:
        self.now += by

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Answer:
        return self.api.call(method, path, body, **kwargs)

    def queued(self) -> list[tuple[str, str]]:
        return [(m["MessageId"], m["Body"]) for m in self.api.queued()]

    def score(self, messages: list[tuple[str, str]]) -> Stats:
        outcome = score_messages(
            messages,
            DynamoLeadStore(),
            model_store.CachedModels(ttl=0),
            Recorder(),
            clock=lambda: self.now,
        )
        assert not outcome.failed and not outcome.dead_letters
        return outcome.stats

    def lead(self, email: str) -> Answer:
        return self.call("GET", f"/v1/leads/{quote(email)}", headers=KEY)

    def erase(self, email: str) -> None:
        assert self.call("DELETE", f"/v1/leads/{quote(email)}", headers=KEY).status == 204


@pytest.fixture(scope="module")
def module_stack() -> Iterator[Stack]:
    """One table and one handler for the module (per worker): loading them per sample would
    dominate the run; `stack` empties the table between tests."""
    monkeypatch = pytest.MonkeyPatch()
    with moto_table():
        model_store.publish(load_model(ROOT / "models" / "default.yaml"), START)
        yield Stack(make_api(monkeypatch, LEADSCORE_API_KEY="k"))
    monkeypatch.undo()
    from leadscore.settings import settings

    settings.cache_clear()


@pytest.fixture
def stack(module_stack: Stack) -> Iterator[Stack]:
    """The module's stack with no lead, account or erasure left by an earlier test (the corpus
    reuses addresses and ids across samples), an empty queue and the clock at START."""
    with LeadTable.batch_write() as batch:
        for item in LeadTable.scan(consistent_read=True):
            if not item.pk.startswith("MODEL"):  # the catalog (MODELS) and versions (MODEL#)
                batch.delete(item)
    module_stack.api.queued()
    deps = module_stack.api.module.deps
    clock, secrets = deps.clock, deps.secrets
    module_stack.now = START
    deps.clock = lambda: module_stack.now
    yield module_stack
    deps.clock, deps.secrets = clock, secrets


def event_ids(messages: list[tuple[str, str]]) -> dict[str, set[str]]:
    """The ids of the queued events, by address."""
    ids: dict[str, set[str]] = {}
    for _, body in messages:
        for event in json.loads(body)["events"]:
            ids.setdefault(event["email"], set()).add(event["id"])
    return ids


def assert_gone(stack: Stack, email: str, scored_ids: set[str]) -> None:
    """The lead answers 404 and the table keeps of it only its erasure marker and the hashed
    ids of the events it had been scored with, both expiring: no item anywhere names it."""
    assert stack.lead(email).status == 404
    assert stack.call("GET", f"/v1/leads/{quote(email)}/history", headers=KEY).status == 404
    key = lead_key(email)
    kept = {item.sk: item for item in LeadTable.query(lead_pk(key), consistent_read=True)}
    assert set(kept) == {"ERASED"} | {forgotten_sk(key, i) for i in scored_ids}, sorted(kept)
    assert all(item.expires_at is not None for item in kept.values())
    named = [pk_sk for pk_sk, item in table_items().items() if email in item_text(item).lower()]
    assert named == [], named


def assert_no_lead_left(stack: Stack) -> None:
    """Every lead item in the table is an erasure marker or a hashed event id."""
    left = [
        (pk, sk) for pk, sk in table_items("LEAD#") if sk != "ERASED" and not sk.startswith("GONE#")
    ]
    assert left == [], left


# --- 1. every webhook sample of the corpus that scores a lead ---------------------------------


def authenticate(stack: Stack, sample: Sample) -> dict[str, str]:
    """Give the handler the sample's secret; the headers its request needs beyond its own."""
    deps = stack.api.module.deps
    if sample.key:  # its own signature, at the time it was signed
        secrets = sample.signed_secrets()
        stack.now = sample.signed_at() or UNSIGNED_NOW
        extra = {}
    else:  # HTTP Basic, as documented for platforms without a usable signature
        secrets = {f"basic:{sample.platform}": BASIC}
        stack.now = UNSIGNED_NOW
        extra = {"Authorization": "Basic " + base64.b64encode(BASIC.encode()).decode()}
    deps.secrets = EnvironmentSecrets({env_name(k): v for k, v in secrets.items()})
    return extra


@pytest.mark.corpus
@pytest.mark.skipif(not SAMPLES, reason="no webhook corpus beside the project")
@pytest.mark.parametrize("sample", SCORED_SAMPLES, ids=sample_id)
def test_webhook_replayed_after_erasure_is_dropped(stack: Stack, sample: Sample) -> None:
    headers = authenticate(stack, sample)
    answer = post(stack.api, sample, **headers)
    assert answer.status == 200, answer.body
    first = stack.queued()
    scored = event_ids(first)
    assert set(scored) == set(leads_of(sample))
    assert stack.score(first).events_scored > 0
    for email in scored:
        assert stack.lead(email).status == 200, email

    stack.later()
    for email in scored:
        stack.erase(email)
    stack.later()
    for taken in ReplayItem.scan():  # the edge refuses a signed delivery id it took
        taken.delete()  # (test_webhook_replay): forgotten, the replay reaches the scorer
    replay = post(stack.api, sample, **headers)  # the same body and signature headers
    assert replay.status == 200, replay.body
    again = stack.queued()
    assert event_ids(again) == scored
    stats = stack.score(again)

    assert stats.events_scored == 0
    assert stats.dropped_erased == sum(len(json.loads(body)["events"]) for _, body in again)
    for email, ids in scored.items():
        assert_gone(stack, email, ids)
    assert_no_lead_left(stack)


# --- 2. /v1/events, with and without id -------------------------------------------------------

EVENT_BODIES = {
    "explicit id": {"email": EMAIL, "type": "webinar_attended", "id": "w-1", "profile": PROFILE},
    "content id with occurred_at": {
        "email": EMAIL,
        "type": "page_view",
        "occurred_at": "2026-03-02T08:00:00Z",
        "properties": {"url": "/pricing"},
        "profile": PROFILE,
    },
    "content id without occurred_at": {
        "email": EMAIL,
        "type": "page_view",
        "properties": {"url": "/pricing"},
        "profile": PROFILE,
    },
}


@pytest.mark.parametrize("kind", EVENT_BODIES)
@pytest.mark.parametrize(
    "start",
    [START, START + timedelta(seconds=RETRY_WINDOW - 40)],
    ids=["within a window", "straddling two windows"],
)
def test_event_replayed_after_erasure_is_dropped(stack: Stack, kind: str, start: datetime) -> None:
    stack.now = start
    body = EVENT_BODIES[kind]
    assert stack.call("POST", "/v1/events", body, headers=KEY).status == 202
    first = stack.queued()
    stack.score(first)
    assert stack.lead(EMAIL).json()["profile"]["first_name"] == "Grace"

    stack.later()
    stack.erase(EMAIL)
    stack.later()  # the replay's content id may fall in the next window: still the same event
    assert stack.call("POST", "/v1/events", body, headers=KEY).status == 202
    stats = stack.score(stack.queued())

    assert (stats.events_scored, stats.dropped_erased) == (0, 1)
    assert_gone(stack, EMAIL, event_ids(first)[EMAIL])
    assert_no_lead_left(stack)


# --- 3. /v1/forms, JSON and urlencoded --------------------------------------------------------

FORM_FIELDS = {"email": "Grace@Corp.io", "form": "demo-request", **PROFILE, "company_size": "300"}
FORM_POSTS = {
    "json": (FORM_FIELDS, {}),
    "urlencoded": (urlencode(FORM_FIELDS), URLENCODED),
}


def post_form(stack: Stack, kind: str) -> None:
    body, headers = FORM_POSTS[kind]
    assert stack.call("POST", "/v1/forms", body, headers=headers).status == 202


@pytest.mark.parametrize("kind", FORM_POSTS)
def test_form_replayed_after_erasure_is_dropped(stack: Stack, kind: str) -> None:
    post_form(stack, kind)
    first = stack.queued()
    stack.score(first)
    assert stack.lead(EMAIL).status == 200

    stack.later()
    stack.erase(EMAIL)
    stack.later()
    post_form(stack, kind)  # a retry of the same submission, within its window
    stats = stack.score(stack.queued())

    assert (stats.events_scored, stats.dropped_erased) == (0, 1)
    assert_gone(stack, EMAIL, event_ids(first)[EMAIL])


@pytest.mark.parametrize("kind", FORM_POSTS)
def test_form_submitted_again_a_day_after_erasure_is_a_new_lead(stack: Stack, kind: str) -> None:
    post_form(stack, kind)
    stack.score(stack.queued())
    stack.later()
    stack.erase(EMAIL)

    stack.later(timedelta(days=1))
    post_form(stack, kind)
    stats = stack.score(stack.queued())

    assert (stats.events_scored, stats.dropped_erased) == (1, 0)
    lead = stack.lead(EMAIL)
    assert lead.status == 200
    assert lead.json()["profile"]["first_name"] == "Grace"  # what the new submission says


# --- 4. a new interaction after the erasure -------------------------------------------------


def test_new_event_after_erasure_is_a_new_lead_with_only_what_it_said(stack: Stack) -> None:
    first = {"email": EMAIL, "type": "webinar_attended", "id": "w-1", "profile": PROFILE}
    assert stack.call("POST", "/v1/events", first, headers=KEY).status == 202
    stack.score(stack.queued())
    stack.later()
    stack.erase(EMAIL)

    stack.later()
    new = {"email": EMAIL, "type": "page_view", "id": "p-2", "profile": {"country": "FR"}}
    assert stack.call("POST", "/v1/events", new, headers=KEY).status == 202
    stats = stack.score(stack.queued())

    assert (stats.events_scored, stats.dropped_erased) == (1, 0)
    lead = stack.lead(EMAIL).json()
    assert lead["profile"] == {"country": "FR"}
    history = stack.call("GET", f"/v1/leads/{EMAIL}/history", headers=KEY).json()["history"]
    seen = {change.get("event_id") for entry in history for change in entry["changes"]}
    assert seen <= {"p-2", None} and "p-2" in seen
    # Nothing of the erased lead's data or event: its name, title, company, its event's id.
    stored = [item_text(item) for (pk, _), item in table_items().items() if "MODEL" not in pk]
    for erased in ('"Grace"', "VP Engineering", '"Corp"', "w-1"):
        assert not any(erased in text for text in stored), erased


# --- 5. events queued before the erasure, scored after it -------------------------------------


def queue_each_way(stack: Stack, prefix: str) -> None:
    """An event, a JSON form and an HTML form for EMAIL, with ids not seen before."""
    event = {"email": EMAIL, "type": "page_view", "id": f"{prefix}-1", "profile": PROFILE}
    assert stack.call("POST", "/v1/events", event, headers=KEY).status == 202
    fields = {**FORM_FIELDS, "form": f"{prefix}-form"}
    assert stack.call("POST", "/v1/forms", fields).status == 202
    html = urlencode({**fields, "form": f"{prefix}-html"})
    assert stack.call("POST", "/v1/forms", html, headers=URLENCODED).status == 202


@pytest.mark.parametrize("known", [False, True], ids=["first events", "a scored lead"])
def test_events_queued_before_erasure_are_dropped(stack: Stack, known: bool) -> None:
    scored: set[str] = set()
    if known:
        queue_each_way(stack, "before")
        earlier = stack.queued()
        stack.score(earlier)
        scored = event_ids(earlier)[EMAIL]
        stack.later()
    queue_each_way(stack, "queued")
    stack.later()
    stack.erase(EMAIL)  # while they wait on the queue
    stack.later()
    stats = stack.score(stack.queued())

    assert (stats.events_scored, stats.dropped_erased) == (0, 3)
    assert_gone(stack, EMAIL, scored)
    assert_no_lead_left(stack)
