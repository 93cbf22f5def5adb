"""The local outbox records what is published to the stack's SNS topics, as SNS received it."""

from __future__ import annotations

import io
import json

from leadscore.adapters.sns import SnsPublisher
from leadscore.domain.notifications import lead_notification
from leadscore_tools.local import outbox as outbox_module
from leadscore_tools.local.outbox import Outbox

SCORES = {
    "model": "default",
    "model_version": 3,
    "score": 72.0,
    "fit": 80.0,
    "engagement": 64.0,
    "grade": "A",
    "engagement_level": 2,
    "rating": "A2",
    "status": "mql",
    "reasons": [{"rule": "engagement.demo_request", "points": 20.0, "count": 1}],
    "sla_due_at": "2026-11-24T12:00:00Z",
    "mql_since": "2026-11-22T12:00:00Z",
}


def test_a_published_notification_is_kept_and_printed() -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        sales = sns.create_topic(Name="sales")["TopicArn"]
        other = sns.create_topic(Name="ops")["TopicArn"]
        console = io.StringIO()
        outbox = Outbox({sales}, console)
        outbox_module.install(outbox)
        try:
            notification = lead_notification(
                "lead.mql", "n-1", "jane@acme.example", {"first_name": "Jane"}, SCORES
            )
            SnsPublisher(sns, sales).publish(notification)
            sns.publish(TopicArn=other, Message="an alarm")  # not the sales topic
        finally:
            outbox_module.install(None)

    [entry] = outbox.entries()
    assert entry["subject"] == notification.subject
    assert entry["message"] == notification.document  # the `default` JSON, parsed
    assert entry["email_text"] == notification.email_text
    assert entry["attributes"] == {
        "kind": "lead.mql",
        "model": "default",
        "rating": "A2",
        "grade": "A",
    }
    assert entry["message_id"] and entry["published_at"].endswith("+00:00")
    printed = console.getvalue()
    assert printed.startswith("[outbox ") and notification.subject in printed
    assert "+20  engagement.demo_request" in printed
    json.dumps(outbox.entries())  # what GET /_local/outbox answers
    assert outbox.clear() == 1 and outbox.entries() == []
