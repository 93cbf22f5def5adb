"""DynamoDB requests, capacity units and cost per event of the scoring pipeline (against moto).

Meters every request the scorer sends (tests/bench/capacity.py: units as DynamoDB bills them,
the table and each index apart) for batches of 10 events spread over 10 distinct leads and
over 2 leads; and batches of 10 events of 10 different leads among 1,000 already scored (the
steady state of webhooks and page views: every event a known lead's, one per lead a batch),
with the sales lists' indexes and without them (`ListIndexes=0`).

Then the cost of account scoring: the same batches with the default model as shipped (with
its `account` section) and without that section, leads spread over 1 and 5 accounts; and of
MQL-heavy batches.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench.capacity import CapacityMeter, header, row
from tests.bench.common import ROOT, TABLE, Quiet, fake_aws_environment, fast_moto

fake_aws_environment()
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
KNOWN = 1_000  # leads already scored, for the batches of known leads
HOUR = timedelta(hours=1)


def run_known(batches: list[list[int]], tag: str, at: datetime) -> int:
    """One page view per lead of each batch (leads by number, spread over 50 companies)."""
    from leadscore.adapters.dynamo_store import DynamoLeadStore
    from leadscore.adapters.model_store import CachedModels
    from leadscore.domain.events import Event
    from leadscore.domain.messages import encode
    from leadscore.services.scoring import score_messages

    models, store, rng = CachedModels(ttl=60), DynamoLeadStore(), random.Random(tag)
    for batch_number, leads in enumerate(batches):
        records = []
        for n, lead in enumerate(leads):
            url = rng.choice(["/pricing", "/blog/a", "/product/x", "/"])
            event = Event(f"{tag}-{batch_number}-{n}", "page_view", at - timedelta(minutes=n),
                          None, {"url": "https://v.example" + url})  # fmt: skip
            body = next(encode([(f"known{lead}@corp{lead % 50}.example", event)], NOW))
            records.append((f"m{n}", body))
        outcome = score_messages(records, store, models, Quiet(), clock=lambda: NOW)
        assert not outcome.failed
    return sum(len(leads) for leads in batches)


def run(leads_per_batch: int, batches: int, accounts: int = 1) -> int:
    from leadscore.adapters.dynamo_store import DynamoLeadStore
    from leadscore.adapters.model_store import CachedModels
    from leadscore.domain.events import Event
    from leadscore.domain.messages import encode
    from leadscore.services.scoring import score_messages

    models = CachedModels(ttl=60)
    store = DynamoLeadStore()  # transacts through the shared connection: metered too
    rng = random.Random(leads_per_batch)
    events = 0
    for batch_number in range(batches):
        records = []
        for n in range(10):
            lead = rng.randrange(leads_per_batch) + 1000 * (batch_number % 50)
            url = rng.choice(["/pricing", "/blog/a", "/product/x", "/"])
            event = Event(
                f"b{leads_per_batch}-{batch_number}-{n}",
                "page_view",
                NOW - timedelta(minutes=n),
                None,
                {"url": "https://v.example" + url},
            )
            company = "corp" if accounts == 1 else f"corp{lead % accounts}"
            body = next(encode([(f"lead{lead}@{company}.example", event)], NOW))
            records.append((f"m{n}", body))
        outcome = score_messages(records, store, models, Quiet(), clock=lambda: NOW)
        assert not outcome.failed
        events += 10
    return events


def run_mqls(batches: int) -> tuple[int, int]:
    """Batches of 10 new leads that each become an MQL at once (a VP of a target company
    requesting a demo): every lead records, publishes and clears a notification. Returns
    (events, notifications published)."""
    from leadscore.adapters.dynamo_store import DynamoLeadStore
    from leadscore.adapters.model_store import CachedModels
    from leadscore.domain.events import Event
    from leadscore.domain.messages import encode
    from leadscore.services.scoring import score_messages

    from tests.conftest import Recorder

    profile = {"job_title": "VP Sales", "industry": "software", "company_size": 800,
               "country": "US", "company": "Corp"}  # fmt: skip
    models, store, sent = CachedModels(ttl=60), DynamoLeadStore(), Recorder()
    for batch_number in range(batches):
        records = []
        for n in range(10):
            event = Event(f"mql-{batch_number}-{n}", "demo_request", NOW, None, {}, profile)
            email = f"vp{batch_number}-{n}@corp{n}.example"
            records.append((f"m{n}", next(encode([(email, event)], NOW))))
        assert not score_messages(records, store, models, sent, clock=lambda: NOW).failed
    return 10 * batches, len(sent.sent)


def mql_cost() -> None:
    """The cost of an MQL-heavy batch: every event makes an MQL and its notification."""
    import boto3
    from leadscore.adapters import model_store
    from leadscore_tools.modelfiles import load_model
    from leadscore_tools.template import table_definition
    from moto import mock_aws

    print()
    print("MQL-heavy batches: 10 new leads each becoming an MQL (default model)")
    with mock_aws():
        boto3.client("dynamodb").create_table(TableName=TABLE, **table_definition())
        model_store.publish(load_model(ROOT / "models" / "default.yaml"), NOW)
        with CapacityMeter() as meter:
            events, sent = run_mqls(30)
        print(header("scenario", 34, meter, "event"))
        print(row(f"10 new MQLs a batch ({sent} sent)", 34, meter, events))


def main() -> None:
    import boto3
    from leadscore.adapters import model_store
    from leadscore_tools.modelfiles import load_model
    from leadscore_tools.template import table_definition
    from moto import mock_aws

    fast_moto()  # the same answers; a transaction no longer copies the whole table
    print("Scoring pipeline: DynamoDB per event (moto, default model, 1 model)")
    with mock_aws():
        boto3.client("dynamodb").create_table(TableName=TABLE, **table_definition())
        model_store.publish(load_model(ROOT / "models" / "default.yaml"), NOW)
        for leads, batches in ((10, 100), (2, 100)):
            with CapacityMeter() as meter:
                events = run(leads, batches)
            if leads == 10:
                print(header("scenario", 34, meter, "event"))
            print(row(f"batches of 10 over {leads} leads", 34, meter, events))
    for lists, label in (("5", ""), ("0", ", no lists")):
        with mock_aws():
            definition = table_definition(parameters={"ListIndexes": lists})
            boto3.client("dynamodb").create_table(TableName=TABLE, **definition)
            model_store.publish(load_model(ROOT / "models" / "default.yaml"), NOW)
            everyone = list(range(KNOWN))
            run_known([everyone[i : i + 10] for i in range(0, KNOWN, 10)], "warm", NOW - HOUR)
            rng = random.Random(KNOWN)
            with CapacityMeter(definition) as meter:
                events = run_known([rng.sample(everyone, 10) for _ in range(100)], "known", NOW)
            print(row(f"10 of {KNOWN:,} known leads{label}", 34, meter, events))
    print(
        "Cost ($/M: per million events): DynamoDB on-demand list prices (us-east-1), $0.625 "
        "per million write units, $0.125 per million read units, every index included; SQS, "
        "Lambda and SNS are extra."
    )
    accounts_cost()
    mql_cost()


def measure(
    document: dict[str, Any], leads: int, accounts: int, batches: int
) -> tuple[CapacityMeter, int]:
    """One scenario on a fresh table with this model document: its meter and events."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        from leadscore.adapters import model_store
        from leadscore.domain.model import parse_model
        from leadscore_tools.template import table_definition

        boto3.client("dynamodb").create_table(TableName=TABLE, **table_definition())
        model_store.publish(parse_model(document), NOW)
        with CapacityMeter() as meter:
            events = run(leads, batches, accounts)
        return meter, events


def accounts_cost() -> None:
    from leadscore_tools.modelfiles import load_model

    with_accounts = load_model(ROOT / "models" / "default.yaml").model_dump(
        by_alias=True, exclude_none=True
    )
    without = {k: v for k, v in with_accounts.items() if k != "account"}
    print()
    print("Account scoring: DynamoDB requests per event, batches of 10 (default model)")
    print(f"{'scenario':<34}{'without':>9}{'with':>7}{'extra':>7}{'WCU w/o':>9}{'WCU with':>10}")
    for leads, accounts in ((10, 1), (10, 5), (2, 1)):
        off, events = measure(without, leads, accounts, 60)
        on, _events = measure(with_accounts, leads, accounts, 60)
        req_off = off.request_count / events
        req_on = on.request_count / events
        name = f"{leads} leads, {accounts} account{'s' if accounts > 1 else ''}"
        print(
            f"{name:<34}{req_off:>9.2f}{req_on:>7.2f}{req_on - req_off:>+7.2f}"
            f"{off.write_units / events:>9.2f}{on.write_units / events:>10.2f}"
        )
        print(f"  with accounts, by operation: {dict(on.requests)}")


if __name__ == "__main__":
    main()
