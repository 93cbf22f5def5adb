"""The sample proxy events in events/ (for `sam local invoke -e`) work with the real handler."""

from __future__ import annotations

import json

import pytest
from leadscore.adapters import model_store
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, LambdaContext
from tests.integration.api_client import Api, make_api

EXPECTED = {
    "api_health_get": 200,
    "api_form_post": 202,
    "api_events_post": 202,
    "api_lead_get": 404,  # nothing scored yet in this test
}


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> Api:
    return make_api(monkeypatch, LEADSCORE_API_KEY="local-dev-key")


def test_every_api_sample_event_is_answered_as_expected(api: Api) -> None:
    from datetime import UTC, datetime

    model_store.publish(load_model(ROOT / "models" / "default.yaml"), datetime.now(UTC))
    samples = sorted((ROOT / "events").glob("api_*.json"))
    assert {path.stem for path in samples} == set(EXPECTED)
    for path in samples:
        answer = api.module.lambda_handler(json.loads(path.read_text()), LambdaContext())
        assert answer["statusCode"] == EXPECTED[path.stem], (path.name, answer["body"])
    assert len(api.queued_events()) == 3
