"""Builders and checks shared by the scorer's tests: event mixes and their messages, the
serial replay that the pipeline must end with, readings of a lead through any store, and
queues that redeliver what failed, one worker or several at once."""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.domain.messages import encode
from leadscore.domain.notifications import Notification
from leadscore.domain.state import LeadState
from leadscore.services.store import LeadStore, StateRecord
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
PAGES = ["/pricing", "/blog/post-1", "/product/x", "/careers", "/demo", "/", "/blog/post-2"]
TYPES = ["page_view"] * 6 + [
    "email_open",
    "email_click",
    "download",
    "webinar_attended",
    "demo_request",
]


@cache
def default_model() -> CompiledModel:
    """models/default.yaml as its first published version."""
    model = load_model(ROOT / "models" / "default.yaml")
    return compile_model(model.model_copy(update={"version": 1}))


class FixedModels:
    """A model source that always answers the same models (the catalog without a table)."""

    def __init__(self, *models: CompiledModel) -> None:
        self.models = list(models) or [default_model()]

    def current(self) -> Sequence[CompiledModel]:
        return self.models


def make_events(count: int, leads: int, seed: int = 1) -> list[tuple[str, Event]]:
    rng = random.Random(seed)
    events = []
    for n in range(count):
        lead = rng.randrange(leads)
        kind = rng.choice(TYPES)
        properties: dict[str, Any] = {}
        if kind == "page_view":
            properties["url"] = "https://vendor.example" + rng.choice(PAGES)
        elif kind.startswith("email"):
            properties["campaign"] = f"c{rng.randrange(5)}"
        elif kind == "download":
            properties["asset"] = f"a{rng.randrange(3)}"
        profile = None
        if rng.random() < 0.05:
            profile = {
                "first_name": "Ann",
                "job_title": rng.choice(["VP Sales", "Engineer", "Intern"]),
            }
        at = NOW - timedelta(days=rng.uniform(0, 20))
        events.append(
            (
                f"lead{lead}@corp{lead % 7}.example",
                Event(f"ev-{n}", kind, at, None, properties, profile),
            )
        )
    return events


def bodies_of(events: list[tuple[str, Event]]) -> list[tuple[str, str]]:
    """One queue message per (email, event), with ids m0, m1, ..."""
    return [(f"m{n}", next(encode([pair], NOW))) for n, pair in enumerate(events)]


def delivered_twice(
    bodies: list[tuple[str, str]], rate: float, rng: random.Random
) -> list[tuple[str, str]]:
    """The messages, each followed by a second delivery of itself at `rate` (at least once)."""
    delivered = []
    for message_id, body in bodies:
        delivered.append((message_id, body))
        if rng.random() < rate:
            delivered.append((f"{message_id}-again", body))  # the same event delivered twice
    return delivered


def distinct_kinds(sent: Iterable[Notification]) -> list[str]:
    """The kinds of the notifications sent, each id once (delivery is at least once)."""
    return [n.kind for n in {n.id: n for n in sent}.values()]


def serial_replay(events: list[tuple[str, Event]], model: Any) -> dict[str, LeadState]:
    """What the pipeline must end with: each lead's events applied once, in one call."""
    by_lead: dict[str, list[Event]] = defaultdict(list)
    for email, event in events:
        by_lead[email].append(event)
    states = {}
    for email, lead_events in by_lead.items():
        profile: dict[str, Any] = {"email": email}
        times: dict[str, float] = {}
        for event in sorted(lead_events, key=lambda e: e.occurred_at):
            for name, value in (event.profile or {}).items():
                if event.occurred_at.timestamp() >= times.get(name, 0):
                    profile[name], times[name] = value, event.occurred_at.timestamp()
        states[email] = engine.score(model, None, profile, lead_events, NOW).state
    return states


def stored_record(store: LeadStore, email: str, model_id: str = "default") -> StateRecord:
    """The lead's stored state for the model, with its pending notifications and due time."""
    return store.lead_log(lead_key(email)).states[model_id]


def stored_state(store: LeadStore, email: str, model_id: str = "default") -> LeadState:
    return stored_record(store, email, model_id).state


