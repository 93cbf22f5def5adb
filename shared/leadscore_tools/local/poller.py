"""SQS event source mappings: poll a queue, invoke the function with batches, delete what succeeded.

As Lambda's: up to BatchSize records gathered for at most MaximumBatchingWindowInSeconds;
with ReportBatchItemFailures only the reported records are retried, without it (or when
the handler raises) the whole batch; moto's redrive moves a message to the dead-letter
queue after maxReceiveCount receives. One local difference: a failed record becomes
visible again after `retry_seconds` rather than the queue's VisibilityTimeout, so retries
(and the trip to the DLQ) take seconds, not the 6 x timeout a deployed queue waits.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

from leadscore_tools.local.functions import FunctionMissing, LocalFunction
from leadscore_tools.local.logs import log
from leadscore_tools.template import Queue, SqsSource


def lambda_record(message: dict[str, Any], queue: Queue, region: str) -> dict[str, Any]:
    """One record of the Lambda SQS event, from a ReceiveMessage message."""
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": (
                base64.b64encode(value["BinaryValue"]).decode() if "BinaryValue" in value else None
            ),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": [
                base64.b64encode(v).decode() for v in value.get("BinaryListValues", [])
            ],
            "dataType": value.get("DataType"),
        }
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue.arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


class SqsPoller:
    def __init__(
        self,
        source: SqsSource,
        queue: Queue,
        function: LocalFunction,
        sqs: Any,
        region: str,
        retry_seconds: int,
    ) -> None:
        self.source = source
        self.queue = queue
        self.function = function
        self._sqs = sqs
        self._region = region
        self._retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"poller-{queue.logical_id}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    @property
    def consuming(self) -> bool:
        """False while the function's code is missing: its queue then only fills."""
        return self.function.available()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.function.available():
                self.function.load_if_present()  # here, not at start: ready sooner
                if not self.function.available():
                    self._stop.wait(2)
                continue
            try:
                batch = self._gather()
                if batch:
                    self._deliver(batch)
            except Exception:  # keep polling, as the event source mapping does
                if self._stop.is_set():
                    return
                log.exception("%s: polling %s failed", self.function.name, self.queue.name)
                self._stop.wait(1)

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        answer = self._sqs.receive_message(
            QueueUrl=self.queue.url,
            MaxNumberOfMessages=max(1, min(10, count)),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def _gather(self) -> list[dict[str, Any]]:
        """Up to BatchSize messages, waiting at most the batching window once one arrived."""
        batch = self._receive(self.source.batch_size, wait_seconds=1)
        if not batch:
            return batch
        window_ends = time.monotonic() + self.source.batching_window
        while len(batch) < self.source.batch_size and not self._stop.is_set():
            remaining = window_ends - time.monotonic()
            if remaining <= 0:
                break
            more = self._receive(self.source.batch_size - len(batch), wait_seconds=0)
            batch += more
            if not more:
                self._stop.wait(min(remaining, 0.05))
        return batch

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        event = {"Records": [lambda_record(m, self.queue, self._region) for m in batch]}
        ids = {m["MessageId"] for m in batch}
        started = time.perf_counter()
        try:
            result = self.function.invoke(event)
        except FunctionMissing:
            failed = ids
        except Exception:
            log.exception("%s failed on a batch of %d", self.function.name, len(batch))
            failed = ids
        else:
            failed = self._failures(result, ids)
        log.debug(
            "%s: batch of %d, %d failed, in %.0f ms",
            self.function.name,
            len(batch),
            len(failed),
            (time.perf_counter() - started) * 1000,
        )
        succeeded = [m for m in batch if m["MessageId"] not in failed]
        retried = [m for m in batch if m["MessageId"] in failed]
        for start in range(0, len(succeeded), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self.queue.url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                    for n, m in enumerate(succeeded[start : start + 10])
                ],
            )
        if retried:
            self._retry(retried)

    def _failures(self, result: Any, ids: set[str]) -> set[str]:
        if not self.source.report_batch_item_failures:
            return set()
        failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
        if not failures:
            return set()
        failed = {str((f or {}).get("itemIdentifier") or "") for f in failures}
        if not failed <= ids:  # Lambda: an unknown or empty identifier fails the whole batch
            log.warning(
                "%s reported an unknown itemIdentifier; whole batch retried", self.function.name
            )
            return ids
        return failed

    def _retry(self, messages: list[dict[str, Any]]) -> None:
        limit = self.queue.max_receive_count
        for message in messages:
            count = int((message.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
            going = limit is not None and count >= limit
            log.warning(
                "%s: message %s failed (receive %d of %s); %s",
                self.function.name,
                message["MessageId"],
                count,
                limit or "unlimited",
                f"next stop the DLQ {self.queue.dead_letter_queue}"
                if going
                else f"retried in {self._retry_seconds} s",
            )
        for start in range(0, len(messages), 10):
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.queue.url,
                Entries=[
                    {
                        "Id": str(n),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": self._retry_seconds,
                    }
                    for n, m in enumerate(messages[start : start + 10])
                ],
            )
