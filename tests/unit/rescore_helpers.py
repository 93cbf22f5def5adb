"""Shared by the rescore suites on the in-memory stores and on moto: the scene (24 leads scored by
the default model, then a changed version published), the catalog and the queue in memory, and
a job run from start to progress."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from leadscore.adapters.memory_rescore_jobs import MemoryRescoreJobs
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.events import Event
from leadscore.domain.model import ScoringModel, parse_model
from leadscore.domain.notifications import Publisher
from leadscore.domain.state import LeadState
from leadscore.services import rescore
from leadscore.services.rescore_jobs import JobOptions, RescoreJob
from leadscore.services.scoring import ModelSource
from leadscore.services.store import LeadStore
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, Recorder
from tests.unit.decay_helpers import score
from tests.unit.scoring_helpers import stored_state

AT = datetime(2026, 11, 1, 12, tzinfo=UTC)  # the changed version is published
NOW = AT + timedelta(hours=1)  # a job starts
LEADS = 24
# A job's counters that must not depend on how its messages were delivered
COUNTED = ("leads_total", "leads_done", "changed", "rating_changes", "new_mqls", "lost_mqls")
PROFILES = [
    {"first_name": "Ann", "last_name": "Lee", "company": "Acme", "job_title": "VP Sales",
     "industry": "Software", "company_size": "201-500", "country": "US"},
    {"first_name": "Bo", "last_name": "Kim", "company": "Beta", "job_title": "Marketing Manager",
     "industry": "Retail", "company_size": "51-200", "country": "DE"},
    {"first_name": "Cy", "last_name": "Ode", "company": "Gamma", "job_title": "Engineer",
     "industry": "Media", "company_size": "11-50", "country": "BR"},
]  # fmt: skip


def default_model() -> ScoringModel:
    return load_model(ROOT / "models" / "default.yaml")


def changed_model(
    base: ScoringModel, model_id: str | None = None, **thresholds: int
) -> ScoringModel:
    """The default model with other points (pricing counts more, a demo less), engagement
    levels and thresholds."""
    document = base.model_dump(mode="json", by_alias=True, exclude_none=True)
    document.pop("version", None)
    if model_id:
        document["id"] = model_id
    for rule in document["engagement"]["rules"]:
        if rule["name"] == "pricing_page":
            rule["points"] = 25
        if rule["name"] == "demo_request":
            rule["points"] = 30
    document["engagement"]["levels"] = {"1": 60, "2": 40, "3": 20}
    document["thresholds"] = {"mql": 50, "reset": 40, **thresholds}
    return parse_model(document)


def emails() -> list[str]:
    return [f"lead{n}@corp{n % 7}.example" for n in range(LEADS)]


def activity(email: str, n: int, at: datetime, batch: int) -> list[tuple[str, Event]]:
    """A few events of the lead's batch, the first one carrying its profile."""
    rng = random.Random(f"{email}:{batch}")
    kinds = [
        ("page_view", {"url": "https://v.example/pricing"}),
        ("page_view", {"url": "https://v.example/product/x"}),
        ("download", {"asset": f"a{rng.randrange(3)}"}),
        ("email_click", {"campaign": f"c{rng.randrange(3)}"}),
        ("demo_request", {}),
        ("webinar_attended", {"webinar": "w1"}),
    ]
    events = []
    for i in range(rng.randrange(2, 6)):
        kind, properties = rng.choice(kinds)
        profile = PROFILES[n % len(PROFILES)] if i == 0 and batch == 0 else None
        moment = at + timedelta(minutes=i)
        events.append(
            (email, Event(f"{email}-{batch}-{i}", kind, moment, None, properties, profile))
        )
    return events


def score_and_publish(
    publish: Callable[[ScoringModel, datetime], Any], store: LeadStore, models: ModelSource
) -> None:
    """The scene: 24 leads scored by the default model (v1) and, live alongside, by its changed
    version under the id `fresh`; then the changed version is published as `default` v2."""
    default = default_model()
    publish(default, AT - timedelta(days=10))
    publish(changed_model(default, "fresh"), AT - timedelta(days=10))
    for batch, when in enumerate((AT - timedelta(days=2), AT - timedelta(days=1))):
        leads = emails()
        score(store, models, [p for n, e in enumerate(leads) for p in activity(e, n, when, batch)],
              when)  # fmt: skip
    publish(changed_model(default), AT)


def comparable(value: LeadState) -> dict[str, Any]:
    """Everything of a state but its model and the MQL episode (kept across a rescore)."""
    document = value.to_dict()
    for name in ("model_id", "model_version", "mql_since", "sla_due_at", "sla_breached"):
        document.pop(name)
    return document


