"""`leadscore leads` and `leadscore accounts` over HTTP against the real API handler (moto):
the table a person reads (overdue marked), the rows as JSON, paging, and the API's refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from leadscore.adapters import model_store
from leadscore.adapters.api_keys import ApiKeys
from leadscore.adapters.dynamo import lead_key
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.domain.state import LeadState
from leadscore.services.store import AccountRecord, LeadWrite, StateRecord
from leadscore.settings import settings
from leadscore_tools import cli, cmd_lists
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT
from tests.integration.api_client import make_api

NOW = datetime.now(UTC)
# email, name, company, score, sla_due_at (None: not an MQL)
LEADS = [
    ("grace@corp.example", "Grace Hopper", "Corp", 90, NOW + timedelta(hours=2, minutes=30)),
    ("ada@acme.example", None, "Acme", 80, NOW - timedelta(hours=3, minutes=10)),
    ("linus@kernel.example", "Linus", None, 70, NOW + timedelta(days=3, hours=1)),
    ("ken@unix.example", "Ken", "Unix", 20, None),
]


class Stack:
    def __init__(self, url: str, sales: str, ingest: str) -> None:
        self.url, self.sales, self.ingest = url, sales, ingest

    def run(
        self, capsys: pytest.CaptureFixture[str], *argv: str, key: str | None = None
    ) -> tuple[int, str, str]:
        status = cli.main([*argv, "--api-url", self.url, "--api-key", key or self.sales])
        out, err = capsys.readouterr()
        return status, out, err


@pytest.fixture
def stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    api = make_api(monkeypatch)
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), NOW)
    keys = ApiKeys(boto3.client("dynamodb"), settings().table_name)
    sales, _ = keys.create("crm", ["sales"], NOW)
    ingest, _ = keys.create("website", ["ingest"], NOW)
    store = DynamoLeadStore()
    for email, name, company, score, due in LEADS:
        state = LeadState("default", 1, score=score * 100, fit=score * 50, engagement=score * 50)
        state.grade, state.last_activity_at = "A", int(NOW.timestamp())
        if due is not None:
            state.status, state.sla_due_at = "mql", int(due.timestamp())
            state.mql_since = int(NOW.timestamp()) - 3600
        record = StateRecord(lead_key(email), "default", state, account_domain=email.split("@")[1])
        record.email, record.name, record.company = email, name, company
        record.owner = "ann@sales.example"
        assert store.commit([LeadWrite(record.key, [record])])[1] == set()
    for n, status in enumerate(("open", "mqa")):
        state = {"status": status, "score": (n + 5) * 1000, "rating": "A2"}
        if status == "mqa":
            state["mqa_since"] = int(NOW.timestamp())
        account = AccountRecord(f"co{n}.example", "default", {}, state)
        assert store.commit([LeadWrite(account.domain, [account])])[1] == set()
    with api.serve() as url:
        yield Stack(url, sales, ingest)


def rows_of(table: str) -> list[list[str]]:
    """The table's lines, split at runs of two spaces (its column gap)."""
    return [
        [cell.strip() for cell in line.split("  ") if cell.strip()] for line in table.splitlines()
    ]


def test_the_queue_is_a_table_with_overdue_marked(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = stack.run(capsys, "leads", "--status", "mql", "--sort", "sla_due_at")
    assert status == 0 and err == ""
    heading, *lines = rows_of(out)
    assert heading == ["RATING", "NAME", "COMPANY", "SCORE", "OWNER", "DEADLINE", "STATUS"]
    assert [line[1] for line in lines] == ["ada@acme.example", "Grace Hopper", "Linus"]
    overdue, soon, later = (line[5] for line in lines)
    assert overdue.endswith("OVERDUE 3h") and soon.endswith("in 2h") and later.endswith("in 3d")
    due = (NOW - timedelta(hours=3, minutes=10)).strftime("%Y-%m-%d %H:%MZ")
    assert overdue.startswith(due)
    assert lines[0][2:5] == ["Acme", "80.0", "ann@sales.example"] and lines[0][6] == "mql"
    assert lines[2][2] == "kernel.example"  # no company: the account's domain


def test_json_prints_the_api_rows_and_all_follows_every_page(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = stack.run(capsys, "leads", "--json")
    rows = json.loads(out)
    assert status == 0 and [row["email"] for row in rows] == [lead[0] for lead in LEADS]
    assert rows[1]["name"] is None and rows[1]["sla_due_at"].endswith("Z")

    status, out, err = stack.run(capsys, "leads", "--json", "--all", "--limit", "1")
    assert status == 0 and json.loads(out) == rows and err == ""


def test_one_page_says_how_to_get_the_next(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    shown: list[str] = []
    cursor: list[str] = []
    for _ in LEADS:
        status, out, err = stack.run(capsys, "leads", "--limit", "1", *cursor)
        assert status == 0
        shown += [line[1] for line in rows_of(out)[1:]]
        if not err:
            break
        assert err.startswith("more leads: the same command with --cursor ")
        cursor = ["--cursor", err.split()[-1]]
    assert shown == ["Grace Hopper", "ada@acme.example", "Linus", "Ken"]


def test_all_stops_at_its_bound_and_says_where(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cmd_lists, "MAX_PAGES", 2)
    status, out, err = stack.run(capsys, "leads", "--all", "--limit", "1", "--json")
    assert status == 1 and len(json.loads(out)) == 2
    assert "stopped after 2 pages" in err and "--cursor " in err


def test_an_empty_list(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = stack.run(capsys, "leads", "--owner", "bob@sales.example")
    assert (status, out, err) == (0, "No leads match.\n", "")
    status, out, _ = stack.run(capsys, "leads", "--rating", "D4", "--json", "--all")
    assert status == 0 and json.loads(out) == []


def test_accounts_as_a_table_and_json(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = stack.run(capsys, "accounts")
    heading, *lines = rows_of(out)
    assert status == 0 and heading == ["RATING", "ACCOUNT", "SCORE", "STATUS", "MQA SINCE"]
    assert [line[:4] for line in lines] == [
        ["A2", "co1.example", "60.0", "mqa"], ["A2", "co0.example", "50.0", "open"]
    ]  # fmt: skip
    assert lines[1][4] == "-"
    status, out, _ = stack.run(capsys, "accounts", "--status", "mqa", "--json")
    answer: list[dict[str, Any]] = json.loads(out)
    assert status == 0 and [row["account"] for row in answer] == ["co1.example"]


def test_the_api_refusals_are_printed_and_fail(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = stack.run(capsys, "leads", key=stack.ingest)
    assert status == 1 and out == ""
    assert err.startswith("leadscore: HTTP 403: ") and "'sales'" in err
    status, out, err = stack.run(capsys, "accounts", "--rating", "A9")
    assert status == 1 and out == "" and "HTTP 422: " in err and "\n  rating: " in err
    status, _, err = stack.run(capsys, "leads", "--cursor", "not-ours")
    assert status == 1 and "HTTP 400: " in err
