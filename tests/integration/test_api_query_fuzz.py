"""The lists' query parameters as the OpenAPI document describes them: every query the
document allows is answered 200 (its next page too), any other is refused 4xx, never 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leadscore.adapters import model_store
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.services.store import AccountRecord, LeadWrite
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, moto_table
from tests.integration.api_client import Api, make_api
from tests.integration.test_api_fuzz import OPENAPI, from_schema
from tests.integration.test_api_lists import seed
from tests.integration.test_api_responses import assert_documented

KEY = {"x-api-key": "k"}
LISTS = {"/v1/leads": "leads", "/v1/accounts": "accounts"}
# Values a client cannot make up: the model must exist (a cursor is one the API gave: it
# comes from the first page).
GIVEN = {"model": st.just("default")}
PARAMETERS = {
    path: {p["name"]: p for p in OPENAPI["paths"][path]["get"]["parameters"]} for path in LISTS
}


def query_value(value: Any) -> str:
    """A parameter's value as the query string carries it (a list: comma-separated)."""
    return ",".join(value) if isinstance(value, list) else str(value)


def described(path: str) -> st.SearchStrategy[dict[str, str]]:
    """Queries the document allows for `path`: any of its parameters, each a valid value."""
    optional = {
        name: GIVEN[name] if name in GIVEN else from_schema(parameter["schema"]).map(query_value)
        for name, parameter in PARAMETERS[path].items()
        if name != "cursor"
    }
    return st.fixed_dictionaries({}, optional=optional)


def seed_accounts(count: int) -> None:
    store = DynamoLeadStore()
    for n in range(count):
        state = {"status": "mqa" if n % 2 else "open", "score": n * 1000, "rating": f"B{n % 4 + 1}"}
        stored = AccountRecord(f"co{n}.example", "default", {}, state)
        assert store.commit([LeadWrite(stored.domain, [stored])])[1] == set()


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    monkeypatch = pytest.MonkeyPatch()
    with moto_table():
        made = make_api(monkeypatch, LEADSCORE_API_KEY="k")
        model_store.publish(load_model(ROOT / "models" / "default.yaml"), datetime.now(UTC))
        seed(12)
        seed_accounts(5)
        yield made
    monkeypatch.undo()
    from leadscore.settings import settings as read_settings

    read_settings.cache_clear()  # the next test must not see this module's queue


def test_every_field_of_the_query_models_is_a_documented_parameter() -> None:
    assert set(PARAMETERS["/v1/leads"]) == {
        "model", "status", "rating", "grade", "owner", "sort", "limit", "cursor"
    }  # fmt: skip
    assert set(PARAMETERS["/v1/accounts"]) == set(PARAMETERS["/v1/leads"]) - {"owner"}
    assert not any(p["required"] for p in PARAMETERS["/v1/leads"].values())
    assert PARAMETERS["/v1/leads"]["rating"]["explode"] is False


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), path=st.sampled_from(sorted(LISTS)))
def test_a_query_the_document_allows_is_answered_with_its_pages(
    api: Api, data: st.DataObject, path: str
) -> None:
    query = data.draw(described(path))
    answer = api.call("GET", path, headers=KEY, query=query or None)
    assert answer.status == 200, (path, query, answer.body)
    document = answer.json()
    assert len(document[LISTS[path]]) <= int(query.get("limit", 50))
    if cursor := document["next_cursor"]:
        following = api.call("GET", path, headers=KEY, query={**query, "cursor": cursor})
        assert following.status == 200, (path, query, following.body)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    path=st.sampled_from(sorted(LISTS)),
    name=st.sampled_from(["model", "status", "rating", "grade", "owner", "sort", "limit"])
    | st.text(min_size=1, max_size=8),
    value=st.text(max_size=30) | st.integers().map(str),
)
def test_any_other_query_is_refused_with_a_documented_problem(
    api: Api, path: str, name: str, value: str
) -> None:
    answer = api.call("GET", path, headers=KEY, query={name: value})
    assert answer.status in (200, 422), (path, name, value, answer.body)
    assert_documented(answer, "GET", path)
    if name not in PARAMETERS[path]:
        assert answer.status == 422, (path, name, value)


@pytest.mark.parametrize("path", sorted(LISTS))
def test_a_cursor_the_api_did_not_give_is_refused(api: Api, path: str) -> None:
    for cursor in ("x", "abc.def", "A" * 4096, "A" * 4097):
        answer = api.call("GET", path, headers=KEY, query={"cursor": cursor})
        assert answer.status in (400, 422), (path, cursor)
        assert_documented(answer, "GET", path)
