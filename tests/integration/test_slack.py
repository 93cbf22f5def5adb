"""Slack notifier against a real HTTP server on 127.0.0.1: Block Kit, retries, giving up."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from leadscore.adapters import slack

from tests.conftest import FakeSlack, LambdaContext, load_function

DOCUMENT = {
    "kind": "lead.mql",
    "id": "lead.mql:default:abc:1",
    "email": "jane@acme.example",
    "name": "Jane <!channel> Doe",
    "company": "Acme & Co",
    "model": "default",
    "score": 81.0,
    "fit": 92.0,
    "engagement": 70.0,
    "grade": "A",
    "engagement_level": 2,
    "rating": "A2",
    "reasons": [{"rule": "engagement.demo_request", "points": 20.0, "count": 1}],
    "sla_due_at": "2026-11-03T12:00:00Z",
}


@pytest.fixture
def fake_slack(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeSlack]]:
    with FakeSlack(getattr(request, "param", []), retry_after=7) as slack:
        yield slack.url, slack


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """What the retry policy waits between attempts, recorded instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr(time, "sleep", waited.append)
    return waited


def test_block_kit_message_has_header_fields_and_reasons() -> None:
    message = slack.blocks(DOCUMENT)
    header, fields, reasons, _context = message["blocks"]
    assert header["text"]["text"] == "New MQL: A2 Jane <!channel> Doe"  # plain_text: not parsed
    texts = [f["text"] for f in fields["fields"]]
    assert texts[0] == "*Company*\nAcme &amp; Co"
    assert "*Score*\n81.0/100" in texts and "*SLA due*\n2026-11-03T12:00:00Z" in texts
    assert "+20  engagement.demo_request" in reasons["text"]["text"]
    assert "&lt;!channel&gt;" in message["text"]  # no @channel ping from user data


@pytest.mark.parametrize("fake_slack", [[503, 429, 502]], indirect=True)
def test_retries_429_after_its_retry_after_and_5xx_with_backoff(
    fake_slack: tuple[str, FakeSlack], sleeps: list[float]
) -> None:
    url, state = fake_slack
    slack.post(url, slack.blocks(DOCUMENT), backoff=0.5)
    # the first retry is immediate, the 429's Retry-After: 7 is obeyed, then 4 x backoff
    assert len(state.bodies) == 4 and sleeps == [7.0, 2.0]


@pytest.mark.parametrize("fake_slack", [[500] * 5], indirect=True)
def test_gives_up_loudly_after_every_attempt(
    fake_slack: tuple[str, FakeSlack], sleeps: list[float]
) -> None:
    url, state = fake_slack
    with pytest.raises(slack.SlackError, match=r"after 5 attempts \(HTTP 500\)"):
        slack.post(url, slack.blocks(DOCUMENT))
    assert len(state.bodies) == 5 and len(sleeps) == 3  # the first retry does not wait


def test_an_unreachable_slack_is_retried_then_reported(sleeps: list[float]) -> None:
    with FakeSlack() as closed:
        url = closed.url
    with pytest.raises(slack.SlackError, match="after 3 attempts"):
        slack.post(url, slack.blocks(DOCUMENT), attempts=3)


@pytest.mark.parametrize("fake_slack", [[404]], indirect=True)
def test_refusal_is_not_retried(fake_slack: tuple[str, FakeSlack], sleeps: list[float]) -> None:
    url, state = fake_slack
    with pytest.raises(slack.SlackError, match="HTTP 404"):
        slack.post(url, slack.blocks(DOCUMENT))
    assert len(state.bodies) == 1 and sleeps == []


def test_handler_posts_each_sns_notification_with_url_from_ssm(
    aws: None, fake_slack: tuple[str, FakeSlack], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    url, state = fake_slack
    boto3.client("ssm").put_parameter(Name="/leadscore/slack", Value=url, Type="SecureString")
    monkeypatch.setenv("SLACK_WEBHOOK_PARAMETER", "/leadscore/slack")
    app = load_function("slack_notifier")
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "Sns": {"Message": json.dumps(DOCUMENT), "Subject": "x", "MessageAttributes": {}},
            }
        ]
    }
    assert app.lambda_handler(event, LambdaContext()) == {"posted": 1}
    assert state.bodies[0]["blocks"][0]["text"]["text"].startswith("New MQL: A2")
