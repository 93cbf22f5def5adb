"""A lead's scores and the reasons behind them, as the API and notifications show them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from leadscore.domain.compiled import DAY, CompiledModel
from leadscore.domain.explain import reason_text
from leadscore.domain.state import LeadState
from leadscore.domain.times import epoch, iso


def reasons(
    model: CompiledModel,
    state: LeadState,
    profile: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The reasons of the current score, largest effect first, each in words (`text`)."""
    ranked = sorted(state.reasons.items(), key=lambda item: (-abs(item[1][0]), item[0]))
    inactive = _inactive_days(state, now)
    return [
        {
            "rule": key,
            "points": points / 100,
            "count": count,
            "text": reason_text(model, key, count, profile, inactive),
        }
        for key, (points, count) in ranked
        if points or count
    ]


def _inactive_days(state: LeadState, now: datetime | None) -> int | None:
    """Whole days since the lead's last activity while its engagement decays, else None."""
    if now is None or state.last_activity_at is None or state.decay_factor >= 1:
        return None
    return max(0, (epoch(now) - state.last_activity_at) // DAY)


def summary(
    model: CompiledModel,
    state: LeadState,
    profile: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The lead's scores for one model, as the API and notifications show them: the
    `profile` and `now`, when given, make the reasons' words precise (explain.py)."""
    return {
        "model": model.id,
        "model_version": state.model_version,
        "score": state.score / 100,
        "fit": state.fit / 100,
        "engagement": state.engagement / 100,
        "grade": state.grade,
        "engagement_level": state.level,
        "rating": state.rating,
        "status": state.status,
        "mql_since": iso(state.mql_since),
        "sla_due_at": iso(state.sla_due_at),
        "last_activity_at": iso(state.last_activity_at),
        "flags": list(state.flags),
        "reasons": reasons(model, state, profile, now),
    }
