"""Small builders for the engine's tests: models written inline, events, times."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.events import Event
from leadscore.domain.model import parse_model
from leadscore.domain.state import LeadState
from leadscore_tools.modelfiles import load_model

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)

# A small model: two fit categories, one engagement rule; tests replace what they exercise.
BASE: dict[str, Any] = {
    "id": "test",
    "name": "Test model",
    "fit": {
        "categories": [
            {
                "name": "role",
                "weight": 60,
                "field": "job_title",
                "criteria": [
                    {"name": "executive", "words": ["vp", "ceo", "chief"], "points": 100},
                    {"name": "manager", "words": ["manager"], "points": 50},
                ],
            },
            {
                "name": "size",
                "weight": 40,
                "field": "company_size",
                "criteria": [
                    {"name": "mid", "min": 200, "max": 5000, "points": 100},
                    {"name": "small", "min": 1, "below": 200, "points": 40},
                ],
            },
        ]
    },
    "spam": None,
    "engagement": {"rules": [{"name": "visit", "event": "page_view", "points": 10}]},
}


def document(**sections: Any) -> dict[str, Any]:
    """The base model with whole top-level sections replaced (`engagement=...`)."""
    model = copy.deepcopy(BASE)
    model.update(copy.deepcopy(sections))
    return model


def build(**sections: Any) -> CompiledModel:
    return compile_model(parse_model(document(**sections)))


def rules(*engagement_rules: dict[str, Any], **extra: Any) -> CompiledModel:
    """A model whose engagement is exactly these rules (plus groups, recency, ... in `extra`)."""
    return build(engagement={"rules": list(engagement_rules), **extra})


@cache
def shipped(name: str) -> CompiledModel:
    """A model from models/ (default.yaml, analytics.yaml)."""
    return compile_model(load_model(MODELS / name))


def days_ago(days: float, now: datetime = NOW) -> datetime:
    return now - timedelta(days=days)


def event(
    event_id: str,
    kind: str,
    when: datetime | float = 1,
    product: str | None = None,
    **properties: Any,
) -> Event:
    """An event `when` (a time, or days before NOW) with `properties`."""
    occurred = when if isinstance(when, datetime) else days_ago(when)
    return Event(event_id, kind, occurred, product, properties)


def run(
    model: CompiledModel,
    events: list[Event] = (),  # type: ignore[assignment]
    profile: dict[str, Any] | None = None,
    state: LeadState | None = None,
    now: datetime = NOW,
) -> engine.Result:
    return engine.score(model, state, profile or {"email": "lead@acme.com"}, list(events), now)


def points(state: LeadState, reason: str) -> float:
    """A reason's points in the score (0 when absent)."""
    entry = state.reasons.get(reason)
    return 0 if entry is None else entry[0] / 100


def count(state: LeadState, reason: str) -> int:
    entry = state.reasons.get(reason)
    return 0 if entry is None else entry[1]


def history_total(*results: engine.Result) -> int:
    """Centipoints of every delta of these results, in order."""
    return sum(delta.points for result in results for delta in result.deltas)


def reasons_total(state: LeadState) -> int:
    return sum(entry[0] for entry in state.reasons.values())


def comparable(state: LeadState) -> dict[str, Any]:
    """What must not depend on delivery: everything but the dedupe window's order and status."""
    document = state.to_dict()
    document["recent_ids"] = sorted(document["recent_ids"])
    for name in ("status", "mql_since", "sla_due_at", "sla_breached"):
        document.pop(name)
    return document
