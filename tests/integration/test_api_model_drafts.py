"""A model draft through the API on moto: validated with its problems at their lines, tried on a
scored lead (the difference a rule's points make), previewed on every lead by the rescore
worker draining its queue in SQS (histograms, rating grid, MQL lists; nothing written; a
redelivered chunk counted once; no larger than its job item keeps), and published as YAML text
read as validate reads it; a scalar YAML cannot build is a problem at its line on every route."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from leadscore.adapters import model_store
from leadscore.api.bodies import MAX_MODEL_DOCUMENT, MAX_PREVIEW_DRAFT

from tests.conftest import ROOT, LambdaContext, load_function, table_items
from tests.integration.api_client import make_api
from tests.integration.test_rescore import LEADS_STORE, Queue, sqs_record
from tests.unit.rescore_helpers import LEADS, emails, score_and_publish

KEY = {"x-api-key": "k"}
YAML = {**KEY, "Content-Type": "application/yaml"}
JSON = {**KEY, "Content-Type": "application/json"}
DEFAULT = (ROOT / "models" / "default.yaml").read_text()


@pytest.fixture
def queue(aws: None) -> Queue:
    return Queue()


@pytest.fixture
def api(queue: Queue, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("RESCORE_QUEUE_URL", queue.url)
    return make_api(monkeypatch, LEADSCORE_API_KEY="k", RESCORE_QUEUE_URL=queue.url)


@pytest.fixture
def scored(aws: None) -> None:
    score_and_publish(model_store.publish, LEADS_STORE, model_store.CachedModels(ttl=0))


def published_draft(api: Any, **points: int) -> dict[str, Any]:
    """The published `default` as a draft, with other points for some engagement rules."""
    document: dict[str, Any] = api.call("GET", "/v1/models/default", headers=KEY).json()
    for rule in document["engagement"]["rules"]:
        rule["points"] = points.get(rule["name"], rule["points"])
    return document


def test_validate_answers_every_problem_at_its_line(api: Any) -> None:
    good = api.call("POST", "/v1/models/default/validate", DEFAULT, headers=YAML)
    assert good.status == 200 and good.json() == {"valid": True, "problems": []}

    broken = DEFAULT.replace("weight: 30\n", "weight: thirty\n", 1)
    answer = api.call("POST", "/v1/models/default/validate", broken, headers=YAML).json()
    assert answer["valid"] is False
    [problem] = answer["problems"]
    assert problem["path"] == "fit.categories[0].weight"
    assert broken.splitlines()[problem["line"] - 1].strip() == "weight: thirty"

    other = api.call("POST", "/v1/models/other/validate", DEFAULT, headers=YAML).json()
    assert [(p["path"], p["line"]) for p in other["problems"]] == [("id", 2)]

    syntax = api.call("POST", "/v1/models/default/validate", "id: x\n  a: b\n", headers=YAML)
    assert syntax.json()["problems"][0] | {"message": ""} == {
        "path": "",
        "message": "",
        "line": 2,
        "column": 4,
    }

    as_json = json.dumps({"id": "default", "name": "x"}, indent=1)
    sent = api.call(
        "POST",
        "/v1/models/default/validate",
        as_json,
        headers={**KEY, "Content-Type": "application/json"},
    ).json()
    assert {(p["path"], p["line"]) for p in sent["problems"]} == {("fit", 1), ("engagement", 1)}
    assert (
        api.call("POST", "/v1/models/default/validate", "x" * 400_001, headers=YAML).status == 413
    )
    html = {**KEY, "Content-Type": "text/html"}
    assert api.call("POST", "/v1/models/default/validate", DEFAULT, headers=html).status == 415
    assert api.call("POST", "/v1/models/default/validate", DEFAULT).status == 401


def test_try_shows_what_a_rules_points_change(api: Any, scored: None) -> None:
    viewer = next(
        email
        for email in emails()
        if any(
            reason["rule"] == "engagement.pricing_page"
            for score in api.call("GET", f"/v1/leads/{email}", headers=KEY).json()["scores"]
            if score["model"] == "default"
            for reason in score["reasons"]
        )
    )
    shown = api.call("GET", f"/v1/leads/{viewer}", headers=KEY).json()
    current = next(score for score in shown["scores"] if score["model"] == "default")
    draft = published_draft(api, pricing_page=1)
    answer = api.call(
        "POST", "/v1/models/default/try", {"document": draft, "email": viewer}, headers=KEY
    )
    assert answer.status == 200, answer.body
    trial = answer.json()
    assert trial["before"] == current
    assert trial["difference"]["engagement.pricing_page"] < 0
    assert trial["after"]["model_version"] == 3  # the version it would be: after v2
    leads = table_items("LEAD#")

    unchanged = api.call(
        "POST",
        "/v1/models/default/try",
        {"document": published_draft(api), "email": viewer},
        headers=KEY,
    ).json()

    def pricing(scores: dict[str, Any]) -> float:
        return next(
            r["points"] for r in scores["reasons"] if r["rule"] == "engagement.pricing_page"
        )

    assert pricing(unchanged["after"]) > pricing(trial["after"]) > 0  # 1 point a view, not 25
    moved = trial["difference"]["engagement.pricing_page"]
    assert moved == pytest.approx(pricing(trial["after"]) - pricing(current))
    assert table_items("LEAD#") == leads  # nothing written

    unknown = {"document": draft, "email": "nobody@nowhere.example"}
    assert api.call("POST", "/v1/models/default/try", unknown, headers=KEY).status == 404
    bad = DEFAULT.replace("weight: 30\n", "weight: thirty\n", 1)
    refused = api.call(
        "POST", "/v1/models/default/try", {"document": bad, "email": viewer}, headers=KEY
    )
    assert refused.status == 422
    [error] = refused.json()["errors"]
    assert error["field"] == "fit.categories[0].weight"
    assert bad.splitlines()[error["line"] - 1].strip() == "weight: thirty"


def test_preview_runs_the_draft_on_every_lead(api: Any, queue: Queue, scored: None) -> None:
    draft = published_draft(api, pricing_page=60, demo_request=60)
    started = api.call("POST", "/v1/models/default/preview", {"document": draft}, headers=KEY)
    assert started.status == 202, started.body
    body = started.json()
    assert body["dry_run"] and not body["notify"] and body["model_version"] == 2
    second = api.call("POST", "/v1/models/default/preview", {"document": draft}, headers=KEY)
    assert second.status == 409  # one job per model at a time
    leads = table_items("LEAD#")

    worker = load_function("rescore")
    chunk: dict[str, Any] | None = None
    while batch := queue.receive():
        answer = worker.lambda_handler({"Records": [sqs_record(m) for m in batch]}, LambdaContext())
        assert answer == {"batchItemFailures": []}
        for message in batch:
            chunk = chunk or (message if '"chunk"' in message["Body"] else None)
            queue.delete(message)
    done = api.call("GET", body["progress_url"], headers=KEY).json()
    assert done["status"] == "completed" and done["leads_total"] == done["leads_done"] == LEADS
    assert table_items("LEAD#") == leads  # a dry run writes nothing
    assert sum(done["scores"]["before"]) == sum(done["scores"]["after"]) == LEADS
    assert done["scores"]["before"] != done["scores"]["after"]
    grid = done["ratings"]
    assert sum(n for row in grid.values() for n in row.values()) == done["leads_total"]
    assert len(done["became_mql"]) == done["new_mqls"] > 0  # fewer than 20 here
    assert len(done["left_mql"]) == done["lost_mqls"]
    assert set(done["became_mql"]) <= set(emails())

    assert chunk is not None  # SQS delivers a chunk once more: nothing is counted twice
    worker.lambda_handler({"Records": [sqs_record(chunk)]}, LambdaContext())
    assert api.call("GET", body["progress_url"], headers=KEY).json() == done

    bad = {"document": DEFAULT.replace("weight: 30\n", "weight: thirty\n", 1)}
    assert api.call("POST", "/v1/models/default/preview", bad, headers=KEY).status == 422
    unknown = {"document": DEFAULT.replace("id: default", "id: nope", 1)}
    assert api.call("POST", "/v1/models/nope/preview", unknown, headers=KEY).status == 404


def test_preview_refuses_a_draft_larger_than_its_job_keeps(api: Any) -> None:
    draft = yaml.safe_load(DEFAULT)
    draft["engagement"]["rules"] += [
        {
            "name": f"form_{n}",
            "event": "form_submit",
            "where": {"form": {"in": [f"form-{n}-{k:03d}-{'x' * 30}" for k in range(30)]}},
            "points": 1,
        }
        for n in range(100)
    ]
    assert api.call("POST", "/v1/models/default/validate", draft, headers=JSON).json()["valid"]
    refused = api.call("POST", "/v1/models/default/preview", {"document": draft}, headers=KEY)
    assert refused.status == 422
    assert refused.json()["errors"] == [
        {
            "field": "document",
            "message": f"too large to preview: over {MAX_PREVIEW_DRAFT:,} bytes as JSON",
        }
    ]


def test_publish_takes_the_model_as_yaml_text(api: Any) -> None:
    text = DEFAULT.replace("id: default\n", "", 1)  # the path's id
    assert api.call("POST", "/v1/models/default/validate", text, headers=YAML).json()["valid"]
    for media in ("application/yaml", "text/yaml; charset=utf-8"):
        answer = api.call("PUT", "/v1/models/default", text, headers={**KEY, "Content-Type": media})
        assert answer.status == 200, answer.body
        assert answer.headers["Location"] == "/v1/models/default"
    published = api.call("GET", "/v1/models/default", headers=KEY).json()
    assert published["version"] == 2 and published["id"] == "default"
    as_json = json.dumps({**yaml.safe_load(text), "id": "default"})  # the same document
    assert api.call("PUT", "/v1/models/default", as_json, headers=JSON).status == 200
    assert api.call("GET", "/v1/models/default", headers=KEY).json() | {"version": 2} == published

    def served(published: dict[str, Any]) -> list[Any]:
        geography = next(c for c in published["fit"]["categories"] if c["name"] == "geography")
        return next(c["in"] for c in geography["criteria"] if c["name"] == "served")

    # YAML 1.1 as validate reads it: NO is false unless quoted (YAML 1.2 would keep "NO")
    assert "NO" in served(published)  # the shipped model quotes it
    unquoted = text.replace("DK, 'NO', FI", "DK, NO, FI", 1)
    assert api.call("PUT", "/v1/models/default", unquoted, headers=YAML).status == 200
    assert "NO" not in served(api.call("GET", "/v1/models/default", headers=KEY).json())

    broken = DEFAULT.replace("weight: 30\n", "weight: thirty\n", 1)
    refused = api.call("PUT", "/v1/models/default", broken, headers=YAML)
    assert refused.status == 422 and refused.json()["detail"] == "the model has 1 problem"
    [error] = refused.json()["errors"]
    assert error["field"] == "fit.categories[0].weight"
    assert broken.splitlines()[error["line"] - 1].strip() == "weight: thirty"
    other = api.call("PUT", "/v1/models/other", DEFAULT, headers=YAML).json()["errors"]
    assert [(e["field"], e["line"]) for e in other] == [("id", 2)]
    syntax = api.call("PUT", "/v1/models/default", "id: x\n  a: b\n", headers=YAML).json()
    assert [(e["field"], e["line"], e["column"]) for e in syntax["errors"]] == [("", 2, 4)]
    latin1 = {**KEY, "Content-Type": "application/yaml"}
    assert (
        api.call(
            "PUT", "/v1/models/default", "name: caf\xe9".encode("latin-1"), headers=latin1
        ).json()["errors"][0]["message"]
        == "not UTF-8 text"
    )
    assert api.call("PUT", "/v1/models/default", "x" * 400_001, headers=YAML).status == 413
    assert api.call("GET", "/v1/models/default", headers=KEY).json()["version"] == 4


@pytest.mark.parametrize(
    "value", ["2001-13-45", "1" * 5000, "!!bool maybe"], ids=["date", "digits", "tag"]
)
def test_every_draft_route_answers_a_scalar_yaml_cannot_build_at_its_line(
    api: Any, value: str
) -> None:
    text = DEFAULT.replace("weight: 30\n", f"weight: {value}\n", 1)
    line = text.splitlines().index(f"      weight: {value}") + 1

    def placed(errors: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [(e.get("field", e.get("path")), e["line"], e["column"]) for e in errors]

    checked = api.call("POST", "/v1/models/default/validate", text, headers=YAML)
    assert checked.status == 200 and placed(checked.json()["problems"]) == [("", line, 15)]
    body = {"document": text, "email": "jane@acme-corp.com"}  # the draft is read first
    for route, sent in [("try", body), ("preview", {"document": text})]:
        answer = api.call("POST", f"/v1/models/default/{route}", sent, headers=KEY)
        assert answer.status == 422 and placed(answer.json()["errors"]) == [("", line, 15)]
    published = api.call("PUT", "/v1/models/default", text, headers=YAML)
    assert published.status == 422 and placed(published.json()["errors"]) == [("", line, 15)]


def test_publish_refuses_a_model_larger_than_its_item_holds(api: Any) -> None:
    # 24 KB of YAML whose aliases make a valid model of 548 KB as JSON (DynamoDB: 400 KB)
    values = ", ".join(f"form-{k:03d}-{'x' * 90}" for k in range(30))
    rules = [f"{{name: f0, event: form_submit, where: {{form: {{in: &v [{values}]}}}}, points: 1}}"]
    rules += [
        f"{{name: f{n}, event: form_submit, where: {{form: {{in: *v}}}}, points: 1}}"
        for n in range(1, 170)
    ]
    start = "    - {name: demo_request,"
    text = DEFAULT.replace(start, "".join(f"    - {rule}\n" for rule in rules) + start, 1)
    assert len(text) < 30_000
    assert api.call("POST", "/v1/models/default/validate", text, headers=YAML).json()["valid"]
    refused = api.call("PUT", "/v1/models/default", text, headers=YAML)
    assert refused.status == 422
    assert refused.json()["errors"] == [
        {"field": "", "message": f"too large to publish: over {MAX_MODEL_DOCUMENT:,} bytes as JSON"}
    ]
    assert api.call("GET", "/v1/models/default", headers=KEY).status == 404  # nothing published
