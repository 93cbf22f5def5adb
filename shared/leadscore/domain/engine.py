"""The scoring engine: model + state + profile + events + now -> new state, deltas, alerts.

Pure: no AWS, no clock, no environment. Every point is explained: each delta lists the
reasons it moved, and the deltas of a lead add up to its score, decay included.

Order and duplicates: events are applied in `occurred_at` order and an id seen before
(in this call or in the state's recent window) changes nothing. Limits keep the earliest
events that fit ("only the first open counts"): a late-arriving earlier event takes the
place of a later one, so delivery order does not change the result. Decay is permanent
and applies to what was known when it ran; a late event never undoes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leadscore.domain import domains, spam
from leadscore.domain.compiled import DAY, CompiledModel, Rule
from leadscore.domain.events import Event
from leadscore.domain.state import MAX_LIMIT_KEYS, MAX_RECENT_IDS, LeadState

FULL = 10_000  # 100 points, in centipoints
SCORE_KEYS = ("score.clamp", "disqualified")


@dataclass(frozen=True, slots=True)
class Delta:
    """One change of a lead's score and the reasons behind it (centipoints)."""

    kind: str  # event | profile | decay
    at: int  # epoch seconds: the event's time, or `now`
    points: int
    rules: dict[str, int]
    event_id: str | None = None
    event_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "at": iso(self.at),
            "points": self.points / 100,
            "rules": [{"rule": k, "points": v / 100} for k, v in self.rules.items()],
        }


@dataclass(frozen=True, slots=True)
class Transition:
    """A threshold crossing sales hears about: `mql` or `cooled`."""

    kind: str
    at: int


@dataclass(slots=True)
class Result:
    state: LeadState
    deltas: list[Delta] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    out_of_scope: list[str] = field(default_factory=list)


def iso(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def digest(event_id: str) -> str:
    return hashlib.blake2b(event_id.encode(), digest_size=6).hexdigest()


# ---------------------------------------------------------------- public operations


def score(
    model: CompiledModel,
    state: LeadState | None,
    profile: Mapping[str, Any],
    events: Iterable[Event],
    now: datetime,
) -> Result:
    """Apply `events` (any order, duplicates allowed) and the current `profile` to `state`."""
    current = _fresh(model, state)
    result = Result(current)
    now_s = epoch(now)
    seen = set(current.recent_ids)
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.id))
    profile_event = next((e for e in ordered if e.profile), None)

    changes: dict[str, int] = {}
    _refresh_fit(model, current, profile, changes)
    _refresh_engagement(model, current, changes)
    _refresh_score(current, changes)
    if changes:
        at = epoch(profile_event.occurred_at) if profile_event else now_s
        event_id = profile_event.id if profile_event else None
        result.deltas.append(_delta("profile", at, changes, event_id))

    for event in ordered:
        tag = digest(event.id)
        if tag in seen:
            result.duplicates.append(event.id)
            continue
        seen.add(tag)
        current.recent_ids.append(tag)
        if not model.in_scope(event.product):
            result.out_of_scope.append(event.id)
            continue
        changes = {}
        _apply_event(model, current, event, tag, now_s, changes)
        result.deltas.append(
            _delta("event", epoch(event.occurred_at), changes, event.id, event.type)
        )
    del current.recent_ids[:-MAX_RECENT_IDS]
    _transition(model, current, now_s, result)
    return result


def decay(model: CompiledModel, state: LeadState, now: datetime) -> Result:
    """Lower the engagement of a lead inactive past the grace period, as of `now`.

    Idempotent: the decay factor depends only on the inactive time, so running twice for the
    same `now` (or an earlier one) changes nothing.
    """
    current = _fresh(model, state)
    result = Result(current)
    settings = model.model.decay
    if settings is None or current.last_activity_at is None:
        return result
    now_s = epoch(now)
    factor = decay_factor(model, now_s - current.last_activity_at)
    if factor >= current.decay_factor:
        return result
    current.decay_factor = factor
    changes: dict[str, int] = {}
    _refresh_engagement(model, current, changes)
    _refresh_score(current, changes)
    if changes:
        result.deltas.append(_delta("decay", now_s, changes))
    _transition(model, current, now_s, result)
    return result


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


def next_decay_at(model: CompiledModel, state: LeadState) -> int | None:
    """When decay next changes this lead's score (epoch seconds), or None if it never will."""
    settings = model.model.decay
    if settings is None or state.last_activity_at is None or state.engagement <= 0:
        return None
    if state.engagement <= round(settings.floor * 100):
        return None
    start = state.last_activity_at + int(settings.grace_days * DAY)
    if settings.half_life_days is not None:
        return start + DAY  # continuous: re-evaluated daily
    period = int(settings.period_days * DAY)
    applied = _periods_applied(state.decay_factor, settings.percent or 0)
    return start + (applied + 1) * period


def _periods_applied(factor: float, percent: float) -> int:
    if factor >= 1 or percent <= 0:
        return 0
    kept, periods = 1.0, 0
    while kept > factor + 1e-12:
        kept *= 1 - percent / 100
        periods += 1
    return periods


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


