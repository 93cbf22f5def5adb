"""The rescore queue in SQS: a job's list steps and chunks as messages.

Design: docs/design/rescoring.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


class SqsRescoreQueue:
    """`RescoreQueue` on SQS: SendMessageBatch, ten messages per request."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._url = queue_url

    def send(self, bodies: Sequence[dict[str, Any]], delay_seconds: int = 0) -> None:
        for start in range(0, len(bodies), 10):
            entries = [
                {
                    "Id": str(n),
                    "MessageBody": json.dumps(body, separators=(",", ":")),
                    "DelaySeconds": delay_seconds,
                }
                for n, body in enumerate(bodies[start : start + 10])
            ]
            answer = self._client.send_message_batch(QueueUrl=self._url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"the rescore queue refused {len(answer['Failed'])} messages")