def explained_points(store: LeadStore, email: str, model_id: str = "default") -> int:
    """The lead's points as its event log and changes explain them (hundredths)."""
    log = store.lead_log(lead_key(email))
    return sum(
        round(d["points"] * 100)
        for record in [*log.events, *log.changes]
        for d in record.deltas.get(model_id, [])
    )


def comparable(state: LeadState) -> dict[str, Any]:
    """Everything that must not depend on how deliveries were grouped. The MQL status is
    excluded: between the reset level and the threshold it depends on the path (hysteresis),
    which `assert_status_consistent` checks instead."""
    document = state.to_dict()
    for name in ("recent_ids", "status", "mql_since", "sla_due_at", "sla_breached"):
        document.pop(name)
    return document


def diff(actual: LeadState, expected: LeadState) -> str:
    a, b = comparable(actual), comparable(expected)
    lines = []
    for name in a:
        if a[name] != b[name] and isinstance(a[name], dict):
            lines += [
                f"{name}.{k}: {a[name].get(k)} != {b[name].get(k)}"
                for k in sorted(set(a[name]) | set(b[name]))
                if a[name].get(k) != b[name].get(k)
            ]
        elif a[name] != b[name]:
            lines.append(f"{name}: {a[name]} != {b[name]}")
    return "\n".join(lines)


def assert_status_consistent(state: LeadState) -> None:
    if state.score >= 6000:
        assert state.status == "mql"
    elif state.score < 4500:
        assert state.status == "open"


def assert_scored_once(
    store: LeadStore, events: list[tuple[str, Event]], kinds: list[str] | None = None
) -> None:
    """Every lead ends as if each event was applied once, every point is explained by its
    log, and (given the distinct notification kinds) every crossing was announced once."""
    expected = serial_replay(events, default_model())
    for email, state in expected.items():
        stored = stored_state(store, email)
        assert comparable(stored) == comparable(state), diff(stored, state)
        assert_status_consistent(stored)
        assert explained_points(store, email) == state.score, email
    if kinds is not None:  # MQL alerts minus cooled alerts = leads now MQL
        now_mql = sum(stored_state(store, email).status == "mql" for email in expected)
        assert kinds.count("lead.mql") - kinds.count("lead.cooled") == now_mql


class SimulatedQueue:
    """At-least-once delivery: failed messages come back until they succeed."""

    def __init__(self, bodies: list[tuple[str, str]], rng: random.Random) -> None:
        self.waiting = list(bodies)
        rng.shuffle(self.waiting)

    def drain(self, score: Callable[[list[tuple[str, str]]], Any], batch_size: int = 10) -> int:
        """Deliver batches until every message succeeded; returns the deliveries."""
        for deliveries in range(10_000):
            if not self.waiting:
                return deliveries
            batch, self.waiting = self.waiting[:batch_size], self.waiting[batch_size:]
            failed = score(batch).failed
            self.waiting += [m for m in batch if m[0] in failed]
        raise AssertionError("the queue never drained")


def score_in_parallel(
    bodies: list[tuple[str, str]], score: Callable[[list[tuple[str, str]]], Any], workers: int
) -> None:
    """`workers` threads take batches of 10 off one queue, from its end, and put back the
    messages that failed, until it is empty; a worker's exception fails the caller."""
    queue = list(bodies)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    batch = [queue.pop() for _ in range(min(10, len(queue)))]
                failed = score(batch).failed
                with lock:
                    queue.extend(m for m in batch if m[0] in failed)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors


TARGET = {"company": "Acme", "industry": "Software", "company_size": "201-500", "country": "US"}


def activity(email: str, title: str, tag: str, count: int = 6) -> list[tuple[str, Event]]:
    """A person of the target market who fills in a demo form and visits pricing pages."""
    profile = {
        **TARGET,
        "first_name": title.split(maxsplit=1)[0],
        "last_name": "Doe",
        "job_title": title,
    }
    events = [(email, Event(f"{tag}-form", "demo_request", NOW - timedelta(hours=5), None,
                            {}, profile))]  # fmt: skip
    events += [
        (
            email,
            Event(
                f"{tag}-v{n}",
                "page_view",
                NOW - timedelta(hours=4, minutes=n),
                None,
                {"url": f"https://v.example/{'pricing' if n % 2 else 'product/x'}"},
            ),
        )
        for n in range(count - 1)
    ]
    return events
