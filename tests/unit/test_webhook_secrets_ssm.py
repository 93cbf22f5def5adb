"""Deployed webhook secrets come from SSM under one path; environment variables still win."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from leadscore.adapters.webhooks import WebhookAuthError, WebhookRequest, authenticate
from leadscore.adapters.webhooks.auth import SsmSecrets, ssm_name
from leadscore.api.public import webhook_secrets
from moto import mock_aws

PATH = "/leadscore/webhooks"


@pytest.fixture
def ssm() -> Iterator[object]:
    parameters.clear_caches()  # Powertools keeps answers for max_age across tests otherwise
    with mock_aws():
        client = boto3.client("ssm", region_name="us-east-1")
        yield client
    parameters.clear_caches()


def put(client: object, name: str, value: str) -> None:
    client.put_parameter(Name=name, Value=value, Type="SecureString")  # type: ignore[attr-defined]


def basic_request(credentials: str) -> WebhookRequest:
    token = base64.b64encode(credentials.encode()).decode()
    return WebhookRequest(
        provider="mailgun",
        method="POST",
        headers={"Authorization": f"Basic {token}"},
        body=b"{}",
        query={},
        url="https://api.example.com/v1/webhooks/mailgun",
    )


def test_secret_names_map_to_parameter_names() -> None:
    assert ssm_name("basic:sendgrid") == "basic-sendgrid"
    assert ssm_name("sendgrid") == "sendgrid"
    assert ssm_name("allow-unsigned:unisender_go") == "allow-unsigned-unisender_go"


def test_secrets_are_read_from_securestrings_under_the_path(ssm: object) -> None:
    put(ssm, f"{PATH}/basic-mailgun", "mailgun:s3cret")
    put(ssm, f"{PATH}/sendgrid", "PUBLIC-KEY")
    put(ssm, "/elsewhere/basic-mailgun", "not:this")
    secrets = SsmSecrets(PATH)
    assert secrets.get("basic:mailgun") == "mailgun:s3cret"
    assert secrets.get("sendgrid") == "PUBLIC-KEY"
    assert secrets.get("token:mailgun") is None
    now = datetime.now(UTC)
    authenticate(basic_request("mailgun:s3cret"), secrets, now, verify=None)
    with pytest.raises(WebhookAuthError):
        authenticate(basic_request("mailgun:wrong"), secrets, now, verify=None)


def test_the_path_is_read_once_then_cached(ssm: object) -> None:
    calls: list[str] = []

    def fetch(path: str) -> dict[str, str]:
        calls.append(path)
        return {"basic-mailgun": "a:b"}

    secrets = SsmSecrets("/leadscore/webhooks/", fetch)
    assert secrets.get("basic:mailgun") == "a:b"
    assert calls == [PATH]
    put(ssm, f"{PATH}/basic-postmark", "p:q")
    real = SsmSecrets(PATH)
    assert real.get("basic:postmark") == "p:q"
    put(ssm, f"{PATH}/basic-brevo", "added:later")
    assert real.get("basic:brevo") is None  # within Powertools' 5-minute cache


def test_api_prefers_the_environment_then_ssm(ssm: object) -> None:
    put(ssm, f"{PATH}/basic-mailgun", "from:ssm")
    put(ssm, f"{PATH}/basic-postmark", "only:ssm")
    secrets = webhook_secrets({"LEADSCORE_WEBHOOK_BASIC_MAILGUN": "from:environment"}, PATH)
    assert secrets.get("basic:mailgun") == "from:environment"
    assert secrets.get("basic:postmark") == "only:ssm"
    assert secrets.get("basic:brevo") is None


def test_without_a_path_only_the_environment_is_read() -> None:
    secrets = webhook_secrets({"LEADSCORE_WEBHOOK_BASIC_MAILGUN": "a:b"})
    assert secrets.get("basic:mailgun") == "a:b"
    assert secrets.get("basic:postmark") is None  # no AWS call: there is no mock here
