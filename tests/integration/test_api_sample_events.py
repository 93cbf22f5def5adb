"""The sample events in events/ (for `sam local invoke -e`) work with the real handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from leadscore.adapters import model_store
from leadscore.api.collect import SNIPPET_PATH
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, LambdaContext, Topic, load_function
from tests.integration.api_client import Api, make_api

EVENTS = ROOT / "events"
WEBHOOK_SECRETS = "/leadscore/webhooks"

# In this order, as a client would call them: nothing is scored (no scorer runs here), so
# the lead's routes answer 404 until the end, where the erasure succeeds all the same.
EXPECTED = [
    ("api_health_get", 200),
    ("api_forms_options", 204),
    ("api_forms_token_get", 200),  # the form-token secret read from SSM
    ("api_form_post", 202),
    ("api_events_post", 202),
    ("api_webhook_post", 200),  # Postmark, HTTP Basic secret read from SSM
    # The snippet is served once built (make tracker), else 503 saying so.
    ("api_tracker_get", 200 if SNIPPET_PATH.exists() else 503),
    ("api_collect_options", 204),
    ("api_collect_post", 204),  # a page view of the site key `www`
    ("api_segment_post", 200),  # a Segment batch, the key as HTTP Basic user
    ("api_lead_get", 404),
    ("api_lead_history_get", 404),
    ("api_lead_feedback_post", 404),
    ("api_account_get", 404),
    ("api_leads_get", 200),  # the sales queue: empty, as nothing is scored
    ("api_accounts_get", 200),
    ("api_notifications_get", 200),  # the alerts page: none yet
    ("api_models_get", 200),
    ("api_model_get", 200),
    ("api_model_put", 200),
    ("api_model_rescore_post", 202),
    ("api_models_validate", 200),  # a broken draft: its problems at their lines
    ("api_models_try", 404),  # nothing is scored here: no such lead
    ("api_models_preview", 202),  # a dry run of a draft of `analytics`, published above
    ("api_lead_delete", 204),
]


def sample(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return document


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    parameters.clear_caches()
    boto3.client("ssm").put_parameter(
        Name=f"{WEBHOOK_SECRETS}/basic-postmark", Value="postmark:hook-secret", Type="SecureString"
    )
    boto3.client("ssm").put_parameter(
        Name=f"{WEBHOOK_SECRETS}/form-token", Value="form-token-secret", Type="SecureString"
    )
    rescore_queue = boto3.client("sqs").create_queue(QueueName="rescore")["QueueUrl"]
    yield make_api(
        monkeypatch,
        LEADSCORE_API_KEY="local-dev-key",
        LEADSCORE_CORS_ORIGINS="https://www.example.com",
        LEADSCORE_TRACKING_SITES="www=https://www.example.com",
        LEADSCORE_WEBHOOK_SSM_PATH=WEBHOOK_SECRETS,
        RESCORE_QUEUE_URL=rescore_queue,
    )
    parameters.clear_caches()


def test_there_is_a_sample_for_every_route_of_the_template() -> None:
    from leadscore_tools.template import load_template

    resources = load_template()["Resources"]
    declared = {
        (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
        for function in ("ApiFunction", "PublicApiFunction")
        for e in resources[function]["Properties"]["Events"].values()
    }
    sampled = {(sample(name)["httpMethod"], sample(name)["resource"]) for name, _ in EXPECTED}
    # GET/HEAD on a webhook only answer a platform's URL probe; the job progress needs a job.
    unsampled = {
        ("GET", "/v1/webhooks/{provider}"),
        ("HEAD", "/v1/webhooks/{provider}"),
        ("GET", "/v1/models/{model_id}/rescore/{job_id}"),
    }
    assert sampled == declared - unsampled
    assert {p.stem for p in EVENTS.glob("api_*.json")} == {name for name, _ in EXPECTED}


def test_every_api_sample_event_is_answered_as_expected(api: Api) -> None:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), datetime.now(UTC))
    for name, status in EXPECTED:
        answer = api.module.lambda_handler(sample(name), LambdaContext())
        assert answer["statusCode"] == status, (name, answer.get("body"))
        if answer["statusCode"] >= 400:
            headers = {k: v[-1] for k, v in (answer.get("multiValueHeaders") or {}).items()}
            headers |= answer.get("headers") or {}
            assert headers["Content-Type"] == "application/problem+json", name
    # The form, the events post's two events, Postmark's click, the page view, Segment's call.
    events = api.queued_events()
    assert {e["type"] for e in events} >= {"form_submit", "email_click", "page_view"}
    assert len(events) == 6


def test_the_scorer_sample_batch_is_scored_without_failures(
    aws: None, topic: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), datetime.now(UTC))
    scorer = load_function("scorer")
    answer = scorer.lambda_handler(sample("scorer_sqs"), LambdaContext())
    assert answer == {"batchItemFailures": []}
    lead = make_api(monkeypatch, LEADSCORE_API_KEY="k").call(
        "GET", "/v1/leads/jane.doe%40acme-corp.com", headers={"x-api-key": "k"}
    )
    assert lead.status == 200, lead.body
    assert lead.json()["scores"][0]["score"] > 0


def test_the_decay_sample_runs_as_of_its_time(aws: None, topic: Topic) -> None:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), datetime.now(UTC))
    decay = load_function("decay")
    answer = decay.lambda_handler(sample("decay_schedule"), LambdaContext())
    assert answer["time"] == "2026-11-02T06:00:00+00:00"
    assert answer["complete"] is True


def test_the_slack_sample_is_posted_as_block_kit(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadscore.adapters import slack

    url = "https://hooks.slack.com/services/T000/B000/XXXX"
    boto3.client("ssm").put_parameter(Name="/leadscore/slack-url", Value=url, Type="SecureString")
    monkeypatch.setenv("SLACK_WEBHOOK_PARAMETER", "/leadscore/slack-url")
    monkeypatch.delenv("SLACK_WEBHOOK_SECRET_ARN", raising=False)
    posted: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(slack, "post", lambda target, body, **_: posted.append((target, body)))
    parameters.clear_caches()
    notifier = load_function("slack_notifier")
    answer = notifier.lambda_handler(sample("slack_sns"), LambdaContext())
    assert answer == {"posted": 1}
    [(target, body)] = posted
    assert target == url
    assert "Jane Doe" in json.dumps(body)
    parameters.clear_caches()


def test_every_function_has_a_sample_event() -> None:
    from leadscore_tools.template import load_template

    functions = {
        Path(r["Properties"]["CodeUri"]).name
        for r in load_template()["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    prefixes = {p.stem.split("_")[0] for p in EVENTS.glob("*.json")}
    # slack_notifier's sample is slack_sns.json; public_api's are the api_* of its routes.
    assert {f.split("_")[0] for f in functions} - {"public"} <= prefixes
