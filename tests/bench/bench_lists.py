"""The sales lists over N leads in moto: index items read per page of 50 for each list, p50
of a page through the API handler in process, and the write units the list indexes add to a
scored event.

Run from the project root: `.venv/bin/python -m tests.bench.bench_lists [--leads N]`
(the issue's figure: 100,000; the default is smaller, so that it runs in a minute).

The leads' state items are seeded with BatchWriteItem as the scorer leaves them (a tenth are
MQLs, a third have an owner). The write units come from real scoring: a lead's state before
and after one more event (the default model, a pricing page view), turned into each list
index's item; an index write is one put per started KB when a projected attribute changes
and a delete plus a put when its sort key changes (DynamoDB's rule), none when the item
stays out of the index. moto's Query of an index sorts the whole table, so the handler's
time here grows with N; DynamoDB's does not.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench.common import ROOT, TABLE, fake_aws_environment, item_bytes

fake_aws_environment()
AT = datetime(2026, 11, 1, 12, tzinfo=UTC)
PAGE = 50
INDEXES = {  # index -> (partition key, sort key)
    "by_score": ("list_pk", "score"),
    "by_activity": ("list_pk", "last_activity_at"),
    "mql_queue": ("mql_pk", "sla_due_at"),
    "owner_queue": ("owner_pk", "sla_due_at"),
    "mql_since": ("mql_pk", "mql_since"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=10_000)
    leads = parser.parse_args().leads
    import boto3
    from leadscore_tools import moto_atomic
    from leadscore_tools.template import table_definition
    from moto import mock_aws

    moto_atomic.install()
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(TableName=TABLE, **table_definition())
        started = time.perf_counter()
        seed(leads)
        print(f"{leads:,} leads seeded in {time.perf_counter() - started:.0f} s")
        items_read()
        handler_p50()
    write_units()


def _record(n: int, rng: random.Random) -> Any:
    from leadscore.domain.emails import lead_key
    from leadscore.domain.state import LeadState
    from leadscore.services.store import StateRecord

    email = f"person{n}@company{n % 5_000}.example"
    now = int(AT.timestamp())
    state = LeadState("default", 1, score=rng.randint(0, 10_000), grade=rng.choice("ABCD"))
    state.fit, state.engagement = rng.randint(0, 10_000), rng.randint(0, 10_000)
    state.level, state.last_activity_at = rng.randint(1, 4), now - rng.randint(0, 90 * 86_400)
    if n % 10 == 0:
        state.status, state.mql_since = "mql", now - rng.randint(0, 30 * 86_400)
        state.sla_due_at = state.mql_since + 48 * 3_600
    record = StateRecord(lead_key(email), "default", state, account_domain=email.split("@")[1])
    record.email, record.name, record.company = email, f"Person {n}", f"Company {n % 5_000}"
    record.owner = f"seller{n % 7}@sales.example" if n % 3 == 0 else None
    return record


def seed(leads: int) -> None:
    from leadscore.adapters.dynamo import LeadTable
    from leadscore.adapters.dynamo_records import item_of

    rng = random.Random(7)
    with LeadTable.batch_write() as batch:
        for n in range(leads):
            batch.save(item_of(_record(n, rng)))


def items_read() -> None:
    from leadscore.adapters.dynamo_store import DynamoLeadStore
    from leadscore.services.store import ListFilters

    store = DynamoLeadStore()
    lists = [
        ("-score", ListFilters()),
        ("-last_activity_at", ListFilters()),
        ("sla_due_at", ListFilters()),
        ("-mql_since", ListFilters()),
        ("-score", ListFilters(status="mql")),
        ("-score", ListFilters(owner="seller1@sales.example")),
        ("-score", ListFilters(ratings=("A1",), owner="seller1@sales.example")),
        ("sla_due_at", ListFilters(owner="seller1@sales.example")),  # the owner_queue index
    ]
    print(f"\nindex items read per page of {PAGE} (first page; second page)")
    for sort, filters in lists:
        first = store.list_leads("default", sort, filters, PAGE, None)
        second = store.list_leads("default", sort, filters, PAGE, first.cursor)
        shown = {k: v for k, v in vars_of(filters).items() if v}
        print(
            f"  {sort:18} {shown!s:55} rows {len(first.rows):3}, read {first.read:5}; "
            f"rows {len(second.rows):3}, read {second.read:5}"
        )


def vars_of(filters: Any) -> dict[str, Any]:
    return {name: getattr(filters, name) for name in filters.__slots__}


def handler_p50() -> None:
    from tests.conftest import LambdaContext, load_function
    from tests.integration.api_client import proxy_event

    os.environ.update(
        QUEUE_URL="https://sqs.us-east-1.amazonaws.com/123456789012/bench",
        TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:bench",
        LEADSCORE_API_KEY="bench",
        LEADSCORE_WEBHOOK_LIST_CURSOR="bench",  # tests.conftest names another table
    )
    from leadscore.adapters import model_store
    from leadscore_tools.modelfiles import load_model

    model_store.publish(load_model(ROOT / "models" / "default.yaml"), AT - timedelta(days=1))
    api = load_function("api")
    for query in ({"limit": "50"}, {"limit": "50", "sort": "sla_due_at"}):
        times = []
        for _ in range(15):
            event = proxy_event("GET", "/v1/leads", headers={"x-api-key": "bench"}, query=query)
            started = time.perf_counter()
            answer = api.lambda_handler(event, LambdaContext())
            times.append(time.perf_counter() - started)
            assert answer["statusCode"] == 200, answer["body"]
        print(
            f"p50 of a page through the handler ({query}): {statistics.median(times) * 1e3:.0f} ms"
        )


def write_units() -> None:
    from leadscore.adapters.dynamo_records import item_of
    from leadscore.domain import engine
    from leadscore.domain.events import Event
    from leadscore_tools.modelfiles import load_compiled

    model = load_compiled(str(ROOT / "models" / "default.yaml"))
    profile = {"job_title": "VP Engineering", "company_size": "201-500", "country": "United States"}
    rng = random.Random(11)
    units = dict.fromkeys(INDEXES, 0)
    events = 300
    for n in range(events):
        record = _record(n, rng)
        before = _attributes(record, item_of)
        at = AT + timedelta(minutes=n)
        event = Event(f"e{n}", "page_view", at, properties={"url": "/pricing"})
        record.state = engine.score(model, record.state, profile, [event], at).state
        after = _attributes(record, item_of)
        for name, (partition, sort_key) in INDEXES.items():
            units[name] += _index_writes(before, after, partition, sort_key)
    print(f"\nwrite units the list indexes add per scored event (mean of {events}):")
    for name, total in units.items():
        print(f"  {name:12} {total / events:.2f}")
    print(f"  {'all':12} {sum(units.values()) / events:.2f}")


def _attributes(record: Any, item_of: Any) -> dict[str, Any]:
    return dict(item_of(record).serialize())


def _index_writes(before: dict[str, Any], after: dict[str, Any], pk: str, sk: str) -> int:
    """DynamoDB's index writes for one base write: none, one put, or a delete and a put."""
    from leadscore.adapters.dynamo import LeadTable

    index = {i.Meta.index_name: i for i in LeadTable._indexes.values()}  # type: ignore[attr-defined]
    name = next(n for n, (p, s) in INDEXES.items() if (p, s) == (pk, sk))
    projected = {pk, sk, "pk", "sk", *index[name].Meta.projection.non_key_attributes}

    def image(item: dict[str, Any]) -> dict[str, Any] | None:
        if pk not in item or sk not in item:
            return None
        return {k: v for k, v in item.items() if k in projected}

    old, new = image(before), image(after)
    if old == new:
        return 0
    size = max(item_bytes(x) for x in (old, new) if x is not None)
    put = math.ceil(size / 1024)
    if old is None or new is None:
        return put if new is not None else 1
    return put + 1 if (old[pk], old[sk]) != (new[pk], new[sk]) else put


if __name__ == "__main__":
    main()
