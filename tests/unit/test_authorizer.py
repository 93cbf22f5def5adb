"""The API key authorizer: its answer to a known, unknown and revoked key, and its cache key."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from leadscore.adapters.api_keys import ApiKeys, RememberedKeys
from leadscore.settings import settings
from leadscore_tools.template import load_template

from tests.conftest import ROOT, LambdaContext, load_function

SAMPLE = json.loads((ROOT / "events" / "authorizer_request.json").read_text())


def request(key: str | None) -> dict[str, Any]:
    headers = {k: v for k, v in SAMPLE["headers"].items() if k != "x-api-key"}
    return {**SAMPLE, "headers": headers | ({"X-Api-Key": key} if key is not None else {})}


def test_a_known_key_is_allowed_every_route_of_the_stage_with_its_scopes(aws: None) -> None:
    keys = ApiKeys(boto3.client("dynamodb"), settings().table_name)
    key, record = keys.create("crm", ["sales", "ingest"], datetime.now(UTC))
    authorizer = load_function("authorizer")
    answer = authorizer.lambda_handler(request(key), LambdaContext())
    # Cached per key for every route: the policy must cover them all, the scopes decide.
    assert answer == {
        "principalId": record.key_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*",
                }
            ],
        },
        "context": {"key_id": record.key_id, "scopes": "ingest sales"},
    }
    assert key not in json.dumps(answer)


@pytest.mark.parametrize("key", [None, "", "lsk_unknown", "revoked"])
def test_unknown_revoked_or_missing_keys_are_unauthorized(aws: None, key: str | None) -> None:
    keys = ApiKeys(boto3.client("dynamodb"), settings().table_name)
    if key == "revoked":
        key, record = keys.create("old", ["admin"], datetime.now(UTC))
        keys.revoke(record.key_id, datetime.now(UTC))
    authorizer = load_function("authorizer")
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.lambda_handler(request(key), LambdaContext())


def test_the_keyed_routes_authorizer_takes_a_key_or_a_token_and_caches_neither() -> None:
    """API Gateway ANDs identity sources: naming x-api-key would refuse the console's
    Bearer token unseen. Without one, caching must be off, or one caller's answer would be
    served to every other."""
    auth = load_template()["Resources"]["Api"]["Properties"]["Auth"]
    spec = auth["Authorizers"][auth["DefaultAuthorizer"]]
    assert spec["FunctionPayloadType"] == "REQUEST"
    assert spec["Identity"] == {"ReauthorizeEvery": 0}


def test_the_segment_authorizer_is_cached_per_authorization_header() -> None:
    auth = load_template()["Resources"]["Api"]["Properties"]["Auth"]
    spec = auth["Authorizers"]["BasicKeyAuthorizer"]
    assert spec["Identity"]["Headers"] == ["Authorization"]  # the cache key: the key itself
    assert 0 < spec["Identity"]["ReauthorizeEvery"] <= 300  # a revocation's longest delay


def test_the_authorizer_knows_the_console_user_pool() -> None:
    resources = load_template()["Resources"]
    variables = resources["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["LEADSCORE_USER_POOL_ID"] == {"Ref": "UserPool"}
    assert variables["LEADSCORE_USER_POOL_CLIENT_ID"] == {"Ref": "UserPoolClient"}
    client = resources["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False  # a browser keeps no secret
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    groups = {
        r["Properties"]["GroupName"]
        for r in resources.values()
        if r["Type"] == "AWS::Cognito::UserPoolGroup"
    }
    assert groups == {"sales", "marketing"}


def test_the_authorizer_may_only_read_api_key_items() -> None:
    function = load_template()["Resources"]["AuthorizerFunction"]["Properties"]
    [policy] = function["Policies"]
    [statement] = policy["Statement"]
    assert statement["Action"] == "dynamodb:GetItem"
    condition = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert condition == ["APIKEY#*"]


def test_a_key_found_is_remembered_a_minute_and_a_revocation_holds_after_it(aws: None) -> None:
    """No API Gateway cache on the keyed routes: the authorizer reads a key once a minute per
    container, not once a request; a revoked key is refused once its minute is over."""
    keys = ApiKeys(boto3.client("dynamodb"), settings().table_name)
    key, record = keys.create("crm", ["ingest"], datetime.now(UTC))
    reads: list[str] = []

    class Counted:
        def verify(self, presented: str) -> Any:
            reads.append(presented)
            return keys.verify(presented)

    now = [1_000.0]
    remembered = RememberedKeys(Counted(), seconds=60, clock=lambda: now[0])  # type: ignore[arg-type]
    assert [remembered.verify(key) for _ in range(5)] == [record] * 5
    assert len(reads) == 1
    keys.revoke(record.key_id, datetime.now(UTC))
    now[0] += 59
    assert remembered.verify(key) == record  # within its minute
    now[0] += 2
    assert remembered.verify(key) is None and len(reads) == 2
    assert remembered.verify("lsk_unknown") is None and len(reads) == 3  # misses always read
