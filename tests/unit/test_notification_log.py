"""The notification log (GET /v1/notifications): what the scorer records pending is logged with
it and marked sent once published; the route pages through it newest first, across days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.adapters.webhooks import EnvironmentSecrets
from leadscore.api.app import build
from leadscore.api.deps import Dependencies
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.domain.notifications import Notification
from leadscore.domain.state import LeadState
from leadscore.services.decay import run_decay
from leadscore.services.scoring import score_messages
from leadscore.services.store import LeadWrite, StateRecord

from tests.conftest import Recorder
from tests.integration.api_client import Answer, Api
from tests.unit.decay_helpers import hot, score
from tests.unit.scoring_helpers import FixedModels, bodies_of

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
VP = {"job_title": "VP Sales", "industry": "software", "company_size": 800, "country": "US"}


class Failing:
    def publish(self, notification: Notification) -> None:
        raise TimeoutError("SNS is unavailable")


def mql(store: MemoryLeadStore, email: str, publisher: Any, at: datetime = NOW) -> None:
    event = Event(f"demo-{email}", "demo_request", at, None, {}, VP)
    bodies = bodies_of([(email, event)])
    score_messages(bodies, store, FixedModels(), publisher, clock=lambda: at)


def call(store: MemoryLeadStore, query: dict[str, str], at: datetime = NOW) -> Answer:
    deps = Dependencies(
        queue=None,  # type: ignore[arg-type]
        secrets=EnvironmentSecrets({}),
        store=store,
        models=FixedModels(),
        publisher=Recorder(),
        api_key="k",
        clock=lambda: at,
        list_cursor_key=lambda: b"k" * 32,
    )
    handler = SimpleNamespace(lambda_handler=build(deps).resolve)
    api = Api(handler, "", None)  # type: ignore[arg-type]
    return api.call("GET", "/v1/notifications", headers={"x-api-key": "k"}, query=query)


def test_an_mql_is_logged_and_shown_sent_or_pending() -> None:
    store = MemoryLeadStore()
    mql(store, "vp@corp.example", Recorder())
    mql(store, "cio@other.example", Failing(), NOW + timedelta(minutes=1))
    answer = call(store, {})
    assert answer.status == 200
    failed, sent = answer.json()["notifications"]
    assert (failed["email"], failed["state"], failed["sent_at"]) == (
        "cio@other.example", "pending", None
    )  # fmt: skip
    assert (sent["email"], sent["kind"], sent["model"], sent["state"]) == (
        "vp@corp.example", "lead.mql", "default", "sent"
    )  # fmt: skip
    assert sent["created_at"] == "2026-11-01T12:00:00Z" and sent["sent_at"]
    assert sent["subject"].startswith("New MQL") and answer.json()["next_cursor"] is None


def test_pages_go_newest_first_across_days_with_a_signed_cursor() -> None:
    store = MemoryLeadStore()
    for n in range(5):  # one a day, today's last
        at = int((NOW - timedelta(days=4 - n)).timestamp())
        key = lead_key(f"lead{n}@corp.example")
        notification = Notification(
            f"lead.mql:default:{key[:16]}:{at}", "lead.mql", f"MQL {n}",
            {"email": f"lead{n}@corp.example"}, "text", recorded_at=at,
        )  # fmt: skip
        pending = {notification.id: notification}
        record = StateRecord(key, "default", LeadState("default"), pending, updated_at=at)
        store.commit([LeadWrite(key, [record])])
    seen: list[str] = []
    cursor = None
    while True:
        page = call(store, {"limit": "2", **({"cursor": cursor} if cursor else {})}).json()
        seen += [n["subject"] for n in page["notifications"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["MQL 4", "MQL 3", "MQL 2", "MQL 1", "MQL 0"]
    first = call(store, {"limit": "2"}).json()["next_cursor"]
    assert call(store, {"cursor": first[:-3] + "AAA"}).status == 400
    later = NOW + timedelta(hours=2)
    assert call(store, {"cursor": first}, later).status == 400  # expired
    # a notification older than the log's 30 days is not read
    assert len(call(store, {}, NOW + timedelta(days=30)).json()["notifications"]) == 1


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "201"}, {"other": "1"}])
def test_invalid_parameters_are_refused(query: dict[str, str]) -> None:
    assert call(MemoryLeadStore(), query).status == 422


def test_a_back_dated_notification_is_logged_when_it_was_recorded() -> None:
    """A follow-up deadline found breached long after: the breach's id names the MQL's time,
    40 days back, but it is logged, and shown, as recorded today."""
    store, models = MemoryLeadStore(), FixedModels()
    when = NOW - timedelta(days=40)
    score(store, models, [("late@corp.example", e) for e in hot("late", when, VP)], when)
    assert run_decay(NOW, store, models, Recorder()).stats.sla_breached == 1
    [breach] = call(store, {}).json()["notifications"]  # the MQL is past the log's 30 days
    assert (breach["kind"], breach["created_at"], breach["state"]) == (
        "lead.sla_breached", "2026-11-01T12:00:00Z", "sent"
    )  # fmt: skip
    assert breach["id"].endswith(f":{int(when.timestamp())}")  # the MQL's time
