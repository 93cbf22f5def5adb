"""One rescore job per model, as a user meets it on moto: a second start answers 409 naming the
running job, through the HTTP route and `leadscore rescore`, until the job is done.

The lock's rules (racing starts, a finished, incomplete, expired or failed-to-start job freeing
its model) run against both job stores in test_rescore_jobs_contract.py.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from leadscore.adapters import model_store
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.services.scoring import score_messages
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, LambdaContext, Recorder, Topic, load_function, sqs_record
from tests.integration.api_client import Api, make_api
from tests.unit.scoring_helpers import NOW, activity, bodies_of

KEY = {"x-api-key": "k"}
EMAILS = ["ann@acme.example", "bo@beta.example", "cy@gamma.example"]


@pytest.fixture
def published(aws: None) -> None:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), NOW - timedelta(days=10))


@pytest.fixture
def scored(published: None) -> None:
    """A few leads scored by the published default model."""
    events = [
        pair for n, email in enumerate(EMAILS) for pair in activity(email, "VP Sales", f"e{n}", 2)
    ]
    models = model_store.CachedModels(ttl=0)
    outcome = score_messages(
        bodies_of(events), DynamoLeadStore(), models, Recorder(), clock=lambda: NOW
    )
    assert not outcome.failed


def rescore_api(monkeypatch: pytest.MonkeyPatch) -> Api:
    return make_api(monkeypatch, LEADSCORE_API_KEY="k", MODEL_CACHE_SECONDS="0")


def delivered(message: dict[str, Any]) -> dict[str, Any]:
    """A received message as Lambda hands it over (first receive)."""
    record = sqs_record(message["MessageId"], message["Body"])
    return {**record, "attributes": {"ApproximateReceiveCount": "1"}}


def run_rescore_worker(api: Api) -> None:
    """The rescore Lambda handles the rescore queue until it is empty."""
    worker = load_function("rescore")
    url = api.sqs.get_queue_url(QueueName="rescore")["QueueUrl"]
    while batch := api.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        event = {"Records": [delivered(m) for m in batch]}
        assert worker.lambda_handler(event, LambdaContext()) == {"batchItemFailures": []}
        for message in batch:
            api.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.mark.usefixtures("scored")
def test_the_route_answers_409_naming_the_running_job(
    topic: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = rescore_api(monkeypatch)
    first = api.call("POST", "/v1/models/default/rescore", {"dry_run": True}, headers=dict(KEY))
    assert first.status == 202
    running_url = first.json()["progress_url"]

    second = api.call("POST", "/v1/models/default/rescore", {}, headers=dict(KEY))

    assert second.status == 409
    assert second.headers["Content-Type"] == "application/problem+json"
    problem = second.json()
    assert problem["status"] == 409 and problem["title"] == "Conflict"
    assert running_url in problem["detail"]

    run_rescore_worker(api)
    done = api.call("GET", running_url, headers=dict(KEY)).json()
    assert done["status"] == "completed" and done["leads_done"] == len(EMAILS)
    again = api.call("POST", "/v1/models/default/rescore", {}, headers=dict(KEY))
    assert again.status == 202 and again.json()["progress_url"] != running_url


@pytest.mark.usefixtures("published")
def test_the_cli_says_which_job_is_running(
    topic: Topic, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`leadscore rescore` against the real API handler over HTTP on 127.0.0.1."""
    from leadscore_tools.cli import main

    api = rescore_api(monkeypatch)
    running_url = api.call("POST", "/v1/models/default/rescore", {}, headers=dict(KEY)).json()[
        "progress_url"
    ]

    with api.serve() as url:
        status = main(["rescore", "default", "--api-url", url, "--api-key", "k"])
        _out, err = capsys.readouterr()

    assert status == 1
    assert "HTTP 409: a rescore job of this model is still running" in err
    assert running_url in err
