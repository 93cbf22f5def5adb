"""A lead's owner in its notifications: an SNS attribute one salesperson's subscription
filters on, and a Slack mention (or the owner's email where no member id is configured)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from leadscore.adapters import slack
from leadscore.adapters.sns import SnsPublisher
from leadscore.domain.notifications import Notification, lead_notification

from tests.conftest import FakeSlack, LambdaContext, Topic, load_function

ANNA, BEN = "anna@vendor.example", "ben@vendor.example"
SCORES: dict[str, Any] = {
    "model": "default",
    "model_version": 1,
    "score": 81.0,
    "fit": 92.0,
    "engagement": 70.0,
    "grade": "A",
    "engagement_level": 2,
    "rating": "A2",
    "status": "mql",
    "reasons": [{"rule": "engagement.demo_request", "points": 20.0, "count": 1}],
    "sla_due_at": "2026-11-03T12:00:00Z",
    "mql_since": "2026-11-01T12:00:00Z",
}


def mql(email: str, owner: str | None) -> Notification:
    profile = {"first_name": "Jane", "company": "Acme", "owner": owner}
    return lead_notification("lead.mql", f"lead.mql:default:{email}:1", email, profile, SCORES)


def fields(message: dict[str, Any]) -> dict[str, str]:
    """The Block Kit message's fields, title -> text."""
    texts = [f["text"] for f in message["blocks"][1]["fields"]]
    return dict(text.removeprefix("*").split("*\n", 1) for text in texts)


def test_one_salespersons_subscription_receives_only_their_leads(topic: Topic) -> None:
    import boto3

    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    anna_url = sqs.create_queue(QueueName="anna")["QueueUrl"]
    anna_arn = sqs.get_queue_attributes(QueueUrl=anna_url, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=topic.arn,
        Protocol="sqs",
        Endpoint=anna_arn["Attributes"]["QueueArn"],
        Attributes={"FilterPolicy": json.dumps({"owner": [ANNA]})},
    )
    publisher = SnsPublisher(sns, topic.arn)
    for email, owner in [("a@x.example", ANNA), ("b@x.example", BEN), ("c@x.example", None)]:
        publisher.publish(mql(email, owner))

    everyone = topic.received()
    assert [m["MessageAttributes"].get("owner", {}).get("Value") for m in everyone] == [
        ANNA,
        BEN,
        None,  # nobody owns it: no attribute (SNS takes no empty one)
    ]
    annas = sqs.receive_message(QueueUrl=anna_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(json.loads(m["Body"])["Message"])["email"] for m in annas] == ["a@x.example"]
    document = json.loads(everyone[0]["Message"])
    assert document["owner"] == ANNA


def test_slack_mentions_an_owner_with_a_member_id_and_shows_the_email_otherwise() -> None:
    members = slack.user_ids(f" {ANNA.upper()}=U0123ABC , {BEN}=W0456DEF,")
    assert members == {ANNA: "U0123ABC", BEN: "W0456DEF"}

    mentioned = slack.blocks(mql("a@x.example", ANNA).document, members)
    assert fields(mentioned)["Owner"] == "<@U0123ABC>" and "owner <@U0123ABC>" in mentioned["text"]
    unmapped = slack.blocks(mql("b@x.example", "kim@vendor.example").document, members)
    assert fields(unmapped)["Owner"] == "kim@vendor.example"
    nobody = slack.blocks(mql("c@x.example", None).document)
    assert fields(nobody)["Owner"] == "-" and "owner" not in nobody["text"]


def test_an_owner_cannot_forge_a_mention() -> None:
    document = mql("a@x.example", "<!channel>@x.example").document
    assert fields(slack.blocks(document, {}))["Owner"] == "&lt;!channel&gt;@x.example"


@pytest.mark.parametrize("mapping", ["anna=U0123ABC", f"{ANNA}=u0123abc", f"{ANNA}:U0123ABC"])
def test_a_malformed_member_id_mapping_is_refused(mapping: str) -> None:
    with pytest.raises(ValueError, match="not email=SlackMemberId"):
        slack.user_ids(mapping)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack([]) as fake:
        yield fake


def test_the_notifier_mentions_owners_from_its_deployment_parameter(
    aws: None, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    boto3.client("ssm").put_parameter(
        Name="/leadscore/slack-owners", Value=fake_slack.url, Type="SecureString"
    )
    monkeypatch.setenv("SLACK_WEBHOOK_PARAMETER", "/leadscore/slack-owners")
    monkeypatch.setenv("SLACK_USER_IDS", f"{ANNA}=U0123ABC")
    app = load_function("slack_notifier")
    message = json.dumps(mql("a@x.example", ANNA).document)
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": message}}]}
    assert app.lambda_handler(event, LambdaContext()) == {"posted": 1}
    assert fields(fake_slack.bodies[0])["Owner"] == "<@U0123ABC>"
