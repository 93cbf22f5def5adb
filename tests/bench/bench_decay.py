"""The scheduled decay run over N leads of which a few are due, in process against moto:
items read (the `due_keys` index's entries, lead items, account items), keys asked (a key not
found is still a read), DynamoDB requests by operation, capacity units per due lead
(tests/bench/capacity.py: as DynamoDB bills them, the table and each index apart), time.

Run from the project root: `.venv/bin/python -m tests.bench.bench_decay [--leads N --due D]`.

The leads are seeded directly through the store, as the scorer leaves them (profile, state
with its due time and account domain; the events are not needed by decay): the scorer
itself takes minutes for 20,000 leads on moto. The account records are planned from those
states by `accounts.plan`, as the scorer keeps them. The mix is B2B: the due leads are
people of a few dozen companies (about four due per company, which also have leads that are
not due), a tenth of them MQLs whose follow-up deadline has passed and a tenth hot leads that
cool below the reset level (both need the lead's profile for the notification), and a few
use personal addresses (no account). The other leads were active three days ago.

moto deep-copies the whole table for every item of a TransactWriteItems (its rollback
backup); the bench skips that copy (no transaction fails here), so that the time grows with
the items written, not with the table. moto's Query of an index still sorts the whole
table, so the time is also shown without the DynamoDB calls (the job's own work).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
import types
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench.capacity import CapacityMeter, header, row
from tests.bench.common import ROOT, TABLE, fake_aws_environment
from tests.helpers.profiles import ENGINEER, VP

fake_aws_environment()
AT = datetime(2026, 11, 1, 12, tzinfo=UTC)
COMPANIES = 2_000  # companies of the leads that are not due
DUE_PER_COMPANY = 4


class Reads:
    """DynamoDB requests by operation and items read by kind, from botocore's events."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.items: Counter[str] = Counter()
        self.keys_asked = 0  # keys of BatchGetItem requests, found or not
        self.seconds: Counter[str] = Counter()  # in calls, by operation (moto's time)
        self.started = 0.0
        self.counting = False

    def before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.started = time.perf_counter()
        if self.counting and model.name == "BatchGetItem":
            asked = json.loads(params["body"])["RequestItems"].values()
            self.keys_asked += sum(len(table["Keys"]) for table in asked)

    def __call__(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if not self.counting:
            return
        self.seconds[model.name] += time.perf_counter() - self.started
        self.requests[model.name] += 1
        if model.name in ("Query", "Scan"):
            self.items["index" if model.name == "Query" else "scan"] += parsed.get("Count", 0)
        elif model.name == "BatchGetItem":
            for items in parsed.get("Responses", {}).values():
                for item in items:
                    account = item["pk"]["S"].startswith("ACCOUNT#")
                    self.items["accounts" if account else "leads"] += 1
        elif model.name == "GetItem":
            self.items["leads"] += "Item" in parsed


def skip_table_backups() -> None:
    from moto.dynamodb import models as moto_models

    def deepcopy(value: Any, *args: Any) -> Any:
        return value if isinstance(value, moto_models.Table) else copy.deepcopy(value, *args)

    moto_models.copy = types.SimpleNamespace(deepcopy=deepcopy)  # type: ignore[attr-defined]


def mix(leads: int, due: int) -> list[tuple[str, str, datetime, dict[str, Any] | None]]:
    """(email, kind, last activity, profile) of every lead; kind: idle, overdue, cooling,
    recent (only the recent ones are not due)."""
    companies = max(1, due // DUE_PER_COMPANY)
    overdue, cooling, personal = due // 10, due // 10, due // 20
    idle = due - overdue - cooling - personal
    rows: list[tuple[str, str, datetime, dict[str, Any] | None]] = []
    rows += [
        (f"idle{n}@corp{n % companies}.example", "idle", AT - timedelta(days=50), None)
        for n in range(idle)
    ]
    rows += [(f"idle{n}@gmail.com", "idle", AT - timedelta(days=50), None) for n in range(personal)]
    rows += [
        (f"mql{n}@corp{n % companies}.example", "overdue", AT - timedelta(days=2), VP)
        for n in range(overdue)
    ]
    rows += [
        (
            f"cool{n}@corp{(n + 7) % companies}.example",
            "cooling",
            AT - timedelta(days=120),
            ENGINEER,
        )
        for n in range(cooling)
    ]
    rows += [
        (f"lead{n}@corp{n % COMPANIES}.example", "recent", AT - timedelta(days=3), None)
        for n in range(leads - due)
    ]
    return rows


def seed(leads: int, due: int, store: Any, models: Any) -> None:
    """Profiles and states as the scorer writes them, then the accounts, through the store."""
    from leadscore.domain import engine
    from leadscore.domain.domains import company_domain
    from leadscore.domain.emails import lead_key
    from leadscore.domain.events import Event
    from leadscore.services import accounts
    from leadscore.services.lead_states import next_state_record
    from leadscore.services.store import LeadWrite, ProfileRecord

    (model,) = models.current()
    writes = []
    people: list[accounts.PersonChange] = []
    for email, kind, when, fields in mix(leads, due):
        key = lead_key(email)
        if kind in ("overdue", "cooling"):
            kinds = ["demo_request", "demo_request", "meeting_booked", "meeting_booked"]
        else:
            kinds = ["page_view", "download", "email_click"]
        events = [
            Event(f"{key[:12]}-{i}", name, when + timedelta(minutes=i), None, {}, fields)
            for i, name in enumerate(kinds)
        ]
        profile = dict(fields or {})
        state = engine.score(model, None, {**profile, "email": email}, events, when).state
        at_s = int(when.timestamp())
        domain = company_domain(email)
        record = ProfileRecord(
            key, email, profile, created_at=at_s, updated_at=at_s, account=domain
        )
        writes.append(
            LeadWrite(key, [record, next_state_record(key, model, None, state, at_s, email)])
        )
        if domain is not None:
            people.append(accounts.PersonChange(key, domain, {model.id: state}))
    now_s = int((AT - timedelta(days=1)).timestamp())
    planned = accounts.plan(people, {}, [model], now_s, store, notify=False)
    writes += [LeadWrite(domain, records) for domain, records in planned.records.items()]
    _written, conflicts = store.commit(writes)
    assert not conflicts


class Recorder:
    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()

    def publish(self, notification: Any) -> None:
        self.kinds[notification.kind] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=20_000, help="leads in the table")
    parser.add_argument("--due", type=int, default=200, help="of which due for decay")
    args = parser.parse_args()

    import boto3
    from botocore import handlers
    from leadscore.adapters import model_store
    from leadscore.adapters.dynamo_store import DynamoLeadStore
    from leadscore.services.decay import run_decay
    from leadscore_tools.modelfiles import load_model
    from leadscore_tools.template import table_definition
    from moto import mock_aws

    skip_table_backups()
    reads = Reads()
    # Every botocore session registers these, so every DynamoDB client made from now on is
    # counted (pynamodb makes one per connection), as moto's mock installs itself.
    handlers.BUILTIN_HANDLERS += [("before-call.dynamodb", reads.before)]
    handlers.BUILTIN_HANDLERS += [("after-call.dynamodb", reads)]
    with mock_aws():
        boto3.client("dynamodb").create_table(TableName=TABLE, **table_definition())
        model_store.publish(load_model(ROOT / "models" / "default.yaml"), AT - timedelta(days=400))
        models = model_store.CachedModels(ttl=3600)
        store = DynamoLeadStore()
        started = time.perf_counter()
        seed(args.leads, args.due, store, models)
        seeded = time.perf_counter() - started

        recorder = Recorder()
        reads.counting = True
        started = time.perf_counter()
        with CapacityMeter() as meter:
            for event, handler in (("before-call", reads.before), ("after-call", reads)):
                meter.reader.meta.events.unregister(f"{event}.dynamodb", handler)
            outcome = run_decay(AT, store, models, recorder)
        elapsed = time.perf_counter() - started - meter.own_seconds
        reads.counting = False

    stats = outcome.stats
    read = reads.items["leads"] + reads.items["accounts"]  # the index holds keys only
    print(
        f"decay: {args.leads:,} leads, {stats.found} due (seeded in {seeded:.0f}s, directly)\n"
        f"  table items read {read} = {read / max(1, stats.found):.2f}x the due leads (target "
        f"<= 2x): lead items {reads.items['leads']}, "
        f"account items {reads.items['accounts']}; index entries (keys) {reads.items['index']}; "
        f"BatchGetItem keys asked {reads.keys_asked}\n"
        f"  requests {sum(reads.requests.values())}: {dict(sorted(reads.requests.items()))}\n"
        f"  decayed {stats.decayed}, sla_breached {stats.sla_breached}, cooled {stats.cooled}, "
        f"unchanged {stats.unchanged}, conflicts {stats.conflicts_retried}, "
        f"notifications {dict(recorder.kinds)}\n"
        f"  time {elapsed:.2f}s in process on moto: the job's own work "
        f"{elapsed - sum(reads.seconds.values()):.2f}s, DynamoDB calls (moto) "
        + ", ".join(f"{name} {seconds:.2f}s" for name, seconds in sorted(reads.seconds.items()))
    )
    print(header("capacity", 14, meter, "lead"))
    print(row("per due lead", 14, meter, max(1, stats.found)))


if __name__ == "__main__":
    main()
