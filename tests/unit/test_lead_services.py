"""The lead and account use cases against the in-memory store: view, history, erasure, feedback;
and their routes, with the resolver built on that store (no moto)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.adapters.webhooks import EnvironmentSecrets
from leadscore.api.app import build
from leadscore.api.deps import Dependencies
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.emails import earlier_lead_key, lead_key
from leadscore.domain.events import Event
from leadscore.domain.model import Thresholds
from leadscore.services import leads, retry
from leadscore.services.account_view import AccountNotFound, account_view
from leadscore.services.leads import ErasedAccountBusy, LeadNotFound
from leadscore.services.scoring import score_messages
from leadscore.services.store import LeadWrite, ProfileRecord

from tests.conftest import Recorder
from tests.integration.api_client import Answer, Api
from tests.unit.scoring_helpers import FixedModels, bodies_of

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
DOMAIN = "corp.example"
EMAIL = f"grace@{DOMAIN}"
TITLES = ["VP Engineering", "IT Manager", "Marketing Director"]


@pytest.fixture
def models() -> FixedModels:
    return FixedModels()


@pytest.fixture
def store() -> MemoryLeadStore:
    return MemoryLeadStore()


def activity(email: str, title: str) -> list[tuple[str, Event]]:
    """A demo request from a target company, then pricing visits and a webinar: engaged."""
    profile = {
        "first_name": "Grace",
        "company": "Corp",
        "industry": "software",
        "company_size": "201-500",
        "country": "US",
        "job_title": title,
    }
    tag = email.split("@", maxsplit=1)[0]
    at = NOW - timedelta(hours=5)
    events = [(email, Event(f"{tag}-form", "demo_request", at, None, {}, profile))]
    events += [
        (email, Event(f"{tag}-p{n}", "page_view", at + timedelta(minutes=n), None,
                      {"url": "https://vendor.example/pricing"}))
        for n in range(1, 4)
    ]  # fmt: skip
    events.append((email, Event(f"{tag}-w", "webinar_attended", at + timedelta(hours=1))))
    return events


def score(store: MemoryLeadStore, models: FixedModels, *emails: str) -> Recorder:
    pairs = [pair for n, email in enumerate(emails) for pair in activity(email, TITLES[n])]
    bodies = bodies_of(pairs)
    recorder = Recorder()
    assert not score_messages(bodies, store, models, recorder, clock=lambda: NOW).failed
    return recorder


def test_view_shows_the_profile_account_and_explained_scores(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    score(store, models, EMAIL)
    view = leads.lead_view(store, models.current(), EMAIL)
    assert view["email"] == EMAIL and view["account"] == DOMAIN
    assert view["profile"]["job_title"] == "VP Engineering"
    assert view["feedback"] is None
    [scores] = view["scores"]
    assert scores["model"] == "default" and 0 < scores["score"] <= 100
    assert scores["reasons"] and "flags" not in scores
    # A model no longer in the catalog shows no score.
    assert leads.lead_view(store, [], EMAIL)["scores"] == []


def test_view_says_the_reasons_in_words_and_where_each_field_came_from(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    score(store, models, EMAIL)
    view = leads.lead_view(store, models.current(), EMAIL, NOW)
    # the activity's profile came with a demo request through POST /v1/events
    assert view["profile_sources"] == dict.fromkeys(view["profile"], "your systems")
    [scores] = view["scores"]
    texts = {reason["rule"]: reason["text"] for reason in scores["reasons"]}
    assert texts["fit.role.executive"] == "Job title VP Engineering: executive"
    assert texts["engagement.pricing_page"] == "Visited the pricing page twice"  # 2 a day count
    assert texts["engagement.webinar_attended"] == "Attended a webinar"


def test_view_gives_each_score_the_thresholds_of_its_model(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    score(store, models, EMAIL)
    [default] = models.current()
    stricter = default.model.model_copy(update={"thresholds": Thresholds(mql=72.5, reset=30)})
    [scores] = leads.lead_view(store, [compile_model(stricter)], EMAIL)["scores"]
    assert (scores["mql_threshold"], scores["reset_threshold"]) == (72.5, 30)


def test_history_adds_up_to_the_score_oldest_first(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    score(store, models, EMAIL)
    [scores] = leads.lead_view(store, models.current(), EMAIL)["scores"]
    history = leads.lead_history(store, EMAIL)
    assert history["email"] == EMAIL
    [entry] = history["history"]
    assert entry["model"] == "default"
    assert entry["points"] == pytest.approx(scores["score"], abs=0.011)
    times = [change["at"] for change in entry["changes"]]
    assert times == sorted(times) and len({change["event_id"] for change in entry["changes"]}) == 5


def test_history_counts_an_event_logged_in_a_format_that_no_longer_reads(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    score(store, models, EMAIL)
    [scores] = leads.lead_view(store, models.current(), EMAIL)["scores"]
    logged = store.leads[lead_key(EMAIL)].events["grace-form"]
    logged.event = replace(logged.event, type=" ")
    assert "grace-form" in store.lead_log(lead_key(EMAIL)).unreadable
    [entry] = leads.lead_history(store, EMAIL)["history"]
    assert entry["points"] == pytest.approx(scores["score"], abs=0.011)
    assert "grace-form" in {change["event_id"] for change in entry["changes"]}


def test_unknown_lead_is_not_found(store: MemoryLeadStore, models: FixedModels) -> None:
    with pytest.raises(LeadNotFound, match="unknown or erased"):
        leads.lead_view(store, models.current(), EMAIL)
    with pytest.raises(LeadNotFound):
        leads.lead_history(store, EMAIL)
    with pytest.raises(LeadNotFound):
        leads.record_feedback(store, EMAIL, "won", None, None, NOW)
    assert store.leads == {}  # feedback on nobody stores nothing


def test_erasure_leaves_the_marker_and_takes_the_person_out_of_the_account(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    emails = [EMAIL, f"ada@{DOMAIN}", f"alan@{DOMAIN}"]
    score(store, models, *emails)
    before = account_view(store, models.current(), DOMAIN)["scores"][0]
    assert {person["email"] for person in before["people"]} == set(emails)

    leads.erase_lead(store, models.current(), Recorder(), EMAIL, NOW + timedelta(hours=1))

    log = store.lead_log(lead_key(EMAIL))
    assert log.erased_at == int((NOW + timedelta(hours=1)).timestamp())
    assert (log.profile, log.states, log.events, log.changes) == (None, {}, [], [])
    with pytest.raises(LeadNotFound):
        leads.lead_view(store, models.current(), EMAIL)
    with pytest.raises(LeadNotFound):
        leads.lead_history(store, EMAIL)
    with pytest.raises(LeadNotFound):
        leads.record_feedback(store, EMAIL, "won", None, None, NOW)
    after = account_view(store, models.current(), DOMAIN)["scores"][0]
    assert {person["email"] for person in after["people"]} == set(emails[1:])
    assert after["score"] < before["score"]


def test_erasure_also_removes_a_lead_stored_under_its_key_before_the_email_rule(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    """Before the rule wrote domains in punycode, `a@bücher.de` was keyed as typed."""
    earlier = hashlib.sha256("ana@bücher.de".encode()).hexdigest()[:32]
    assert earlier_lead_key("Ana@Bücher.de") == earlier != lead_key("ana@xn--bcher-kva.de")
    assert earlier_lead_key(EMAIL) is None  # an ASCII address kept its key
    profile = ProfileRecord(earlier, "ana@bücher.de", {"first_name": "Ana"})
    assert store.commit([LeadWrite(earlier, [profile])]) == ({earlier}, set())
    leads.erase_lead(store, models.current(), Recorder(), "ana@xn--bcher-kva.de", NOW)
    assert store.lead_log(earlier).profile is None
    assert store.lead_log(earlier).erased_at is not None


def test_erasure_whose_account_keeps_conflicting_is_busy_but_done(
    store: MemoryLeadStore, models: FixedModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retry, "BASE_DELAY", 0)  # ten lost rounds without their waits
    score(store, models, EMAIL, f"ada@{DOMAIN}")
    store.before_commit = lambda chunk: [write.key for write in chunk]  # every write loses
    with pytest.raises(ErasedAccountBusy, match="repeat the request"):
        leads.erase_lead(store, models.current(), Recorder(), EMAIL, NOW)
    assert store.lead_log(lead_key(EMAIL)).erased_at is not None
    # Repeating the erasure once the account is free takes the person out.
    store.before_commit = None
    leads.erase_lead(store, models.current(), Recorder(), EMAIL, NOW)
    [record] = store.account_records(DOMAIN)
    assert lead_key(EMAIL) not in record.people


def test_erasing_an_unknown_or_personal_address_only_leaves_the_marker(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    for email in ("nobody@corp.example", "someone@gmail.com"):
        leads.erase_lead(store, models.current(), Recorder(), email, NOW)
        assert store.lead_log(lead_key(email)).erased_at == int(NOW.timestamp())
    assert store.accounts == {}


def test_feedback_moves_the_profile_version_so_a_concurrent_writer_retries(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    score(store, models, EMAIL)
    key = lead_key(EMAIL)
    # A scorer read the profile just before the feedback arrived...
    snapshots, _ = store.read_leads({key: ()}, ["default"])
    profile = snapshots[key].profile
    assert profile is not None

    leads.record_feedback(store, EMAIL, "won", "default", "signed", NOW + timedelta(days=1))

    # ...so its write over the version it read is refused, and it reads again.
    profile.profile["job_title"] = "CTO"
    written, retry = store.commit([LeadWrite(key, [profile])])
    assert (written, retry) == (set(), {key})
    assert leads.lead_view(store, models.current(), EMAIL)["feedback"] == "won"
    [feedback] = store.lead_log(key).feedback
    assert (feedback.outcome, feedback.model, feedback.note) == ("won", "default", "signed")
    kept = datetime.fromtimestamp(feedback.expires_at or 0, UTC) - (NOW + timedelta(days=1))
    assert kept == timedelta(days=3 * 365)


def test_account_view_of_unknown_personal_and_education_domains_is_not_found(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    score(store, models, EMAIL, f"ada@{DOMAIN}")
    for domain in ("nobody.example", "gmail.com", "mit.edu", "ox.ac.uk"):
        with pytest.raises(AccountNotFound, match="personal or education"):
            account_view(store, models.current(), domain)
    # No model that scores accounts: nothing to show either.
    with pytest.raises(AccountNotFound):
        account_view(store, [], DOMAIN)


class NoQueue:
    def send(self, entries: list[tuple[str, Event]], received_at: datetime) -> int:
        raise AssertionError("the lead and account routes queue nothing")


def call(
    store: MemoryLeadStore, models: FixedModels, method: str, path: str, body: Any = None
) -> Answer:
    """One request through the API's resolver, built on this store and these models."""
    deps = Dependencies(
        queue=NoQueue(),
        secrets=EnvironmentSecrets({}),
        store=store,
        models=models,
        publisher=Recorder(),
        api_key="k",
        clock=lambda: NOW,
    )
    handler = SimpleNamespace(lambda_handler=build(deps).resolve)
    return Api(handler, "", None).call(method, path, body, headers={"x-api-key": "k"})  # type: ignore[arg-type]


