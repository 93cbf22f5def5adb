"""Account scoring end to end on moto: the scorer Lambda, SNS, the API, erasure, decay, CLI.

The account service's behaviour (parallel people, duplicates, conflicts, refresh) is tested
against the in-memory store in tests/unit/test_accounts_service.py."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from leadscore.adapters import model_store
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.domain.emails import lead_key
from leadscore.domain.messages import encode
from leadscore.services.decay import run_decay
from leadscore.services.store import AccountRecord
from leadscore_tools import cli
from leadscore_tools.modelfiles import load_model
from leadscore_tools.stack_client import StackClient

from tests.conftest import ROOT, LambdaContext, Topic, load_function, sqs_record
from tests.integration.api_client import make_api
from tests.unit.scoring_helpers import NOW, activity

DOMAIN = "acme-corp.example"
KEY = {"x-api-key": "k"}


@pytest.fixture
def models(aws: None) -> model_store.CachedModels:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), NOW)
    return model_store.CachedModels(ttl=60)


def account_record(domain: str = DOMAIN) -> AccountRecord:
    (record,) = DynamoLeadStore().account_records(domain)
    return record


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
            sqs_record(f"r{start + n}", next(encode([pair], NOW)))
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
    assert lead_key(emails[0]) not in account_record().people
    assert after["score"] < scores["score"]
    assert round(sum(p["points"] for p in after["people"]) * 100) == round(after["score"] * 100)

    # Inactivity: decay cools the people, then the account, announced once.
    later = NOW + timedelta(days=150)
    run_decay(later, DynamoLeadStore(), models, scorer.publisher)
    run_decay(later, DynamoLeadStore(), models, scorer.publisher)  # a replay changes nothing
    received = topic.received()
    cooled = by_kind(received, "account.cooled")
    assert len(cooled) == 1, [m["Subject"] for m in received]
    assert account_record().state["status"] == "open"
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
