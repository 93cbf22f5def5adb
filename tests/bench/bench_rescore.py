"""Rescoring N leads x 10 events after a model change, in process against moto: time,
DynamoDB requests and capacity per lead, and what 1,000,000 leads would take on AWS.

Run from the project root: `.venv/bin/python -m tests.bench.bench_rescore [--leads N]`.

The leads are seeded directly (profile, state for version 1, ten logged events each: what the
scorer writes), version 2 is published, then a rescore job runs its messages in process, one
after the other, as one worker would. Requests and capacity units are metered by
tests/bench/capacity.py, as DynamoDB bills them (item sizes, transactions 2x, every index
write by its projection).

moto is O(table) where DynamoDB is not: it copies the whole table for every item of a
TransactWriteItems (its rollback backup) and scans every item for a Query on a partition key.
The bench makes both proportional to the items concerned (`fast_moto`: same answers), so
that the time grows with the leads rescored, not with their square.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench.capacity import BASE, READ_PRICE, WRITE_PRICE, CapacityMeter, header, row
from tests.bench.common import ROOT, TABLE, Quiet, fake_aws_environment, fast_moto

fake_aws_environment()
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
# Assumptions for the AWS extrapolation (stated in the output):
QUERY_MS = 10.0  # a strongly consistent Query of one lead (~15 items), same region
WRITE_MS = 30.0  # a TransactWriteItems of up to 100 items
SMALL_MS = 6.0  # GetItem / PutItem / UpdateItem / SendMessageBatch
CONCURRENCY = 16  # rescore Lambda concurrency (the event source's MaximumConcurrency)
TABLE_WCU = 40_000  # DynamoDB on-demand: default per-table throughput quota, write units/s
TARGET = 1_000_000


def seed(leads: int, model: Any) -> None:
    """Profiles, states for version 1 and ten logged events per lead, as the scorer writes."""
    from leadscore.adapters.dynamo import lead_key
    from leadscore.adapters.dynamo_store import DynamoLeadStore
    from leadscore.domain.events import Event
    from leadscore.services.lead_states import next_state_record
    from leadscore.services.rescore_replay import replay
    from leadscore.services.store import EventRecord, LeadWrite, ProfileRecord

    rng = random.Random(7)
    titles = ["VP Sales", "Marketing Manager", "Engineer", "CTO", "Student", "Director IT"]
    industries = ["Software", "Retail", "Healthcare", "Media", "Fintech"]
    kinds = [
        ("page_view", {"url": "https://v.example/pricing"}),
        ("page_view", {"url": "https://v.example/product/x"}),
        ("page_view", {"url": "https://v.example/blog/a"}),
        ("download", {"asset": "a1"}),
        ("email_open", {"campaign": "c1"}),
        ("email_click", {"campaign": "c2"}),
        ("webinar_attended", {"webinar": "w1"}),
        ("demo_request", {}),
    ]
    received = int((NOW - timedelta(days=3)).timestamp())
    store = DynamoLeadStore()
    writes: list[LeadWrite] = []
    for n in range(leads):
        email = f"lead{n}@corp{n % 997}.example"
        key = lead_key(email)
        profile = {
            "first_name": "Pat",
            "last_name": f"Lee{n}",
            "company": f"Corp {n % 997}",
            "job_title": rng.choice(titles),
            "industry": rng.choice(industries),
            "company_size": rng.choice(["11-50", "201-500", "5001-10000"]),
            "country": rng.choice(["US", "DE", "BR", "FR"]),
        }
        events = []
        for i in range(10):
            kind, properties = rng.choice(kinds)
            at = NOW - timedelta(days=3, minutes=10 - i)
            events.append(Event(f"{key[:12]}-{i}", kind, at, None, properties))
        state = replay(model, {**profile, "email": email}, [(received, e) for e in events], NOW)
        records: list[Any] = [
            ProfileRecord(key, email, profile, {}, received, received, account=email.split("@")[1]),
            next_state_record(key, model, None, state, received, email),
            *(EventRecord(key, event, received) for event in events),
        ]
        writes.append(LeadWrite(key, records))
    for start in range(0, len(writes), 800):
        _written, retry = store.commit(writes[start : start + 800])
        assert not retry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--leads", type=int, default=10_000, help="leads to rescore (10 events each)"
    )
    args = parser.parse_args()

    import boto3
    from leadscore.adapters import model_store
    from leadscore.adapters.dynamo_rescore_jobs import DynamoRescoreJobs
    from leadscore.adapters.dynamo_store import DynamoLeadStore
    from leadscore.adapters.rescore_queue import SqsRescoreQueue
    from leadscore.domain.compiled import compile_model
    from leadscore.domain.model import parse_model
    from leadscore.services import rescore
    from leadscore.services.rescore_jobs import JobOptions
    from leadscore.services.rescore_replay import logged_events, replay
    from leadscore_tools import moto_atomic
    from leadscore_tools.modelfiles import load_model
    from leadscore_tools.template import table_definition
    from moto import mock_aws

    moto_atomic.install()
    fast_moto()
    with mock_aws():
        boto3.client("dynamodb").create_table(TableName=TABLE, **table_definition())
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="rescore")["QueueUrl"]
        queue = SqsRescoreQueue(sqs, queue_url)
        jobs = DynamoRescoreJobs()
        store = DynamoLeadStore()
        first = load_model(ROOT / "models" / "default.yaml")
        model_store.publish(first, NOW - timedelta(days=30))
        started = time.perf_counter()
        seed(args.leads, compile_model(model_store.read("default")))  # type: ignore[arg-type]
        seeded = time.perf_counter() - started
        document = first.model_dump(mode="json", by_alias=True, exclude_none=True)
        for rule in document["engagement"]["rules"]:
            rule["points"] = rule["points"] * 1.2 if rule["points"] > 0 else rule["points"]
        document["thresholds"] = {"mql": 55, "reset": 40}
        document.pop("version", None)
        model_store.publish(parse_model(document), NOW)

        meter = CapacityMeter()
        meter.start()
        sent: Counter[str] = Counter()

        class CountingQueue:
            def send(self, bodies: Any, delay_seconds: int = 0) -> None:
                for body in bodies:
                    sent["list" if "list" in body else "chunk"] += 1
                queue.send(bodies, delay_seconds)

        counting = CountingQueue()
        catalog = model_store.DynamoModelCatalog()
        rescorer = rescore.Rescorer(
            counting, Quiet(), jobs, store, catalog, clock=lambda: NOW + timedelta(hours=1)
        )
        chunk_times: list[float] = []
        started = time.perf_counter()
        job = rescore.start_job(
            "default", JobOptions(), counting, jobs, catalog, NOW + timedelta(hours=1)
        )
        assert job is not None
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                break
            for message in messages:
                begin, metering = time.perf_counter(), meter.own_seconds
                rescorer.handle(message["Body"])
                if '"chunk"' in message["Body"]:  # the meter's own reads left out
                    chunk_times.append(time.perf_counter() - begin - meter.own_seconds + metering)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        elapsed = time.perf_counter() - started - meter.own_seconds
        done = rescore.job_progress(jobs.read("default", job.job_id), store)  # type: ignore[arg-type]
        meter.stop()

        # The engine's share: replaying the seeded leads again, no I/O.
        model = compile_model(model_store.read("default"))  # type: ignore[arg-type]
        sample = [store.lead_log(k) for k in _some_keys(min(200, args.leads))]
        begin = time.perf_counter()
        for log in sample:
            assert log.profile is not None
            profile = {**log.profile.profile, "email": log.profile.email}
            replay(model, profile, logged_events(log), NOW)
        replay_ms = (time.perf_counter() - begin) * 1000 / len(sample)

    leads = done["leads_done"]
    requests = sum(meter.requests.values())
    per_lead = {op: n / leads for op, n in sorted(meter.requests.items())}
    print(f"Rescore of {leads:,} leads x 10 events (moto, in process, one worker)")
    print(
        f"  seeded in {seeded:.1f} s; rescored in {elapsed:.1f} s ({leads / elapsed:,.0f} leads/s)"
    )
    print(
        f"  status {done['status']}, changed {done['changed']:,}, rating changes "
        f"{done['rating_changes']:,}, new MQLs {done['new_mqls']:,}, lost MQLs "
        f"{done['lost_mqls']:,}, failures {done['failures']}"
    )
    median = statistics.median(chunk_times) * 1000
    print(f"  chunks of {rescore.CHUNK_SIZE}: {len(chunk_times)}, median {median:.0f} ms")
    print(f"  DynamoDB requests per lead: {requests / leads:.3f}  {per_lead}")
    print(header("  capacity", 12, meter, "lead"))
    print(row("  per lead", 12, meter, leads))
    print(f"  SQS messages sent: {dict(sent)}; engine replay {replay_ms:.2f} ms per lead")

    # Extrapolation: a chunk is 100 Queries (16 at a time), its transactions and bookkeeping.
    chunk = rescore.CHUNK_SIZE
    transactions = meter.requests["TransactWriteItems"] / max(1, len(chunk_times))
    small = (
        meter.requests["GetItem"] + meter.requests["PutItem"] + meter.requests["UpdateItem"]
    ) / max(1, len(chunk_times))
    chunk_ms = (
        math.ceil(chunk / rescore.READERS) * QUERY_MS
        + transactions * WRITE_MS
        + (small + 1) * SMALL_MS
        + chunk * replay_ms
    )
    chunks = TARGET / chunk
    seconds = chunks * chunk_ms / 1000 / CONCURRENCY
    listing = math.ceil(TARGET / 16 / rescore.LIST_PAGE) * (QUERY_MS + 3 * SMALL_MS) / 1000
    wcu, rcu = meter.write_units / leads * TARGET, meter.read_units / leads * TARGET
    table_wcu = meter.writes[BASE] / leads * TARGET  # the quota is per table and per index
    print(
        f"1,000,000 leads on AWS at {CONCURRENCY} concurrent rescore Lambdas (assumed: Query "
        f"{QUERY_MS:.0f} ms, transaction {WRITE_MS:.0f} ms, other requests {SMALL_MS:.0f} ms):"
    )
    print(
        f"  {chunks:,.0f} chunks of {chunk_ms:.0f} ms -> about {seconds / 60:.1f} min "
        f"(listing runs ahead: {listing:.1f} s per shard chain); "
        f"{wcu / seconds:,.0f} WCU/s and {rcu / seconds:,.0f} RCU/s on average"
    )
    print(
        f"  DynamoDB bound: {table_wcu / TABLE_WCU / 60:.1f} min at the default on-demand "
        f"table quota of {TABLE_WCU:,} WCU/s, each index its own (more concurrency only helps "
        "with a raised quota or warm throughput)"
    )
    print(
        f"  DynamoDB on-demand cost: ${(wcu * WRITE_PRICE + rcu * READ_PRICE) / 1e6:,.2f} "
        f"({wcu / 1e6:.1f} M write units, {rcu / 1e6:.1f} M read units); SQS, Lambda extra"
    )


def _some_keys(count: int) -> list[str]:
    from leadscore.adapters.dynamo import lead_key

    return [lead_key(f"lead{n}@corp{n % 997}.example") for n in range(count)]


if __name__ == "__main__":
    main()
