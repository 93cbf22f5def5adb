"""Website tracking's costs (against moto): DynamoDB requests and capacity units per page
view, anonymous and identified, and what crediting a visitor's N events to the lead it
becomes costs; then `POST /v1/collect` in process (p50/p99).

Units are counted by tests/bench/capacity.py, as DynamoDB bills them: BatchWriteItem (the
visits are kept with it) per item, transactions 2x, every index write by its projection.
"""

from __future__ import annotations

import json
import random
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench.capacity import CapacityMeter, header, row
from tests.bench.common import ROOT, TABLE, Quiet, fake_aws_environment

fake_aws_environment()
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
PAGES = ["/pricing", "/blog/a", "/product/x", "/", "/careers", "/demo"]


def visitor(n: int) -> str:
    return f"bench-visitor-{n:08d}"


def page_view(n: int, who: str, minutes_ago: float, rng: random.Random) -> Any:
    from leadscore.domain.events import Event

    url = "https://v.example" + rng.choice(PAGES)
    at = NOW - timedelta(minutes=minutes_ago)
    return Event(
        f"web-{who}-{n}", "page_view", at, None, {"url": url, "title": "Page"}, None, "snippet"
    )


MODELS: list[Any] = []  # one model cache for the run, as a warm scorer has


def score(records: list[tuple[str, str]]) -> Any:
    from leadscore.adapters.dynamo_store import DynamoLeadStore
    from leadscore.adapters.dynamo_visitors import DynamoVisitors
    from leadscore.adapters.model_store import CachedModels
    from leadscore.services.scoring import score_messages

    if not MODELS:
        MODELS.append(CachedModels(ttl=3_600))
    outcome = score_messages(
        records, DynamoLeadStore(), MODELS[0], Quiet(), clock=lambda: NOW,
        visitors=DynamoVisitors(), untrusted_per_hour=10_000,
    )  # fmt: skip
    assert not outcome.failed, outcome
    return outcome


def page_views(visitors: int, batches: int, identified: bool) -> tuple[CapacityMeter, int]:
    """Batches of 10 page views over `visitors` visitors (linked to leads first if
    `identified`); the meter of the page views alone."""
    from leadscore.domain.events import Event
    from leadscore.domain.messages import Entry, encode

    rng = random.Random(visitors)
    prefix = "id" if identified else "anon"
    if identified:
        for v in range(visitors):
            claim = Event(f"form-{v}", "form_submit", NOW, None, {"form": "demo"}, None, "form")
            entry = Entry(f"lead{v}@corp.example", claim, visitor(v) + prefix)
            score([(f"c{v}", next(encode([entry], NOW)))])
    with CapacityMeter() as meter:
        for b in range(batches):
            records = []
            for n in range(10):
                who = visitor(rng.randrange(visitors)) + prefix
                event = page_view(b * 10 + n, who, rng.uniform(0, 600), rng)
                records.append((f"m{n}", next(encode([Entry(None, event, who)], NOW))))
            score(records)
    return meter, batches * 10


def crediting(count: int) -> CapacityMeter:
    """A visitor with `count` page views over the last 20 days posts a form: the meter of
    that form's scoring, its credit included."""
    from leadscore.domain.events import Event
    from leadscore.domain.messages import Entry, encode

    rng = random.Random(count)
    who = f"credit-visitor-{count:06d}"
    views = [page_view(n, who, rng.uniform(0, 20 * 1440), rng) for n in range(count)]
    for start in range(0, count, 10):
        chunk = views[start : start + 10]
        score([(f"v{n}", next(encode([Entry(None, e, who)], NOW))) for n, e in enumerate(chunk)])
    claim = Event(f"form-{who}", "form_submit", NOW, None, {"form": "demo"}, None, "form")
    with CapacityMeter() as meter:
        outcome = score([("claim", next(encode([Entry(f"{who}@corp.example", claim, who)], NOW)))])
    assert outcome.visits.credited == count, outcome.visits
    return meter


class CountingQueue:
    """The scoring queue's place: counts what the route would send (SQS is not timed)."""

    def __init__(self) -> None:
        self.entries = 0

    def send(self, entries: Any, received_at: datetime) -> int:
        self.entries += len(list(entries))
        return 1


def collect_timing(requests: int = 2_000) -> None:
    """POST /v1/collect through the public function's handler, in process, a page view each:
    its own work (site and origin checks, validation, the entries), the queue faked."""
    import os
    import time

    from tests.conftest import load_function
    from tests.integration.api_client import LambdaContext, proxy_event

    origin = "https://www.vendor.example"
    os.environ.update(QUEUE_URL="https://sqs.us-east-1.amazonaws.com/1/scoring",
                      LEADSCORE_TRACKING_SITES=f"www={origin}")  # fmt: skip
    public = load_function("public_api")
    queue = public.deps.queue = CountingQueue()
    browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"
    headers = {"content-type": "text/plain;charset=UTF-8", "Origin": origin, "User-Agent": browser}
    times = []
    for n in range(requests):
        view = {"id": f"pv{n:08d}", "type": "page_view", "at": int(time.time() * 1000),
                "url": f"{origin}/pricing", "referrer": "", "title": "Pricing"}  # fmt: skip
        body = json.dumps({"site": "www", "visitor": "Vq3xJ0c9bJm1TqKz5sWf2A", "events": [view]})
        event = proxy_event("POST", "/v1/collect", body, headers=headers)
        start = time.perf_counter()
        answer = public.lambda_handler(event, LambdaContext())
        times.append((time.perf_counter() - start) * 1000)
        assert answer["statusCode"] == 204, answer
    assert queue.entries == requests
    p50 = statistics.median(times)
    p99 = statistics.quantiles(times, n=100)[98]
    print(f"POST /v1/collect in process, one page view: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
          f"({requests:,} requests; the SQS send not included)")  # fmt: skip


def main() -> None:
    import boto3
    from leadscore.adapters import model_store
    from leadscore_tools.modelfiles import load_model
    from leadscore_tools.template import table_definition
    from moto import mock_aws

    print("Website tracking: DynamoDB per page view (moto, default model, batches of 10)")
    with mock_aws():
        boto3.client("dynamodb").create_table(TableName=TABLE, **table_definition())
        model_store.publish(load_model(ROOT / "models" / "default.yaml"), NOW)
        meter, views = page_views(10, 50, identified=False)
        print(header("scenario", 34, meter, "view"))
        print(row("anonymous, 10 visitors", 34, meter, views))
        meter, views = page_views(10, 50, identified=True)
        print(row("identified (linked), 10 visitors", 34, meter, views))
        print()
        print("Crediting a visitor's N page views when it posts a form (the form's batch)")
        for count in (10, 100):
            meter = crediting(count)
            if count == 10:
                print(header("N", 34, meter, "form"))
            print(row(f"{count} page views", 34, meter, 1))
    collect_timing()
    print(
        "Cost ($/M: per million views or forms): DynamoDB on-demand list prices (us-east-1), "
        "$0.625 per million write units, $0.125 per million read units, every index included; "
        "SQS, Lambda and API Gateway are extra."
    )


if __name__ == "__main__":
    main()
