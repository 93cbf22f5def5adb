"""The committed OpenAPI document is the one the code generates."""

from __future__ import annotations

import json

from leadscore.api.openapi import document

from tests.conftest import ROOT

COMMITTED = ROOT / "functions" / "api" / "openapi.json"


def test_committed_openapi_document_is_current() -> None:
    assert json.loads(COMMITTED.read_text()) == json.loads(document()), (
        "functions/api/openapi.json is stale: "
        ".venv/bin/python -m leadscore.api.openapi > functions/api/openapi.json"
    )


def test_every_route_of_the_contract_is_documented() -> None:
    paths = json.loads(COMMITTED.read_text())["paths"]
    assert {
        "/v1/health",
        "/v1/events",
        "/v1/forms",
        "/v1/webhooks/{provider}",
        "/v1/leads/{email}",
        "/v1/leads/{email}/history",
        "/v1/leads/{email}/feedback",
        "/v1/accounts/{domain}",
        "/v1/models",
        "/v1/models/{model_id}",
        "/v1/models/{model_id}/rescore",
        "/v1/models/{model_id}/rescore/{job_id}",
    } <= set(paths)
