"""GET /v1/leads and GET /v1/accounts through the real handler, on the template's table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from leadscore.adapters import model_store
from leadscore.adapters.dynamo import lead_key
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.domain.state import LeadState
from leadscore.services.store import AccountRecord, LeadWrite, StateRecord
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT
from tests.integration.api_client import Api, make_api
from tests.integration.test_api_leads import score_queue, send_activity

KEY = {"x-api-key": "k"}
T0 = 1_700_000_000
ROW = {
    "email", "name", "company", "account", "owner", "score", "fit", "engagement", "rating",
    "status", "mql_since", "sla_due_at", "last_activity_at",
}  # fmt: skip


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> Api:
    made = make_api(monkeypatch, LEADSCORE_API_KEY="k")
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), datetime.now(UTC))
    return made


def seed(count: int, model: str = "default") -> None:
    """`count` leads of `model`: lead n scores n points; every third is an MQL."""
    store = DynamoLeadStore()
    writes = []
    for n in range(count):
        email = f"p{n}@corp{n % 3}.example"
        key = lead_key(email)
        state = LeadState(model, 1, score=n * 100, fit=n * 50, engagement=n * 50, grade="B")
        state.last_activity_at = T0 + n
        if n % 3 == 0:
            state.status, state.mql_since, state.sla_due_at = "mql", T0 + n, T0 + 10_000 - n
        record = StateRecord(key, model, state, account_domain=f"corp{n % 3}.example")
        record.email, record.name, record.owner = email, f"P {n}", "ann@sales.example"
        writes.append(LeadWrite(key, [record]))
    assert store.commit(writes)[1] == set()


def pages(api: Api, path: str, query: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = api.call(
            "GET", path, headers=KEY, query={**query, **({"cursor": cursor} if cursor else {})}
        )
        assert answer.status == 200, answer.body
        document = answer.json()
        rows += document["leads" if path == "/v1/leads" else "accounts"]
        cursor = document["next_cursor"]
        if cursor is None:
            return rows


def test_leads_page_by_score_with_the_contract_rows(api: Api) -> None:
    seed(11)
    rows = pages(api, "/v1/leads", {"limit": "4"})
    assert [row["score"] for row in rows] == [float(n) for n in range(10, -1, -1)]
    assert all(set(row) == ROW for row in rows)
    top = rows[0]
    assert (top["email"], top["name"], top["account"], top["owner"]) == (
        "p10@corp1.example", "P 10", "corp1.example", "ann@sales.example"
    )  # fmt: skip
    assert top["last_activity_at"] == "2023-11-14T22:13:30Z"
    assert top["rating"] == "B4" and top["status"] == "open" and top["sla_due_at"] is None


def test_the_queue_lists_mqls_by_deadline_and_filters_apply(api: Api) -> None:
    seed(10)
    queue = pages(api, "/v1/leads", {"sort": "sla_due_at", "limit": "2"})
    assert [row["email"] for row in queue] == [f"p{n}@corp0.example" for n in (9, 6, 3, 0)]
    owned = pages(api, "/v1/leads", {"owner": "Ann@Sales.example", "status": "mql"})
    assert len(owned) == 4
    assert pages(api, "/v1/leads", {"owner": "bob@sales.example"}) == []
    assert pages(api, "/v1/leads", {"rating": "a1,b1"}) == []


def test_a_cursor_is_bound_to_its_query_signed_and_expires(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(5)
    first = api.call("GET", "/v1/leads", headers=KEY, query={"limit": "2"}).json()
    cursor = first["next_cursor"]
    assert cursor
    other = api.call("GET", "/v1/leads", headers=KEY, query={"cursor": cursor, "status": "mql"})
    payload, signature = cursor.split(".")
    tampered = api.call(
        "GET", "/v1/leads", headers=KEY, query={"cursor": payload[:-2] + "AA." + signature}
    )
    assert [other.status, tampered.status] == [400, 400]
    assert other.headers["Content-Type"] == "application/problem+json"
    # another page size is the same list
    assert api.call("GET", "/v1/leads", headers=KEY, query={"cursor": cursor}).status == 200
    later = datetime.now(UTC) + timedelta(hours=2)
    monkeypatch.setattr(api.module.deps, "clock", lambda: later)
    expired = api.call("GET", "/v1/leads", headers=KEY, query={"cursor": cursor})
    assert expired.status == 400 and "expired" in expired.json()["detail"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"rating": "A5"}, "rating"),
        ({"sort": "score"}, "sort"),
        ({"status": "won"}, "status"),
        ({"colour": "red"}, "colour"),
        ({"model": "nope"}, "model"),
    ],
)
def test_a_query_not_valid_is_422(api: Api, query: dict[str, str], field: str) -> None:
    answer = api.call("GET", "/v1/leads", headers=KEY, query=query)
    assert answer.status == 422
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_model_is_required_when_several_exist(api: Api) -> None:
    other = load_model(ROOT / "models" / "default.yaml").model_copy(update={"id": "second"})
    model_store.publish(other, datetime.now(UTC))
    answer = api.call("GET", "/v1/leads", headers=KEY)
    assert answer.status == 422 and answer.json()["errors"][0]["field"] == "model"
    assert answer.json()["errors"][0]["allowed"] == ["default", "second"]  # what to pick from
    assert api.call("GET", "/v1/leads", headers=KEY, query={"model": "second"}).json() == {
        "leads": [],
        "next_cursor": None,
    }


def test_accounts_page_by_score(api: Api) -> None:
    store = DynamoLeadStore()
    for n in range(5):
        domain = f"co{n}.example"
        status = "mqa" if n == 4 else "open"
        stored = AccountRecord(
            domain, "default", {}, {"status": status, "score": n * 1000, "rating": "B2"}
        )
        if status == "mqa":
            stored.state["mqa_since"] = T0
        assert store.commit([LeadWrite(domain, [stored])])[1] == set()
    rows = pages(api, "/v1/accounts", {"limit": "2"})
    assert [row["account"] for row in rows] == [f"co{n}.example" for n in range(4, -1, -1)]
    assert rows[0] == {
        "account": "co4.example", "score": 40.0, "rating": "B2", "status": "mqa",
        "mqa_since": "2023-11-14T22:13:20Z",
    }  # fmt: skip
    assert pages(api, "/v1/accounts", {"status": "mqa"}) == rows[:1]


def test_a_scored_lead_is_listed(api: Api) -> None:
    send_activity(api)
    score_queue(api)
    rows = pages(api, "/v1/leads", {"sort": "-last_activity_at"})
    assert [(row["email"], row["account"]) for row in rows] == [("grace@corp.io", "corp.io")]
    assert rows[0]["score"] > 0 and rows[0]["last_activity_at"] is not None


def test_a_scored_lead_is_listed_with_its_name_company_and_owner(api: Api) -> None:
    """What the scorer writes (not a seeded state): the row names the lead, and an owner set
    by feedback is what the owner filter finds at once."""
    event = {
        "id": "crm-1",
        "email": "grace@corp.io",
        "type": "demo_request",
        "profile": {"first_name": "Grace", "last_name": "Hopper", "company": "Corp",
                    "owner": "ann@sales.example"},
    }  # fmt: skip
    assert api.call("POST", "/v1/events", event, headers=KEY).status == 202
    score_queue(api)
    [row] = pages(api, "/v1/leads", {"owner": "ann@sales.example"})
    assert (row["email"], row["name"], row["company"], row["owner"]) == (
        "grace@corp.io", "Grace Hopper", "Corp", "ann@sales.example"
    )  # fmt: skip
    feedback = {"outcome": "accepted", "owner": "ben@sales.example"}
    path = "/v1/leads/grace@corp.io/feedback"
    assert api.call("POST", path, feedback, headers=KEY).status in (200, 201, 202, 204)
    assert pages(api, "/v1/leads", {"owner": "ann@sales.example"}) == []
    [row] = pages(api, "/v1/leads", {"owner": "ben@sales.example"})
    assert row["owner"] == "ben@sales.example"


@pytest.mark.parametrize("steps", ["0", "1", "2", "3", "4", "5"])
def test_each_list_index_step_declares_only_what_its_indexes_use(steps: str) -> None:
    """DynamoDB adds one index per table update, and refuses a key attribute no index uses."""
    from leadscore_tools.template import table_definition

    definition = table_definition(parameters={"ListIndexes": steps})
    names = [index["IndexName"] for index in definition["GlobalSecondaryIndexes"]]
    lists = ["by_score", "by_activity", "mql_queue", "owner_queue", "mql_since"]
    assert names == ["due_keys", "by_model", "by_account", *lists[: int(steps)]]
    keys = {"pk", "sk"} | {
        key["AttributeName"]
        for index in definition["GlobalSecondaryIndexes"]
        for key in index["KeySchema"]
    }
    assert {a["AttributeName"] for a in definition["AttributeDefinitions"]} == keys


def test_a_list_whose_index_is_not_there_yet_answers_503(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import boto3
    from leadscore_tools.template import table_definition

    client = boto3.client("dynamodb")
    client.delete_table(TableName=os.environ["TABLE_NAME"])
    client.create_table(
        TableName=os.environ["TABLE_NAME"], **table_definition(parameters={"ListIndexes": "2"})
    )
    api = make_api(monkeypatch, LEADSCORE_API_KEY="k")
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), datetime.now(UTC))
    assert api.call("GET", "/v1/leads", headers=KEY).status == 200  # by_score is there
    answer = api.call("GET", "/v1/leads", headers=KEY, query={"sort": "sla_due_at"})
    assert answer.status == 503 and "ListIndexes" in answer.json()["detail"]


def test_an_mql_sales_answered_leaves_the_follow_up_queue(api: Api) -> None:
    """Feedback is the follow-up: the queue holds what is still due, overdue first."""
    for email in ["first@corp.io", "second@corp.io"]:
        send_activity(api, email)  # an MQL
        score_queue(api)
    queue = {"sort": "sla_due_at", "status": "mql"}
    assert [r["email"] for r in pages(api, "/v1/leads", queue)] == [
        "first@corp.io",
        "second@corp.io",
    ]
    path = "/v1/leads/first@corp.io/feedback"
    assert api.call("POST", path, {"outcome": "accepted"}, headers=KEY).status < 300
    assert [r["email"] for r in pages(api, "/v1/leads", queue)] == ["second@corp.io"]
    [answered] = [r for r in pages(api, "/v1/leads", {"sort": "-mql_since"}) if
                  r["email"] == "first@corp.io"]  # fmt: skip
    assert answered["status"] == "mql" and answered["sla_due_at"] is None
