"""A lead's scores and the reasons behind them, as the API and notifications show them."""

from __future__ import annotations

from typing import Any

from leadscore.domain.compiled import CompiledModel
from leadscore.domain.state import LeadState
from leadscore.domain.times import iso


def reasons(state: LeadState) -> list[dict[str, Any]]:
    """The reasons of the current score, largest effect first."""
    ranked = sorted(state.reasons.items(), key=lambda item: (-abs(item[1][0]), item[0]))
    return [
        {"rule": key, "points": points / 100, "count": count}
        for key, (points, count) in ranked
        if points or count
    ]


def summary(model: CompiledModel, state: LeadState) -> dict[str, Any]:
    """The lead's scores for one model, as the API and notifications show them."""
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
        "reasons": reasons(state),
    }
