"""The API handler against moto: SQS requests per 1,000 events, and form-post latency.

Run from the project root: `.venv/bin/python -m tests.bench.bench_api`. The first latency
includes moto's in-process SQS; the second stubs the queue to show the handler's own work.
"""

from __future__ import annotations

import os
import statistics
import time
from urllib.parse import urlencode


class NullQueue:
    def send(self, entries: object, received_at: object) -> int:
        return 1


def main() -> None:
    import pytest
    from moto import mock_aws

    import tests.conftest  # noqa: F401  (fake credentials, region, table name)
    from tests.integration.api_client import make_api

    monkeypatch = pytest.MonkeyPatch()
    with mock_aws():
        api = make_api(monkeypatch, LEADSCORE_API_KEY="k")
        events = [
            {
                "email": f"lead{n % 200}@corp{n % 40}.com",
                "type": "page_view",
                "id": f"e{n}",
                "properties": {"url": f"https://vendor.example/page/{n % 30}"},
            }
            for n in range(1000)
        ]
        queue = api.module.deps.queue
        before = queue.requests
        for start in (0, 500):
            answer = api.call(
                "POST", "/v1/events", events[start : start + 500], headers={"x-api-key": "k"}
            )
            assert answer.status == 202
        messages = api.queued()
        print(
            f"1,000 events: {queue.requests - before} SendMessageBatch requests,"
            f" {len(messages)} messages"
        )

        form = urlencode(
            {
                "email": "a@corp.io",
                "first_name": "A",
                "company_size": "51-200",
                "form": "demo-request",
            }
        )
        headers = {"content-type": "application/x-www-form-urlencoded"}

        def measure(label: str) -> None:
            timings = []
            for _ in range(50):
                api.call("POST", "/v1/forms", form, headers=headers)  # warm-up
            for _ in range(500):
                started = time.perf_counter()
                api.call("POST", "/v1/forms", form, headers=headers)
                timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            p50, p99 = statistics.median(timings), timings[int(len(timings) * 0.99) - 1]
            print(
                f"form post, {label}: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({os.cpu_count()} cores)"
            )

        measure("handler + moto SQS")
        api.queued()
        api.module.deps.queue = NullQueue()
        measure("handler alone (queue stubbed)")
    monkeypatch.undo()


if __name__ == "__main__":
    main()
