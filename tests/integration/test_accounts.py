"""Account scoring against moto: parallel people, duplicates, erasure, decay, API and CLI."""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from leadscore.adapters import model_store
from leadscore.adapters.dynamo import (
    AccountItem,
    StateItem,
    account_pk,
    lead_key,
    lead_pk,
    state_sk,
)
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.domain import accounts
from leadscore.domain.events import Event
from leadscore.domain.messages import encode
from leadscore.domain.state import LeadState
from leadscore.services.accounts import people_of
from leadscore.services.decay import run_decay
from leadscore.services.scoring import score_messages
from leadscore_tools import cli
from leadscore_tools.modelfiles import load_model
from leadscore_tools.stack_client import StackClient

from tests.conftest import ROOT, LambdaContext, Recorder, Topic, load_function
from tests.integration.api_client import make_api

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
DOMAIN = "acme-corp.example"
KEY = {"x-api-key": "k"}
TARGET = {"company": "Acme", "industry": "Software", "company_size": "201-500", "country": "US"}
TITLES = ["Marketing Manager", "IT Manager", "VP Sales", "Data Engineer", "Intern", "Director"]


@pytest.fixture
def models(aws: None) -> model_store.CachedModels:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), NOW)
    return model_store.CachedModels(ttl=60)


def activity(email: str, title: str, tag: str, count: int = 6) -> list[tuple[str, Event]]:
    """A person who fills in a demo form and visits pricing pages: engaged."""
    profile = {
        **TARGET,
        "first_name": title.split(maxsplit=1)[0],
        "last_name": "Doe",
        "job_title": title,
    }
    events = [(email, Event(f"{tag}-form", "demo_request", NOW - timedelta(hours=5), None,
                            {}, profile))]  # fmt: skip
    events += [
        (
            email,
            Event(
                f"{tag}-v{n}",
                "page_view",
                NOW - timedelta(hours=4, minutes=n),
                None,
                {"url": f"https://v.example/{'pricing' if n % 2 else 'product/x'}"},
            ),
        )
        for n in range(count - 1)
    ]
    return events


def account_item(domain: str = DOMAIN) -> AccountItem:
    return AccountItem.get(account_pk(domain), state_sk("default"), consistent_read=True)


def lead_state(email: str) -> LeadState:
    item = StateItem.get(lead_pk(lead_key(email)), state_sk("default"), consistent_read=True)
    return LeadState.from_dict(item.state)


def expected_people(emails: list[str], config: Any) -> dict[str, accounts.Person]:
    return accounts.keep(
        config,
        [accounts.person_from_state(config, lead_key(e), lead_state(e)) for e in emails],
    )


def score_in_parallel(bodies: list[tuple[str, str]], models: Any, publisher: Any) -> None:
    queue = list(bodies)
    random.Random(3).shuffle(queue)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    batch = [queue.pop() for _ in range(min(10, len(queue)))]
                failed = score_messages(batch, models, publisher, clock=lambda: NOW).failed
                with lock:
                    queue.extend(m for m in batch if m[0] in failed)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors


def test_parallel_people_of_one_account_lose_nothing_and_duplicates_count_once(
    models: model_store.CachedModels,
) -> None:
    emails = [f"person{n}@{DOMAIN}" for n in range(len(TITLES))]
    events = [pair for n, e in enumerate(emails) for pair in activity(e, TITLES[n], f"p{n}")]
    events += activity("solo@gmail.com", "VP Sales", "free")  # free mail: never an account
    rng = random.Random(5)
    bodies = []
    for n, pair in enumerate(events):
        body = next(encode([pair], NOW))
        bodies.append((f"m{n}", body))
        if rng.random() < 0.4:
            bodies.append((f"m{n}-again", body))  # delivered twice
    recorder = Recorder()
    score_in_parallel(bodies, models, recorder)

    config = models.current()[0].model.account
    assert config is not None
    item = account_item()
    # Every person's latest state is in the account: no concurrent update was lost.
    assert people_of(item) == expected_people(emails, config)
    result = accounts.roll_up(config, people_of(item), "mqa", 0)
    assert item.state["score"] == result.score
    assert sum(c.points for c in result.contributions) == result.score
    assert item.state["status"] == "mqa"
    kinds = [n.kind for n in {n.id: n for n in recorder.sent}.values()]
    assert kinds.count("account.mqa") == 1
    intern = next(c for c in result.contributions if c.key == lead_key(emails[4]))
    assert intern.points == 0 and not intern.person.counted
    assert not list(AccountItem.query(account_pk("gmail.com")))

    # Everything delivered again: nothing changes, nothing is announced again.
    version = int(item.version)
    score_in_parallel(bodies, models, recorder)
    assert int(account_item().version) == version
    kinds = [n.kind for n in {n.id: n for n in recorder.sent}.values()]
    assert kinds.count("account.mqa") == 1


def by_kind(received: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in received if m["MessageAttributes"]["kind"]["Value"] == kind]