# ---------------------------------------------------------------- internals


def _fresh(model: CompiledModel, state: LeadState | None) -> LeadState:
    if state is None:
        return LeadState(model_id=model.id, model_version=model.version)
    copy = LeadState.from_dict(state.to_dict())
    copy.model_version = model.version
    return copy


def _delta(
    kind: str, at: int, changes: dict[str, int], event_id: str | None = None, event_type: str | None = None
) -> Delta:
    rules = {k: v for k, v in changes.items() if v}
    return Delta(kind, at, sum(rules.values()), rules, event_id, event_type)


def _set_reason(state: LeadState, key: str, points: int, count: int, changes: dict[str, int]) -> None:
    old = state.reasons.get(key)
    old_points = old[0] if old else 0
    if points == 0 and count == 0:
        if old is not None:
            del state.reasons[key]
    else:
        state.reasons[key] = [points, count]
    if points != old_points:
        changes[key] = changes.get(key, 0) + points - old_points


def _profile_value(profile: Mapping[str, Any], field_name: str) -> Any:
    if field_name == "email_domain":
        return domains.email_domain(str(profile.get("email") or ""))
    return profile.get(field_name)


def _refresh_fit(
    model: CompiledModel, state: LeadState, profile: Mapping[str, Any], changes: dict[str, int]
) -> None:
    """Recompute the fit parts from the profile (fit points, then weighted into the score)."""
    parts: dict[str, float] = {}
    definition = model.model.fit
    if definition.base:
        parts["fit.base"] = definition.base
    for category in model.categories:
        for criterion in category.criteria:
            if criterion.matches(_profile_value(profile, criterion.field)):
                parts[criterion.key] = criterion.points * category.weight
                break
        else:
            if category.default_points:
                parts[f"fit.{category.name}.default"] = category.default_points * category.weight
    bonus = definition.completion_bonus
    if bonus is not None:
        filled = sum(1 for name in bonus.fields if profile.get(name) not in (None, ""))
        if filled:
            parts["fit.completion_bonus"] = bonus.points * filled
    flags: list[str] = []
    disqualified = False
    for adjustment in model.adjustments:
        if adjustment.matches(_profile_value(profile, adjustment.field)):
            parts[adjustment.key] = adjustment.points
            flags.append(adjustment.flag or adjustment.key.removeprefix("negative."))
            disqualified = disqualified or adjustment.disqualify
    spam_settings = model.model.spam
    if spam_settings is not None and _is_spam(model, profile):
        parts["spam"] = spam_settings.penalty
        flags.append("spam")
        disqualified = disqualified or spam_settings.disqualify
    if disqualified:
        flags.append("disqualified")

    total = sum(parts.values())
    clamped = min(max(total, 0.0), 100.0)
    if clamped != total:
        parts["fit.clamp"] = clamped - total
    state.fit = round(clamped * 100)
    state.flags, state.disqualified = sorted(set(flags)), disqualified

    weight = model.fit_weight * 100
    stale = [k for k in state.reasons if k.startswith(("fit.", "negative.", "spam"))]
    for key in stale:
        if key not in parts:
            _set_reason(state, key, 0, 0, changes)
    for key, fit_points in parts.items():
        _set_reason(state, key, round(fit_points * weight), 1, changes)


def _is_spam(model: CompiledModel, profile: Mapping[str, Any]) -> bool:
    settings = model.model.spam
    if settings is None:
        return False
    names = [str(profile.get(k) or "") for k in ("first_name", "last_name")]
    if settings.lowercase_names and any(spam.is_lowercase_name(n) for n in names if n):
        return True
    if settings.keyboard_run is not None:
        texts = [*names, str(profile.get("company") or "")]
        if any(spam.has_keyboard_run(t, settings.keyboard_run) for t in texts if t):
            return True
    if settings.disposable_domains:
        domain = domains.email_domain(str(profile.get("email") or ""))
        return bool(domain) and model.lists.contains("disposable", domain)
    return False


def _rule_for(model: CompiledModel, event: Event) -> Rule | None:
    for rule in model.rules_by_type.get(event.type, ()):
        properties = event.properties
        if all(test(properties.get(prop)) for prop, test in rule.where):
            return rule
    return None


def _apply_event(
    model: CompiledModel, state: LeadState, event: Event, tag: str, now_s: int, changes: dict[str, int]
) -> None:
    rule = _rule_for(model, event)
    if rule is None:
        return
    at = epoch(event.occurred_at)
    if rule.points > 0 and (state.last_activity_at is None or at > state.last_activity_at):
        # New activity ends the inactive stretch: its decay becomes permanent.
        if state.decay_factor < 1:
            state.decay_kept += _current_decay(model, state)
            state.decay_factor = 1.0
        state.last_activity_at = at
    points = round(rule.points * 100 * model.recency_weight(now_s - at))
    gained, counted = (points, 1) if rule.limit is None else _limit(state, rule, event, at, tag, points)
    if counted or gained:
        state.rule_points[rule.key] = state.rule_points.get(rule.key, 0) + gained
        entry = state.reasons.get(rule.key)
        count = (entry[1] if entry else 0) + counted
        weighted = round(state.rule_points[rule.key] * model.engagement_weight)
        _set_reason(state, rule.key, weighted, count, changes)
    if not counted:
        changes.setdefault(rule.key + ".limit_reached", 0)
    _refresh_engagement(model, state, changes)
    _refresh_score(state, changes)