def test_routes_answer_what_the_services_return(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    score(store, models, EMAIL, f"ada@{DOMAIN}")
    lead = call(store, models, "GET", "/v1/leads/Grace%40Corp.example")
    assert lead.status == 200
    assert lead.json() == json.loads(json.dumps(leads.lead_view(store, models.current(), EMAIL)))
    history = call(store, models, "GET", f"/v1/leads/{EMAIL}/history")
    assert history.json() == leads.lead_history(store, EMAIL)
    account = call(store, models, "GET", f"/v1/accounts/{DOMAIN.upper()}")
    assert account.status == 200 and account.json()["account"] == DOMAIN

    feedback = call(store, models, "POST", f"/v1/leads/{EMAIL}/feedback", {"outcome": "lost"})
    assert (feedback.status, feedback.json()) == (202, {"status": "recorded", "outcome": "lost"})
    assert store.lead_log(lead_key(EMAIL)).feedback[0].outcome == "lost"

    assert call(store, models, "DELETE", f"/v1/leads/{EMAIL}").status == 204
    assert store.lead_log(lead_key(EMAIL)).profile is None


def test_service_errors_are_problems(
    store: MemoryLeadStore, models: FixedModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    for method, path, body in [
        ("GET", f"/v1/leads/{EMAIL}", None),
        ("GET", f"/v1/leads/{EMAIL}/history", None),
        ("POST", f"/v1/leads/{EMAIL}/feedback", {"outcome": "won"}),
        ("GET", "/v1/accounts/gmail.com", None),
        ("GET", f"/v1/accounts/{DOMAIN}", None),
    ]:
        answer = call(store, models, method, path, body)
        assert answer.status == 404, path
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert "unknown" in answer.json()["detail"]
    assert call(store, models, "GET", "/v1/leads/not-an-email").status == 422

    monkeypatch.setattr(retry, "BASE_DELAY", 0)
    score(store, models, EMAIL, f"ada@{DOMAIN}")
    store.before_commit = lambda chunk: [write.key for write in chunk]
    busy = call(store, models, "DELETE", f"/v1/leads/{EMAIL}")
    assert busy.status == 503
    assert busy.json()["detail"] == "the lead is erased but its account is busy; repeat the request"


def test_an_account_is_found_by_its_domain_as_typed(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    """Its people's addresses key it in punycode (`bücher.de` is `xn--bcher-kva.de`)."""
    score(store, models, "grace@bücher.de", "ada@bücher.de")
    for typed in ["bücher.de", quote("bücher.de"), "BÜCHER.DE", "xn--bcher-kva.de", "bücher.de."]:
        answer = call(store, models, "GET", f"/v1/accounts/{typed}")
        assert answer.status == 200, (typed, answer.body)
        assert answer.json()["account"] == "xn--bcher-kva.de"
    assert call(store, models, "GET", "/v1/accounts/bcher.de").status == 404


class CountedModels(FixedModels):
    """The catalog, counting its reads (each one a DynamoDB read and compile when deployed)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def current(self) -> Sequence[CompiledModel]:
        self.reads += 1
        return self.models


def test_a_path_is_refused_before_the_models_are_read(store: MemoryLeadStore) -> None:
    models = CountedModels()
    for method, path in [
        ("GET", "/v1/leads/not-an-email"),
        ("DELETE", "/v1/leads/not-an-email"),
        ("GET", "/v1/accounts/not%20a%20domain"),
        ("GET", "/v1/accounts/acme..com"),
    ]:
        answer = call(store, models, method, path)
        assert answer.status == 422, (method, path, answer.body)
    assert models.reads == 0


def test_a_new_leads_default_fit_rides_on_its_first_event(
    store: MemoryLeadStore, models: FixedModels
) -> None:
    """Fit points that no event carries (a role rule's default for a lead who sent no
    profile) are recorded on the first event logged with them: no change record of their own."""
    views = [
        (EMAIL, Event(f"v{n}", "page_view", NOW - timedelta(minutes=n), None,
                      {"url": "https://vendor.example/pricing"}))
        for n in range(2)
    ]  # fmt: skip
    assert not score_messages(bodies_of(views), store, models, Recorder(), clock=lambda: NOW).failed
    log = store.lead_log(lead_key(EMAIL))
    assert log.changes == []
    kinds = {r.event.id: [d["kind"] for d in r.deltas["default"]] for r in log.events}
    assert kinds == {"v1": ["profile", "event"], "v0": ["event"]}  # v1: the earlier
    [scores] = leads.lead_view(store, models.current(), EMAIL)["scores"]
    [entry] = leads.lead_history(store, EMAIL)["history"]
    assert entry["points"] == pytest.approx(scores["score"], abs=0.011)
    assert any(change["kind"] == "profile" and change["points"] for change in entry["changes"])