def test_mqa_once_api_erasure_decay_and_cli(
    models: model_store.CachedModels,
    topic: Topic,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api = make_api(monkeypatch, LEADSCORE_API_KEY="k")
    scorer = load_function("scorer")
    emails = [f"m{n}@{DOMAIN}" for n in range(3)]
    titles = ["Marketing Manager", "IT Manager", "Sales Manager"]
    pairs = [pair for n, e in enumerate(emails) for pair in activity(e, titles[n], f"mgr{n}", 4)]
    for start in range(0, len(pairs), 5):
        records = [
            {"messageId": f"r{start + n}", "body": next(encode([pair], NOW)), "receiptHandle": "r"}
            for n, pair in enumerate(pairs[start : start + 5])
        ]
        scorer.lambda_handler({"Records": records + records}, LambdaContext())  # twice
    received = topic.received()
    mqas = by_kind(received, "account.mqa")
    assert len(mqas) == 1, [m["Subject"] for m in received]
    document = json.loads(mqas[0]["Message"])
    assert document["kind"] == "account.mqa" and document["account"] == DOMAIN
    assert {p["email"] for p in document["people"]} == set(emails)
    assert (
        document["score"] >= 60
        and document["rating"] == mqas[0]["MessageAttributes"]["rating"]["Value"]
    )
    assert mqas[0]["Subject"].startswith("New MQA: ") and len(mqas[0]["Subject"]) <= 100

    answer = api.call("GET", f"/v1/accounts/{DOMAIN}", headers=KEY)
    assert answer.status == 200, answer.body
    body = answer.json()
    (scores,) = body["scores"]
    assert body["account"] == DOMAIN and scores["status"] == "mqa"
    assert {p["email"] for p in scores["people"]} == set(emails)
    assert round(sum(p["points"] for p in scores["people"]) * 100) == round(scores["score"] * 100)
    assert scores["rating"] == f"{scores['grade']}{scores['engagement_level']}"

    # The CLI prints the same document.
    def through_api(self: StackClient, method: str, path: str, body: Any = None) -> Any:
        answer = api.call(method, path, headers={"x-api-key": self.api_key})
        assert answer.status == 200, answer.body
        return answer.json()

    monkeypatch.setattr(StackClient, "request", through_api)
    capsys.readouterr()
    assert cli.main(["account", DOMAIN.upper(), "--api-key", "k"]) == 0
    assert json.loads(capsys.readouterr().out) == body

    # Erasure: that person's contribution disappears at once, the rest still add up.
    assert api.call("DELETE", f"/v1/leads/{emails[0]}", headers=KEY).status == 204
    after = api.call("GET", f"/v1/accounts/{DOMAIN}", headers=KEY).json()["scores"][0]
    assert {p["email"] for p in after["people"]} == set(emails[1:])
    assert lead_key(emails[0]) not in account_item().people
    assert after["score"] < scores["score"]
    assert round(sum(p["points"] for p in after["people"]) * 100) == round(after["score"] * 100)

    # Inactivity: decay cools the people, then the account, announced once.
    later = NOW + timedelta(days=150)
    run_decay(later, DynamoLeadStore(), models, scorer.publisher)
    run_decay(later, DynamoLeadStore(), models, scorer.publisher)  # a replay changes nothing
    received = topic.received()
    cooled = by_kind(received, "account.cooled")
    assert len(cooled) == 1, [m["Subject"] for m in received]
    assert account_item().state["status"] == "open"
    final = api.call("GET", f"/v1/accounts/{DOMAIN}", headers=KEY).json()["scores"][0]
    assert final["status"] == "open" and final["score"] < 45


def test_unknown_free_mail_and_invalid_domains(
    models: model_store.CachedModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(monkeypatch, LEADSCORE_API_KEY="k")
    for domain in ("nobody.example", "gmail.com", "mit.edu", "ox.ac.uk"):
        answer = api.call("GET", f"/v1/accounts/{domain}", headers=KEY)
        assert answer.status == 404, domain
        assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert api.call("GET", "/v1/accounts/a%20b", headers=KEY).status == 422
    assert api.call("GET", f"/v1/accounts/{DOMAIN}").status == 401


def test_refresh_after_states_are_rebuilt(models: model_store.CachedModels) -> None:
    """What rescoring calls once it has rewritten lead states."""
    from leadscore.services.accounts import refresh

    emails = [f"r{n}@{DOMAIN}" for n in range(3)]
    titles = ["Marketing Manager", "IT Manager", "Sales Manager"]
    pairs = [pair for n, e in enumerate(emails) for pair in activity(e, titles[n], f"re{n}", 4)]
    recorder = Recorder()
    bodies = [(f"m{n}", next(encode([pair], NOW))) for n, pair in enumerate(pairs)]
    assert not score_messages(bodies, models, recorder, clock=lambda: NOW).failed
    assert account_item().state["status"] == "mqa"
    for email in emails:  # as if a new model version took every engagement point away
        item = StateItem.get(lead_pk(lead_key(email)), state_sk("default"), consistent_read=True)
        state = LeadState.from_dict(item.state)
        state.engagement, state.score = 0, state.fit // 2
        item.state = state.to_dict()
        item.save()
    sent = len(recorder.sent)
    keys = [lead_key(e) for e in emails]
    assert refresh(keys, models.current(), recorder, NOW, notify=False) == 1
    assert account_item().state["status"] == "open"
    assert len(recorder.sent) == sent  # notify=False: sales is not told
    assert refresh(keys, models.current(), recorder, NOW) == 0  # already in step
