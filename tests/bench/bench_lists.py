"""The sales lists over N leads in moto: index items read and read units per page of 50 for
each list, p50 of a page through the API handler in process, and the write units each index
adds to a scored event.

Run from the project root: `.venv/bin/python -m tests.bench.bench_lists [--leads N]`
(the issue's figure: 100,000; the default is smaller, so that it runs in a minute).

The leads' state items are seeded with BatchWriteItem as the scorer leaves them (a tenth are
MQLs, a third have an owner). Read units are metered by tests/bench/capacity.py (an index
Query: the index entries it evaluates, filtered out or not, eventually consistent). The write
units come from real scoring: a lead's state item before and after one more event (the
default model, a pricing page view), priced by the same rules for every index of the table
(a put per started KB of the entry when it changes, a delete and a put when its key moves,
none when the item stays out of the index). moto's Query of an index sorts the whole table,
so the handler's time here grows with N; DynamoDB's does not.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench.capacity import CapacityMeter, Table
from tests.bench.common import ROOT, TABLE, fake_aws_environment

fake_aws_environment()
AT = datetime(2026, 11, 1, 12, tzinfo=UTC)
PAGE = 50


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
    print(f"\nindex items read and read units per page of {PAGE} (first page; second page)")
    for sort, filters in lists:
        with CapacityMeter() as first_units:
            first = store.list_leads("default", sort, filters, PAGE, None)
        with CapacityMeter() as second_units:
            second = store.list_leads("default", sort, filters, PAGE, first.cursor)
        shown = {k: v for k, v in vars_of(filters).items() if v}
        print(
            f"  {sort:18} {shown!s:55} rows {len(first.rows):3}, read {first.read:5}, "
            f"RCU {first_units.read_units:5.1f}, req {first_units.request_count:2}; "
            f"rows {len(second.rows):3}, read {second.read:5}, "
            f"RCU {second_units.read_units:5.1f}, req {second_units.request_count:2}"
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
    from leadscore_tools.template import table_definition

    model = load_compiled(str(ROOT / "models" / "default.yaml"))
    table = Table.of(table_definition())
    profile = {"job_title": "VP Engineering", "company_size": "201-500", "country": "United States"}
    rng = random.Random(11)
    units = dict.fromkeys((index.name for index in table.indexes), 0)
    events = 300
    for n in range(events):
        record = _record(n, rng)
        before = _attributes(record, item_of)
        at = AT + timedelta(minutes=n)
        event = Event(f"e{n}", "page_view", at, properties={"url": "/pricing"})
        record.state = engine.score(model, record.state, profile, [event], at).state
        after = _attributes(record, item_of)
        for index in table.indexes:
            units[index.name] += index.writes(before, after, table.keys)
    print(f"\nwrite units each index adds per scored event (mean of {events}):")
    for name, total in units.items():
        print(f"  {name:12} {total / events:.2f}")
    print(f"  {'all':12} {sum(units.values()) / events:.2f}")


def _attributes(record: Any, item_of: Any) -> dict[str, Any]:
    return dict(item_of(record).serialize())


if __name__ == "__main__":
    main()
