"""The sales topic on SNS: where notifications are published."""

from __future__ import annotations

import json
from typing import Any

from leadscore.domain.notifications import Notification


class SnsPublisher:
    """Publishes to the sales topic: MessageStructure=json with `default` JSON and `email` text."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, notification: Notification) -> None:
        self._client.publish(
            TopicArn=self._topic_arn,
            Subject=notification.subject,
            MessageStructure="json",
            Message=json.dumps(
                {
                    "default": json.dumps(notification.document, ensure_ascii=False),
                    "email": notification.email_text,
                },
                ensure_ascii=False,
            ),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in notification.attributes.items()
            },
        )