def _limit(
    state: LeadState, rule: Rule, event: Event, at: int, tag: str, points: int
) -> tuple[int, int]:
    """Keep the earliest `count` events per window; return (points gained, events counted)."""
    assert rule.limit is not None
    limit = rule.limit
    value = "" if limit.key is None else str(event.properties.get(limit.key, ""))[:200]
    window = "" if limit.per == "ever" else str(at // (DAY if limit.per == "day" else 7 * DAY))
    slots = state.limits.setdefault(rule.key, {})
    slot_key = f"{value}|{window}"
    slot = slots.setdefault(slot_key, [])
    entry = [at, tag, points]
    if len(slot) < limit.count:
        slot.append(entry)
        slot.sort()
        _evict(slots)
        return points, 1
    latest = slot[-1]
    if (at, tag) >= (latest[0], latest[1]):
        return 0, 0
    # An earlier event arrived late: it takes the place of the latest one counted.
    slot[-1] = entry
    slot.sort()
    return points - int(latest[2]), 0


def _evict(slots: dict[str, list[list[Any]]]) -> None:
    if len(slots) > MAX_LIMIT_KEYS:
        oldest = min(slots, key=lambda k: max(e[0] for e in slots[k]))
        del slots[oldest]


def _engagement_before_decay(model: CompiledModel, state: LeadState) -> tuple[int, dict[str, int]]:
    caps: dict[str, int] = {}
    if model.group_caps:
        sums: dict[str, int] = dict.fromkeys(model.group_caps, 0)
        for key, points in state.rule_points.items():
            group = model.rule_groups.get(key)
            if group is not None:
                sums[group] += points
        caps = {g: min(0, model.group_caps[g] - total) for g, total in sums.items()}
    return sum(state.rule_points.values()) + sum(caps.values()) + state.decay_kept, caps


def _current_decay(model: CompiledModel, state: LeadState) -> int:
    """Engagement centipoints the current inactive stretch takes away (<= 0)."""
    if state.decay_factor >= 1:
        return 0
    base, _ = _engagement_before_decay(model, state)
    if base <= 0:
        return 0
    settings = model.model.decay
    floor = round(settings.floor * 100) if settings else 0
    kept = max(round(base * state.decay_factor), min(base, floor))
    return kept - base


def _refresh_engagement(model: CompiledModel, state: LeadState, changes: dict[str, int]) -> None:
    """Recompute group caps, decay and the 0-100 clamp of engagement, in score points."""
    base, caps = _engagement_before_decay(model, state)
    weight = model.engagement_weight
    for group, adjustment in caps.items():
        _set_reason(state, f"engagement.cap.{group}", round(adjustment * weight), 0, changes)
    current = _current_decay(model, state)
    lost = state.decay_kept + current
    _set_reason(state, "decay", round(lost * weight), 0, changes)
    value = base + current
    clamped = min(max(value, 0), FULL)
    _set_reason(state, "engagement.clamp", round((clamped - value) * weight), 0, changes)
    state.engagement = clamped


def _refresh_score(state: LeadState, changes: dict[str, int]) -> None:
    total = sum(p for k, (p, _) in state.reasons.items() if k not in SCORE_KEYS)
    clamped = min(max(total, 0), FULL)
    _set_reason(state, "score.clamp", clamped - total, 0, changes)
    _set_reason(state, "disqualified", -clamped if state.disqualified else 0, 0, changes)
    state.score = 0 if state.disqualified else clamped


def _grade(model: CompiledModel, fit: int) -> str:
    grades = model.model.fit.grades
    points = fit / 100
    return "A" if points >= grades.A else "B" if points >= grades.B else "C" if points >= grades.C else "D"


def _level(model: CompiledModel, engagement: int) -> int:
    levels = model.model.engagement.levels
    points = engagement / 100
    if points >= levels.level_1:
        return 1
    return 2 if points >= levels.level_2 else 3 if points >= levels.level_3 else 4


def _transition(model: CompiledModel, state: LeadState, now_s: int, result: Result) -> None:
    state.grade, state.level = _grade(model, state.fit), _level(model, state.engagement)
    thresholds = model.model.thresholds
    if state.status != "mql" and state.score >= round(thresholds.mql * 100):
        sla = model.model.sla_hours.get(state.rating)
        state.status, state.mql_since, state.sla_breached = "mql", now_s, False
        state.sla_due_at = None if sla is None else now_s + round(sla * 3600)
        result.transitions.append(Transition("mql", now_s))
    elif state.status == "mql" and state.score < round(thresholds.reset * 100):
        state.status, state.mql_since, state.sla_due_at = "open", None, None
        result.transitions.append(Transition("cooled", now_s))
