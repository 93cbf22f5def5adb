"""The committed OpenAPI document is the one the code generates, with every route of the code."""

from __future__ import annotations

import json

from leadscore.api.openapi import document, operations, resolver

from tests.conftest import ROOT

COMMITTED = ROOT / "functions" / "api" / "openapi.json"


def test_committed_openapi_document_is_current() -> None:
    assert json.loads(COMMITTED.read_text()) == json.loads(document()), (
        "functions/api/openapi.json is stale: "
        ".venv/bin/python -m leadscore.api.openapi > functions/api/openapi.json"
    )


def test_every_route_of_the_resolver_is_documented_and_no_other() -> None:
    """The template's routes are the resolver's (tests/unit/test_template.py): all three agree."""
    paths = json.loads(COMMITTED.read_text())["paths"]
    documented = {(method, path) for path, item in paths.items() for method in item}
    assert documented == set(operations(resolver()))
    assert len(documented) >= 16  # health, events, forms, webhooks, leads, accounts, models
