"""The local stack's sign-in: the template's user pool, client and groups made in moto, the demo
users able to sign in with their group in the ID token, and what the console's config.json says."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from leadscore_tools.intrinsics import Naming
from leadscore_tools.local.console import DEMO_USERS, banner_lines, console_config, create_sign_in
from moto import mock_aws

MOTO = "http://127.0.0.1:5000"


@pytest.fixture
def cognito() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cognito-idp", region_name="us-east-1")


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    parsed: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return parsed


def test_the_templates_pool_is_made_with_one_signed_in_user_per_group(cognito: Any) -> None:
    sign_in = create_sign_in(cognito, Naming(MOTO))
    assert sign_in is not None
    pool = cognito.describe_user_pool(UserPoolId=sign_in.user_pool_id)["UserPool"]
    assert pool["Name"] == "leadscore-console" and pool["UsernameAttributes"] == ["email"]
    client = cognito.describe_user_pool_client(
        UserPoolId=sign_in.user_pool_id, ClientId=sign_in.client_id
    )["UserPoolClient"]
    assert "ClientSecret" not in client
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    for user in DEMO_USERS:
        answer = cognito.initiate_auth(
            AuthFlow="USER_PASSWORD_AUTH",
            ClientId=sign_in.client_id,
            AuthParameters={"USERNAME": user.email, "PASSWORD": user.password},
        )
        token = claims(answer["AuthenticationResult"]["IdToken"])  # no new password asked
        assert token["cognito:groups"] == [user.group]
        assert token["aud"] == sign_in.client_id and token["token_use"] == "id"
        issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{sign_in.user_pool_id}"
        assert token["iss"] == issuer
    assert sign_in.environment() == {
        "LEADSCORE_USER_POOL_ID": sign_in.user_pool_id,
        "LEADSCORE_USER_POOL_CLIENT_ID": sign_in.client_id,
    }


def test_the_console_config_points_at_moto_and_the_banner_names_the_users(cognito: Any) -> None:
    sign_in = create_sign_in(cognito, Naming(MOTO))
    assert sign_in is not None
    assert console_config(sign_in, MOTO) == {
        "api": "",
        "region": "us-east-1",
        "userPoolId": sign_in.user_pool_id,
        "clientId": sign_in.client_id,
        "cognitoEndpoint": "http://127.0.0.1:5000/",
    }
    lines = "\n".join(banner_lines("http://127.0.0.1:3000", sign_in))
    assert "http://127.0.0.1:3000/console/" in lines
    assert "sales@example.com / Sales-demo-1" in lines
    assert "marketing@example.com / Marketing-demo-1" in lines
