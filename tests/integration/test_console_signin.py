"""The console's sign-in on the local stack: the demo users sign in at moto's Cognito as the
console does (InitiateAuth, USER_PASSWORD_AUTH), and the API lets their ID tokens in with
their group's scope, as API Gateway's authorizer would deployed."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from leadscore_tools.local.console import DEMO_USERS
from leadscore_tools.local.process import LocalStackProcess

pytestmark = pytest.mark.slow  # a real start of the stack

KEY = "local-test-key"
SALES, MARKETING = DEMO_USERS


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStackProcess]:
    process = LocalStackProcess("--no-schedules", api_key=KEY).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def cognito(stack: LocalStackProcess) -> Any:
    return boto3.client(
        "cognito-idp",
        endpoint_url=stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def client_id(cognito: Any) -> str:
    [pool] = cognito.list_user_pools(MaxResults=10)["UserPools"]
    [client] = cognito.list_user_pool_clients(UserPoolId=pool["Id"], MaxResults=10)[
        "UserPoolClients"
    ]
    return str(client["ClientId"])


def sign_in(cognito: Any, client_id: str, email: str, password: str) -> str:
    """The console's sign-in: the ID token of InitiateAuth with USER_PASSWORD_AUTH."""
    answer = cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=client_id,
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )
    return str(answer["AuthenticationResult"]["IdToken"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_banner_shows_the_console_and_its_demo_users(stack: LocalStackProcess) -> None:
    deadline = time.monotonic() + 30  # the banner follows the first health answer
    while "sign in as" not in stack.console() and time.monotonic() < deadline:
        time.sleep(0.1)
    console = stack.console()
    assert f"{stack.api_url}/console/" in console
    for user in DEMO_USERS:
        assert f"{user.email} / {user.password}" in console


def test_a_salesperson_reads_leads_but_may_not_publish_a_model(
    stack: LocalStackProcess, cognito: Any, client_id: str
) -> None:
    token = sign_in(cognito, client_id, SALES.email, SALES.password)
    status, answer = stack.request("GET", "/v1/leads?model=default", headers=bearer(token))
    assert status == 200, answer
    status, model = stack.request("GET", "/v1/models/default", headers={"x-api-key": KEY})
    assert status == 200
    status, refusal = stack.request("PUT", "/v1/models/default", model, headers=bearer(token))
    assert status == 403, refusal


def test_marketing_may_publish_a_model(
    stack: LocalStackProcess, cognito: Any, client_id: str
) -> None:
    token = sign_in(cognito, client_id, MARKETING.email, MARKETING.password)
    status, model = stack.request("GET", "/v1/models/default", headers=bearer(token))
    assert status == 200, model
    status, published = stack.request("PUT", "/v1/models/default", model, headers=bearer(token))
    assert status == 200, published
    assert published["id"] == "default" and published["version"] > model["version"]


def test_no_token_a_forged_one_or_a_wrong_password_gets_nobody_in(
    stack: LocalStackProcess, cognito: Any, client_id: str
) -> None:
    token = sign_in(cognito, client_id, SALES.email, SALES.password)
    head, payload, signature = token.split(".")
    for headers in ({}, bearer(""), bearer(f"{head}.{payload}.{signature[::-1]}"), bearer("x")):
        status, refusal = stack.request("GET", "/v1/leads?model=default", headers=headers)
        assert status == 401, (headers, refusal)
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        sign_in(cognito, client_id, SALES.email, "Wrong-password-1")


def cognito_call(
    stack: LocalStackProcess, method: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """A request to moto's Cognito as a browser on the console's page sends it."""
    request = urllib.request.Request(
        stack.moto_url + "/", data=body, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_browser_may_sign_in_at_moto_from_the_console_origin_only(
    stack: LocalStackProcess, client_id: str
) -> None:
    """fetch() with X-Amz-Target is preflighted: moto alone would fail the OPTIONS."""
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-amz-target",
    }
    status, headers, _ = cognito_call(
        stack, "OPTIONS", None, {"Origin": stack.api_url, **preflight}
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == stack.api_url
    assert "x-amz-target" in headers["Access-Control-Allow-Headers"].lower()
    _, elsewhere, _ = cognito_call(
        stack, "OPTIONS", None, {"Origin": "https://evil.example", **preflight}
    )
    assert "Access-Control-Allow-Origin" not in elsewhere

    body = {
        "AuthFlow": "USER_PASSWORD_AUTH",
        "ClientId": client_id,
        "AuthParameters": {"USERNAME": SALES.email, "PASSWORD": SALES.password},
    }
    status, headers, answer = cognito_call(
        stack,
        "POST",
        json.dumps(body).encode(),
        {
            "Origin": stack.api_url,
            "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == stack.api_url
    token = json.loads(answer)["AuthenticationResult"]["IdToken"]
    assert stack.request("GET", "/v1/leads?model=default", headers=bearer(token))[0] == 200


def test_api_keys_work_as_before_beside_tokens(
    stack: LocalStackProcess, cognito: Any, client_id: str
) -> None:
    status, _ = stack.request("GET", "/v1/leads?model=default", headers={"x-api-key": KEY})
    assert status == 200
    token = sign_in(cognito, client_id, MARKETING.email, MARKETING.password)
    both = {"x-api-key": KEY, **bearer(token)}  # one credential per request
    status, _ = stack.request("GET", "/v1/leads?model=default", headers=both)
    assert status == 401
