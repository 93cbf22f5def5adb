"""DynamoDB requests, capacity units and cost per event of the scoring pipeline (against moto).

Counts every request the scorer sends, with botocore's event hooks, for batches of 10
events spread over 10 distinct leads and over 2 leads; capacity units are computed from the
items in the requests with DynamoDB's rules (transactional write: 2 WCU per started KB;
strongly consistent read: 1 RCU per started 4 KB per key, found or not).

Then the cost of account scoring: the same batches with the default model as shipped (with
its `account` section) and without that section, leads spread over 1 and 5 accounts.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench.common import ROOT, TABLE, Quiet, fake_aws_environment, transaction_wcu

fake_aws_environment()
WRITE_PRICE = 0.625  # USD per million write request units, on-demand, us-east-1
READ_PRICE = 0.125  # USD per million read request units
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


class Meter:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.wcu = 0
        self.rcu = 0

    def before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.requests[model.name] += 1
        if model.name == "TransactWriteItems":
            self.wcu += transaction_wcu(params)
        elif model.name == "BatchGetItem":
            for table in params["RequestItems"].values():
                self.rcu += len(table["Keys"])
        elif model.name in ("UpdateItem", "PutItem", "DeleteItem"):
            self.wcu += 1
        elif model.name in ("Query", "GetItem"):
            self.rcu += 1


@contextmanager
def metering(meter: Meter) -> Iterator[None]:
    """Meter the requests of every item class's client (pynamodb keeps one connection per
    class) and of the table's shared connection (the store's transactions) while the block
    runs; each client once, and no longer after the block (the shared one outlives it)."""
    from leadscore.adapters.dynamo import LeadTable, connection

    classes = [LeadTable, *LeadTable.__subclasses__()]
    connections = [*(k._get_connection().connection for k in classes), connection()]
    clients = {id(c.client): c.client for c in connections}
    for client in clients.values():
        client.meta.events.register("before-parameter-build.dynamodb", meter.before_call)
    try:
        yield
    finally:
        for client in clients.values():
            client.meta.events.unregister("before-parameter-build.dynamodb", meter.before_call)


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
            lead = rng.randrange(leads_per_batch) + 1000 * batch_number % 50
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
        meter = Meter()
        with metering(meter):
            events, sent = run_mqls(30)
        requests = sum(meter.requests.values())
        cost = (meter.wcu * WRITE_PRICE + meter.rcu * READ_PRICE) / events
        print(f"{'req/event':>10}{'WCU/event':>11}{'RCU/event':>11}{'$/M events':>12}")
        print(
            f"{requests / events:>10.2f}{meter.wcu / events:>11.2f}"
            f"{meter.rcu / events:>11.2f}{cost:>12.2f}  ({sent} notifications)"
        )
        print(f"  requests by operation: {dict(meter.requests)}")


def main() -> None:
    import boto3
    from leadscore.adapters import model_store
    from leadscore_tools.modelfiles import load_model
    from leadscore_tools.template import table_definition
    from moto import mock_aws

    print("Scoring pipeline: DynamoDB requests per event (moto, default model, 1 model)")
    print(f"{'scenario':<34}{'req/event':>10}{'WCU/event':>11}{'RCU/event':>11}{'$/M events':>12}")
    with mock_aws():
        boto3.client("dynamodb").create_table(TableName=TABLE, **table_definition())
        model_store.publish(load_model(ROOT / "models" / "default.yaml"), NOW)
        for leads, batches in ((10, 100), (2, 100)):
            meter = Meter()
            with metering(meter):
                events = run(leads, batches)
            requests = sum(meter.requests.values())
            cost = (meter.wcu * WRITE_PRICE + meter.rcu * READ_PRICE) / events
            name = f"batches of 10 over {leads} leads"
            print(
                f"{name:<34}{requests / events:>10.2f}{meter.wcu / events:>11.2f}"
                f"{meter.rcu / events:>11.2f}{cost:>12.2f}"
            )
            print(f"  requests by operation: {dict(meter.requests)}")
    print(
        "Cost: DynamoDB on-demand list prices (us-east-1): $0.625 per million write units, "
        "$0.125 per million read units; SQS, Lambda and SNS are extra."
    )
    accounts_cost()
    mql_cost()


def measure(document: dict[str, Any], leads: int, accounts: int, batches: int) -> Meter:
    """One scenario on a fresh table with this model document; the meter of its requests."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        from leadscore.adapters import model_store
        from leadscore.domain.model import parse_model
        from leadscore_tools.template import table_definition

        boto3.client("dynamodb").create_table(TableName=TABLE, **table_definition())
        model_store.publish(parse_model(document), NOW)
        meter = Meter()
        with metering(meter):
            meter.events = run(leads, batches, accounts)  # type: ignore[attr-defined]
        return meter


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
        off = measure(without, leads, accounts, 60)
        on = measure(with_accounts, leads, accounts, 60)
        events = on.events  # type: ignore[attr-defined]
        req_off = sum(off.requests.values()) / events
        req_on = sum(on.requests.values()) / events
        name = f"{leads} leads, {accounts} account{'s' if accounts > 1 else ''}"
        print(
            f"{name:<34}{req_off:>9.2f}{req_on:>7.2f}{req_on - req_off:>+7.2f}"
            f"{off.wcu / events:>9.2f}{on.wcu / events:>10.2f}"
        )
        print(f"  with accounts, by operation: {dict(on.requests)}")


if __name__ == "__main__":
    main()