class Catalog:
    """Published models without a table: the scorer's current ones (`current`) and, for
    rescoring, each id's versions and when the last was published (`published`, `read`)."""

    def __init__(self) -> None:
        self.versions: dict[str, list[tuple[ScoringModel, int]]] = {}
        self._compiled: dict[tuple[str, int], CompiledModel] = {}

    def publish(self, model: ScoringModel, at: datetime) -> ScoringModel:
        """Store `model` as the next version of its id and make it current."""
        versions = self.versions.setdefault(model.id, [])
        published = model.model_copy(update={"version": len(versions) + 1})
        versions.append((published, engine.epoch(at)))
        return published

    def current(self) -> Sequence[CompiledModel]:
        return [self._compile(versions[-1][0]) for versions in self.versions.values()]

    def _compile(self, model: ScoringModel) -> CompiledModel:
        key = (model.id, model.version or 0)
        if key not in self._compiled:
            self._compiled[key] = compile_model(model)
        return self._compiled[key]

    def published(self, model_id: str) -> tuple[int, int] | None:
        versions = self.versions.get(model_id)
        return (len(versions), versions[-1][1]) if versions else None

    def read(self, model_id: str, version: int) -> ScoringModel | None:
        versions = self.versions.get(model_id, [])
        return versions[version - 1][0] if 0 < version <= len(versions) else None


class MemoryQueue:
    """`RescoreQueue` in memory, delivered in the order sent. A delivery that raises
    RuntimeError (the faults the tests inject) comes back, until its `max_receives`-th
    receive, after which it waits in `dead` (the DLQ) for `redrive`."""

    def __init__(self, max_receives: int | None = None) -> None:
        self.max_receives = max_receives
        self.waiting: list[tuple[str, int]] = []  # body, receives so far
        self.dead: list[str] = []

    def send(self, bodies: Sequence[dict[str, Any]], delay_seconds: int = 0) -> None:
        self.waiting += [(json.dumps(body), 0) for body in bodies]

    def drain(
        self,
        handle: Callable[[str, int], None],
        repeat: int = 1,
        after_each: Callable[[], None] | None = None,
    ) -> int:
        """Deliver until nothing waits (each message `repeat` times in a row, as SQS may);
        returns the deliveries that raised."""
        failed = 0
        for _ in range(10_000):
            if not self.waiting:
                return failed
            body, receives = self.waiting.pop(0)
            try:
                for n in range(repeat):
                    handle(body, receives + n + 1)
            except RuntimeError:
                failed += 1
                receives += 1
                if self.max_receives is not None and receives >= self.max_receives:
                    self.dead.append(body)
                else:
                    self.waiting.append((body, receives))
            if after_each is not None:
                after_each()
        raise AssertionError("the queue never drained")

    def redrive(self, copies: int = 1) -> None:
        """Move the DLQ's messages back to the queue; `copies` > 1 delivers each that often."""
        self.waiting += [(body, 0) for body in self.dead for _ in range(copies)]
        self.dead = []


class Rescoring:
    """The scene on the in-memory stores, and jobs run on it, all on one job store (`jobs`,
    which a test may replace)."""

    def __init__(self, store: MemoryLeadStore | None = None) -> None:
        self.store = MemoryLeadStore() if store is None else store
        self.catalog = Catalog()
        self.jobs = MemoryRescoreJobs()
        score_and_publish(self.catalog.publish, self.store, self.catalog)

    def start(
        self, queue: MemoryQueue, options: JobOptions | None = None, model_id: str = "default"
    ) -> RescoreJob:
        job = rescore.start_job(model_id, options or JobOptions(), queue, self.jobs,
                                self.catalog, NOW)  # fmt: skip
        assert job is not None
        return job

    def rescorer(
        self, queue: MemoryQueue, publisher: Publisher | None = None, **worker: Any
    ) -> rescore.Rescorer:
        """The worker, with small pages and chunks so that 24 leads make many messages."""
        return rescore.Rescorer(
            queue,
            publisher or Recorder(),
            self.jobs,
            self.store,
            self.catalog,
            clock=lambda: NOW,
            **{"list_page": 7, "chunk_size": 3, **worker},
        )

    def progress(self, job: RescoreJob) -> dict[str, Any]:
        found = self.jobs.read(job.model_id, job.job_id)
        assert found is not None
        return rescore.job_progress(found, self.store)

    def run(
        self,
        options: JobOptions | None = None,
        publisher: Publisher | None = None,
        model_id: str = "default",
        repeat: int = 1,
    ) -> dict[str, Any]:
        """A job from start to end; its progress."""
        queue = MemoryQueue()
        job = self.start(queue, options, model_id)
        queue.drain(self.rescorer(queue, publisher).handle, repeat)
        return self.progress(job)

    def state(self, email: str, model_id: str = "default") -> LeadState:
        return stored_state(self.store, email, model_id)
