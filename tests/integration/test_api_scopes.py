"""Scoped API keys, end to end as deployed: every route of template.yaml, through API
Gateway's routing and the key authorizer (the local gateway runs both from the template),
with a key of each scope, no key, an unknown key and a revoked key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import boto3
import pytest
import yaml
from leadscore.adapters import model_store
from leadscore.adapters.api_keys import ApiKeys
from leadscore.settings import settings
from leadscore_tools.intrinsics import Naming
from leadscore_tools.local.gateway import Gateway, Request
from leadscore_tools.template import read_stack

from tests.conftest import ROOT, LambdaContext, load_function
from tests.integration.api_client import make_api

DEFAULT_MODEL = yaml.safe_load((ROOT / "models" / "default.yaml").read_text())
EVENT = {"email": "ada@acme-corp.com", "type": "page_view"}
# One request per route of the template, and what it answers with a key that may use it.
REQUESTS: list[tuple[str, str, Any, int]] = [
    ("GET", "/v1/health", None, 200),
    ("POST", "/v1/forms", {"email": "ada@acme-corp.com"}, 202),
    ("OPTIONS", "/v1/forms", None, 403),  # no allowed origin: CORS, not the key
    ("POST", "/v1/webhooks/postmark", "{}", 401),  # the platform's own secret, not the key
    ("GET", "/v1/webhooks/mailchimp", None, 200),
    ("HEAD", "/v1/webhooks/mailchimp", None, 200),
    ("POST", "/v1/events", EVENT, 202),
    ("GET", "/v1/leads/nobody%40acme-corp.com", None, 404),
    ("GET", "/v1/leads/nobody%40acme-corp.com/history", None, 404),
    ("POST", "/v1/leads/nobody%40acme-corp.com/feedback", {"outcome": "won"}, 404),
    ("DELETE", "/v1/leads/nobody%40acme-corp.com", None, 204),
    ("GET", "/v1/accounts/acme-corp.com", None, 404),
    ("GET", "/v1/models", None, 200),
    ("GET", "/v1/models/default", None, 200),
    ("PUT", "/v1/models/default", DEFAULT_MODEL, 200),
    ("POST", "/v1/models/default/rescore", {"dry_run": True}, 202),
    ("GET", "/v1/models/default/rescore/nope", None, 404),
]
LEAD = "/v1/leads/nobody%40acme-corp.com"
NEEDS = {  # every other keyed route needs admin
    ("POST", "/v1/events"): "ingest",
    ("GET", LEAD): "sales",
    ("GET", f"{LEAD}/history"): "sales",
    ("POST", f"{LEAD}/feedback"): "sales",
    ("GET", "/v1/accounts/acme-corp.com"): "sales",
}


class Function:
    """A handler module as the local gateway invokes a function."""

    def __init__(self, name: str, module: ModuleType) -> None:
        self.name, self.module = name, module

    def invoke(self, event: dict[str, Any]) -> Any:
        return self.module.lambda_handler(event, LambdaContext())


@pytest.fixture
def keys(aws: None) -> ApiKeys:
    return ApiKeys(boto3.client("dynamodb"), settings().table_name)


@pytest.fixture
def gateway(aws: None, keys: ApiKeys, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    make_api(monkeypatch)  # the queues and the environment the template gives the functions
    model_store.publish(model_store_document(), datetime.now(UTC))
    stack = read_stack(Naming("http://127.0.0.1:5000"))
    functions = {
        "ApiFunction": Function("ApiFunction", load_function("api")),
        "PublicApiFunction": Function("PublicApiFunction", load_function("public_api")),
        "AuthorizerFunction": Function("AuthorizerFunction", load_function("authorizer")),
    }
    yield Gateway(stack.routes, functions, "", stack.stage, [], {}, stack.gateway_responses)  # type: ignore[arg-type]


def model_store_document() -> Any:
    from leadscore_tools.modelfiles import load_model

    return load_model(ROOT / "models" / "default.yaml")


def send(gateway: Gateway, method: str, path: str, body: Any, key: str | None) -> tuple[int, Any]:
    data = b"" if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
    headers = [("Host", "127.0.0.1:3000"), ("content-type", "application/json")]
    headers += [("x-api-key", key)] if key is not None else []
    reply = gateway.handle(Request(method, path, "", headers, data, "127.0.0.1"))
    kind = {k.lower(): v for k, v in reply.headers}.get("content-type", "")
    document = json.loads(reply.body) if reply.body and "json" in kind else None
    return reply.status, document


def scope_of(method: str, path: str) -> str | None:
    if path.startswith(("/v1/health", "/v1/forms", "/v1/webhooks/")):
        return None
    return NEEDS.get((method, path), "admin")


def test_every_route_answers_each_key_by_its_scope(gateway: Gateway, keys: ApiKeys) -> None:
    now = datetime.now(UTC)
    given = {
        scope: keys.create(f"{scope} client", [scope], now)[0]
        for scope in ("ingest", "sales", "admin")
    }
    revoked, record = keys.create("old crm", ["sales", "ingest"], now)
    keys.revoke(record.key_id, now)
    assert {c.route.path for c in gateway.routes} >= {"/v1/leads/{email}", "/v1/forms"}

    for method, path, body, status in REQUESTS:
        needed = scope_of(method, path)
        for key in (None, "lsk_unknown", revoked):
            answer, problem = send(gateway, method, path, body, key)
            if needed is None:  # a public route: the key changes nothing
                assert answer == status, (method, path, key, problem)
            else:
                assert answer == 401, (method, path, key, problem)
                assert problem["status"] == 401 and "x-api-key" in problem["detail"]
        for scope, key in given.items():
            answer, problem = send(gateway, method, path, body, key)
            if needed is None or scope in (needed, "admin"):
                assert answer == status, (method, path, scope, problem)
            else:
                assert answer == 403, (method, path, scope, problem)
                assert problem["status"] == 403 and repr(needed) in problem["detail"]


def test_the_function_checks_the_key_itself_without_the_authorizer(
    aws: None, keys: ApiKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyed route reached without the authorizer (a route deployed without it, a test)
    is refused all the same: the function verifies the header against the key table."""
    api = make_api(monkeypatch)
    sales, _ = keys.create("crm", ["sales"], datetime.now(UTC))
    assert api.call("GET", "/v1/models").status == 401
    assert api.call("GET", "/v1/models", headers={"x-api-key": "nope"}).status == 401
    refused = api.call("GET", "/v1/models", headers={"x-api-key": sales})
    assert refused.status == 403 and refused.headers["Content-Type"] == "application/problem+json"
    assert api.call("GET", "/v1/accounts/acme.com", headers={"x-api-key": sales}).status == 404


def test_keys_are_stored_hashed_listed_and_revoked(keys: ApiKeys) -> None:
    now = datetime.now(UTC)
    key, record = keys.create("crm", ["sales", "ingest"], now)
    assert record.scopes == ("ingest", "sales") and keys.verify(key) == record
    stored = json.dumps(boto3.client("dynamodb").scan(TableName=settings().table_name)["Items"])
    assert key not in stored and key[4:20] not in stored
    assert [k.key_id for k in keys.list()] == [record.key_id]
    keys.revoke(record.key_id, now)
    assert keys.verify(key) is None
    assert keys.list()[0].revoked_at == now.isoformat()
    with pytest.raises(ValueError, match="scopes"):
        keys.create("bad", ["superuser"], now)
