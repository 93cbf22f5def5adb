"""How much engagement decay keeps after a stretch of inactivity, and when it next changes."""

from __future__ import annotations

import math

from leadscore.domain.compiled import DAY, CompiledModel
from leadscore.domain.state import LeadState


def decay_factor(model: CompiledModel, inactive_seconds: float) -> float:
    """The share of engagement kept after `inactive_seconds` without activity."""
    settings = model.model.decay
    if settings is None:
        return 1.0
    past_grace = inactive_seconds - settings.grace_days * DAY
    if past_grace <= 0:
        return 1.0
    if settings.half_life_days is not None:
        return float(0.5 ** (past_grace / (settings.half_life_days * DAY)))
    periods = int(past_grace // (settings.period_days * DAY))
    return float((1 - (settings.percent or 0) / 100) ** periods)


def current_decay(model: CompiledModel, state: LeadState, base: int) -> int:
    """Engagement centipoints the current inactive stretch takes from `base` (<= 0)."""
    if state.decay_factor >= 1 or base <= 0:
        return 0
    settings = model.model.decay
    floor = round(settings.floor * 100) if settings else 0
    kept = max(round(base * state.decay_factor), min(base, floor))
    return kept - base


def next_decay_at(model: CompiledModel, state: LeadState) -> int | None:
    """When decay next changes this lead's score (epoch seconds), or None if it never will."""
    settings = model.model.decay
    if settings is None or state.last_activity_at is None or state.engagement <= 0:
        return None
    if state.engagement <= round(settings.floor * 100):
        return None
    start = state.last_activity_at + int(settings.grace_days * DAY)
    if settings.half_life_days is not None:
        # Continuous: re-evaluated daily, a day after the inactive time already applied.
        applied = 0.0
        if 0 < state.decay_factor < 1:
            applied = math.log2(1 / state.decay_factor) * settings.half_life_days * DAY
        return start + round(applied) + DAY
    period = int(settings.period_days * DAY)
    applied_periods = _periods_applied(state.decay_factor, settings.percent or 0)
    return start + (applied_periods + 1) * period


def _periods_applied(factor: float, percent: float) -> int:
    """How many whole periods of `percent` decay `factor` stands for."""
    if factor >= 1 or percent <= 0:
        return 0
    if factor <= 0 or percent >= 100:
        return 1
    return round(math.log(factor) / math.log(1 - percent / 100))
