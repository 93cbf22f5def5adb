"""The scoring queue: canonical events packed into messages, sent with SendMessageBatch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from leadscore.domain.events import Event
from leadscore.domain.messages import Entry, encode
from leadscore.domain.packing import packed

MAX_BATCH_ENTRIES = 10  # SendMessageBatch entries per request
MAX_BATCH_BYTES = 240_000  # SendMessageBatch payload limit is 256 KiB in total


class QueueError(RuntimeError):
    """The queue did not take every message (a server-side fault: the client may retry)."""


class ScoringQueue:
    """Sends (email, event) pairs to the scorer; counts its SendMessageBatch requests."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url
        self.requests = 0

    def send(self, entries: Iterable[tuple[str, Event] | Entry], received_at: datetime) -> int:
        """Enqueue the events; returns the number of messages sent."""
        bodies = list(encode(entries, received_at))
        for batch in _batches(bodies):
            self._send_batch(batch)
        return len(bodies)

    def _send_batch(self, bodies: Sequence[str]) -> None:
        pending = {str(n): body for n, body in enumerate(bodies)}
        for _ in range(3):  # partial failures are retried; the scorer dedupes by event id
            self.requests += 1
            answer = self._sqs.send_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": key, "MessageBody": body} for key, body in pending.items()],
            )
            pending = {f["Id"]: pending[f["Id"]] for f in answer.get("Failed", [])}
            if not pending:
                return
        raise QueueError(f"{len(pending)} messages were not accepted by the scoring queue")


class DeadLetterQueue:
    """The scoring queue's dead-letter queue, for records the scorer can never score: each
    with its reason in the message attribute `reason`, for an operator to read and redrive."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._url = queue_url

    def send(self, body: str, reason: str) -> None:
        self._sqs.send_message(
            QueueUrl=self._url,
            MessageBody=body,
            MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1_000]}},
        )


def _batches(bodies: Sequence[str]) -> Iterable[list[str]]:
    return packed(bodies, lambda body: len(body.encode()), MAX_BATCH_BYTES, MAX_BATCH_ENTRIES)
