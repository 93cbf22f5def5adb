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
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from leadscore.domain import domains, spam
from leadscore.domain.compiled import DAY, MEMO_SIZE, CompiledModel, ProfileFit, Rule
from leadscore.domain.events import Event
from leadscore.domain.state import MAX_LIMIT_KEYS, MAX_RECENT_IDS, LeadState

FULL = 10_000  # 100 points, in centipoints
SCORE_KEYS = frozenset({"score.clamp", "disqualified"})  # reasons that act on the total
FIT_PREFIXES = ("fit.", "negative.", "spam")
TIME_AND_ID = attrgetter("occurred_at", "id")  # the order events are applied in
PROFILE_OF = attrgetter("profile")


@dataclass(slots=True)  # not frozen: a frozen dataclass is five times slower to build
class Delta:
    """One change of a lead's score and the reasons behind it (centipoints); read-only.

    `rule` is the engagement rule an event matched (None: no rule, the event scores
    nothing); `limited` says that rule's limit was already reached, so the event gave 0.
    """

    kind: str  # event | profile | decay
    at: int  # epoch seconds: the event's time, or `now`
    points: int
    rules: dict[str, int]
    event_id: str | None = None
    event_type: str | None = None
    rule: str | None = None
    limited: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "at": iso(self.at),
            "points": self.points / 100,
            "rule": self.rule,
            "limited": self.limited,
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


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BLANK_DIGEST = hashlib.blake2b(digest_size=6)  # copied per id: half the cost of a new one


def epoch(moment: datetime) -> int:
    """`int(moment.timestamp())`, in integers: a third cheaper, and exact."""
    if moment.tzinfo is None:  # naive: local time, as `timestamp` reads it
        return int(moment.timestamp())
    since = moment - EPOCH
    seconds = since.days * DAY + since.seconds
    return seconds + 1 if seconds < 0 and since.microseconds else seconds  # toward zero


def digest(event_id: str) -> str:
    """The short, stable id of an event kept in a lead's recent ids and limit windows."""
    hasher = BLANK_DIGEST.copy()
    hasher.update(event_id.encode())
    return hasher.hexdigest()


# ---------------------------------------------------------------- public operations


def score(
    model: CompiledModel,
    state: LeadState | None,
    profile: Mapping[str, Any],
    events: Iterable[Event],
    now: datetime,
) -> Result:
    """Apply `events` (any order, duplicates allowed) and the current `profile` to `state`.

    `profile` is the lead's whole profile as known now: fit is recomputed from it.
    """
    lead = _WorkingState(model, _fresh(model, state))
    current = lead.state
    result = Result(current)
    now_s = epoch(now)
    ordered = sorted(events, key=TIME_AND_ID)
    profile_event = next(filter(PROFILE_OF, ordered), None)

    _refresh_fit(lead, profile)
    _refresh_engagement(lead, model.group_caps)
    _refresh_score(lead)
    if lead.changes:
        at = epoch(profile_event.occurred_at) if profile_event else now_s
        event_id = profile_event.id if profile_event else None
        changes = lead.take_changes()
        result.deltas.append(Delta("profile", at, sum(changes.values()), changes, event_id))

    _apply_events(lead, ordered, now_s, result)
    _transition(model, current, now_s, result)
    return result


def decay(model: CompiledModel, state: LeadState, now: datetime) -> Result:
    """Lower the engagement of a lead inactive past the grace period, as of `now`.

    Idempotent: the decay factor depends only on the inactive time, so running twice for the
    same `now` (or an earlier one) changes nothing.
    """
    lead = _WorkingState(model, _fresh(model, state))
    current = lead.state
    result = Result(current)
    if model.model.decay is None or current.last_activity_at is None:
        return result
    now_s = epoch(now)
    factor = decay_factor(model, now_s - current.last_activity_at)
    if factor >= current.decay_factor:
        return result
    current.decay_factor = factor
    _refresh_engagement(lead, ())
    _refresh_score(lead)
    if lead.changes:
        changes = lead.take_changes()
        result.deltas.append(Delta("decay", now_s, sum(changes.values()), changes))
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


class _WorkingState:
    """A lead's state during one call, with running totals so that an event costs O(1).

    Every reason goes through `set_reason`, which records the change for the delta under
    way and keeps `reason_total` (the sum of the reasons before the score's own clamp).
    """

    __slots__ = ("cap_adjustments", "cap_total", "changes", "group_totals", "model",
                 "reason_total", "rule_total", "state")  # fmt: skip

    def __init__(self, model: CompiledModel, state: LeadState) -> None:
        self.model = model
        self.state = state
        self.changes: dict[str, int] = {}
        # Engagement centipoints of every rule, and of each capped group, before caps and decay.
        self.group_totals = dict.fromkeys(model.group_caps, 0)
        self.cap_adjustments = dict.fromkeys(model.group_caps, 0)
        self.reason_total = self.rule_total = self.cap_total = 0
        if not state.reasons and not state.rule_points:  # a new lead
            return
        self.reason_total = sum(p for k, (p, _) in state.reasons.items() if k not in SCORE_KEYS)
        self.rule_total = sum(state.rule_points.values())
        for key, points in state.rule_points.items():
            group = model.rule_groups.get(key)
            if group in self.group_totals:
                self.group_totals[group] += points
        self.cap_adjustments = {
            group: min(0, model.group_caps[group] - total)
            for group, total in self.group_totals.items()
        }
        self.cap_total = sum(self.cap_adjustments.values())

    def set_reason(self, key: str, points: int, count: int) -> None:
        reasons = self.state.reasons
        old = reasons.get(key)
        old_points = old[0] if old else 0
        if points == 0 and count == 0:
            if old is not None:
                del reasons[key]
        elif old is None:
            reasons[key] = [points, count]
        else:
            old[0], old[1] = points, count
        if points != old_points:
            self.changes[key] = self.changes.get(key, 0) + points - old_points
            if key not in SCORE_KEYS:
                self.reason_total += points - old_points

    def adjust(self, key: str, points: int) -> None:
        """An explicit adjustment (a cap, decay, a clamp): a reason only while it is not 0."""
        if points or key in self.state.reasons:
            self.set_reason(key, points, 0)

    def take_changes(self) -> dict[str, int]:
        """The reasons moved since the last call (none that moved back to where it was)."""
        changes, self.changes = self.changes, {}
        return changes if all(changes.values()) else {k: v for k, v in changes.items() if v}

    def engagement_base(self) -> int:
        """Engagement centipoints after group caps and earlier decay, before the current decay."""
        return self.rule_total + self.cap_total + self.state.decay_kept


def _fresh(model: CompiledModel, state: LeadState | None) -> LeadState:
    if state is None:
        return LeadState(model_id=model.id, model_version=model.version)
    copy = state.copy()
    copy.model_version = model.version
    return copy


def _refresh_fit(lead: _WorkingState, profile: Mapping[str, Any]) -> None:
    """Write the profile's fit into the lead: its reasons, fit, flags, disqualification."""
    state = lead.state
    found = _fit_of(lead.model, profile)
    state.fit, state.flags, state.disqualified = found.fit, list(found.flags), found.disqualified
    reasons = state.reasons
    if reasons:  # a new lead has no earlier fit to take back
        current = dict(found.reasons)
        for key in [k for k in reasons if k.startswith(FIT_PREFIXES) and k not in current]:
            lead.set_reason(key, 0, 0)
    changes = lead.changes
    for key, points in found.reasons:  # lead.set_reason(key, points, 1), inline
        entry = reasons.get(key)
        if entry is None:
            reasons[key] = [points, 1]
            moved = points
        else:
            moved = points - entry[0]
            entry[0], entry[1] = points, 1
        if moved:
            changes[key] = changes.get(key, 0) + moved
            lead.reason_total += moved


MEMO_TYPES = frozenset({str, int, float, type(None)})  # True == 1: booleans are not remembered


def _fit_of(model: CompiledModel, profile: Mapping[str, Any]) -> ProfileFit:
    """The profile's fit, remembered per model: a lead is often scored again unchanged."""
    key = tuple([profile.get(name) for name in model.fit_fields])
    if not MEMO_TYPES.issuperset(map(type, key)):
        return _fit(model, profile)
    found = model.fit_memo.get(key)
    if found is None:
        if len(model.fit_memo) >= MEMO_SIZE:
            model.fit_memo.clear()
        found = model.fit_memo[key] = _fit(model, profile)
    return found


def _fit(model: CompiledModel, profile: Mapping[str, Any]) -> ProfileFit:
    """Fit points from the profile: the categories, bonus, negative criteria and spam."""
    values = {name: profile.get(name) for name in model.profile_fields}
    if "email_domain" in values:
        values["email_domain"] = domains.email_domain(str(profile.get("email") or ""))
    parts: dict[str, float] = {}
    definition = model.model.fit
    if definition.base:
        parts["fit.base"] = definition.base
    for category in model.categories:
        criterion = category.match(values)
        if criterion is not None:
            parts[criterion.key] = criterion.weighted
        elif category.default_points:
            parts[category.default_key] = category.default_weighted
    bonus = definition.completion_bonus
    if bonus is not None:
        filled = 0
        for name in bonus.fields:
            if str(profile.get(name) or "").strip():
                filled += 1
        if filled:
            parts["fit.completion_bonus"] = bonus.points * filled
    flags: list[str] = []
    disqualified = False
    for adjustment in model.adjustments:
        if adjustment.applies(values[adjustment.field]):
            parts[adjustment.key] = adjustment.points
            flags.append(adjustment.flag)
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
    weight = model.fit_weight * 100  # fit points -> score centipoints
    return ProfileFit(
        reasons=tuple([(key, round(points * weight)) for key, points in parts.items()]),
        fit=round(clamped * 100),
        flags=tuple(sorted(set(flags))),
        disqualified=disqualified,
    )


def _is_spam(model: CompiledModel, profile: Mapping[str, Any]) -> bool:
    settings = model.model.spam
    if settings is None:
        return False
    names = (str(profile.get("first_name") or ""), str(profile.get("last_name") or ""))
    if settings.lowercase_names:
        for name in names:
            if name and spam.is_lowercase_name(name):
                return True
    run = settings.keyboard_run
    if run is not None:
        for text in (*names, str(profile.get("company") or "")):
            if text and spam.has_keyboard_run(text, run):
                return True
    return settings.disposable_domains and model.is_disposable(profile.get("email"))


def _apply_events(lead: _WorkingState, ordered: list[Event], now_s: int, result: Result) -> None:
    """Score the events in order: a delta for each, but for duplicates and other products.

    The engine's inner loop, so written for speed: locals rather than attributes, small
    helpers inline, and the adjustments (caps, decay, clamps) written only when they move.
    """
    model, state = lead.model, lead.state
    reasons, rule_points, recent_ids = state.reasons, state.rule_points, state.recent_ids
    deltas, duplicates = result.deltas, result.duplicates
    products, rule_for, weight = model.products, model.rule_for, model.engagement_weight
    recency, older_weight = model.recency, model.older_weight
    seen = set(recent_ids)
    adjusted = _adjusted(state)
    for event in ordered:
        event_id = event.id
        hasher = BLANK_DIGEST.copy()  # digest(event_id)
        hasher.update(event_id.encode())
        tag = hasher.hexdigest()
        if tag in seen:
            duplicates.append(event_id)
            continue
        seen.add(tag)
        recent_ids.append(tag)
        if products is not None and not model.in_scope(event.product):
            result.out_of_scope.append(event_id)
            continue
        moment = event.occurred_at
        if moment.tzinfo is None:
            at = epoch(moment)
        else:  # epoch(moment)
            since = moment - EPOCH
            at = since.days * DAY + since.seconds
            if at < 0 and since.microseconds:
                at += 1
        rule = rule_for(event.type, event.properties)
        if rule is None:
            deltas.append(Delta("event", at, 0, {}, event_id, event.type))
            continue
        if rule.points > 0 and (state.last_activity_at is None or at > state.last_activity_at):
            if state.decay_factor < 1:
                _end_inactivity(lead)
                adjusted = True
            state.last_activity_at = at
        age, share = now_s - at, older_weight  # model.recency_weight(age)
        for within, band_share in recency:
            if age <= within:
                share = band_share
                break
        points = round(rule.centipoints * share)
        if rule.limit is None:
            gained, counted, limited = points, 1, False
        else:
            gained, counted, limited = _limit(state, rule, event, at, tag, points)
        key = rule.key
        if not (counted or gained):
            deltas.append(Delta("event", at, 0, {}, event_id, event.type, key, limited))
            continue
        engagement = rule_points.get(key, 0) + gained
        rule_points[key] = engagement
        lead.rule_total += gained
        # lead.set_reason(key, reason points, count + counted), with no change under way yet
        reason_points = round(engagement * weight)
        entry = reasons.get(key)
        if entry is None:
            moved = reason_points
            if reason_points or counted:
                reasons[key] = [reason_points, counted]
        else:
            moved = reason_points - entry[0]
            if reason_points == 0 and entry[1] + counted == 0:
                del reasons[key]
            else:
                entry[0], entry[1] = reason_points, entry[1] + counted
        lead.reason_total += moved
        capped = False  # the cap's reason moves only with its adjustment (in step since fit)
        if rule.capped:
            group = rule.capped[0]
            total = lead.group_totals[group] + gained
            lead.group_totals[group] = total
            capped = total > model.group_caps[group] or lead.cap_adjustments[group] != 0
        base = lead.rule_total + lead.cap_total + state.decay_kept
        total = lead.reason_total
        if not (capped or adjusted) and 0 <= base <= FULL and 0 <= total <= FULL:
            # Nothing to adjust (the common case): the event's rule is all that moved.
            state.engagement, state.score = base, total
            explained = {key: moved} if moved else {}
            deltas.append(Delta("event", at, moved, explained, event_id, event.type, key, limited))
            continue
        if moved:
            lead.changes[key] = moved
        _refresh_engagement(lead, rule.capped if capped else ())
        _refresh_score(lead)
        adjusted = _adjusted(state)
        changes = lead.take_changes()
        deltas.append(
            Delta("event", at, sum(changes.values()), changes, event_id, event.type, key, limited)
        )
    del recent_ids[:-MAX_RECENT_IDS]


def _adjusted(state: LeadState) -> bool:
    """True when an adjustment (decay, a clamp, disqualification) may move with an event."""
    reasons = state.reasons
    return (
        state.decay_factor < 1
        or state.decay_kept != 0
        or state.disqualified
        or "decay" in reasons
        or "engagement.clamp" in reasons
        or "score.clamp" in reasons
        or "disqualified" in reasons
    )


def _end_inactivity(lead: _WorkingState) -> None:
    """New activity ends the inactive stretch: its decay becomes permanent."""
    state = lead.state
    state.decay_kept += _current_decay(lead.model, state, lead.engagement_base())
    state.decay_factor = 1.0


def _limit(
    state: LeadState, rule: Rule, event: Event, at: int, tag: str, points: int
) -> tuple[int, int, bool]:
    """Keep the earliest `count` events per window.

    Returns (points gained, events counted, limited): an earlier event arriving late takes
    the place of the latest one counted, gaining the difference and counting none.
    """
    limit = rule.limit
    assert limit is not None
    value = "" if limit.key is None else event.properties.get(limit.key, "")
    if type(value) is not str or len(value) > 200:
        value = str(value)[:200]
    if limit.per == "ever":
        slot_key = value + "|"
    elif limit.per == "day":
        slot_key = f"{value}|{at // DAY}"  # UTC days
    else:  # weeks from Monday (1970-01-01 was a Thursday)
        slot_key = f"{value}|{(at + 3 * DAY) // (7 * DAY)}"
    slots = state.limits.get(rule.key)
    if slots is None:
        slots = state.limits[rule.key] = {}
    slot = slots.get(slot_key)
    if slot is None:
        slots[slot_key] = [[at, tag, points]]
        if len(slots) > MAX_LIMIT_KEYS:
            _evict(slots)
        return points, 1, False
    if len(slot) < limit.count:
        entry = [at, tag, points]
        slot.append(entry)
        if entry < slot[-2]:  # events come in time order, unless some were scored earlier
            slot.sort()
        return points, 1, False
    latest = slot[-1]
    if (at, tag) >= (latest[0], latest[1]):
        return 0, 0, True
    slot[-1] = [at, tag, points]
    slot.sort()
    return points - int(latest[2]), 0, False


def _evict(slots: dict[str, list[list[Any]]]) -> None:
    """Bound the state: forget the window whose last counted event is the oldest."""
    oldest = min(slots, key=lambda k: (max(e[0] for e in slots[k]), k))
    del slots[oldest]


def _current_decay(model: CompiledModel, state: LeadState, base: int) -> int:
    """Engagement centipoints the current inactive stretch takes from `base` (<= 0)."""
    if state.decay_factor >= 1 or base <= 0:
        return 0
    settings = model.model.decay
    floor = round(settings.floor * 100) if settings else 0
    kept = max(round(base * state.decay_factor), min(base, floor))
    return kept - base


def _refresh_engagement(lead: _WorkingState, groups: Iterable[str]) -> None:
    """Recompute the caps of `groups`, decay and the 0-100 clamp of engagement.

    An adjustment is written only when it is, or was, not 0: most events change none.
    """
    model, state = lead.model, lead.state
    reasons, weight = state.reasons, model.engagement_weight
    for group in groups:
        over = lead.group_totals[group] - model.group_caps[group]
        adjustment = -over if over > 0 else 0
        lead.cap_total += adjustment - lead.cap_adjustments[group]
        lead.cap_adjustments[group] = adjustment
        key = model.cap_keys[group]
        if adjustment or key in reasons:
            lead.set_reason(key, round(adjustment * weight), 0)
    base = lead.rule_total + lead.cap_total + state.decay_kept
    current = _current_decay(model, state, base) if state.decay_factor < 1 else 0
    if state.decay_kept or current or "decay" in reasons:
        lead.adjust("decay", round((state.decay_kept + current) * weight))
    value = base + current
    clamped = value if 0 <= value <= FULL else 0 if value < 0 else FULL
    if clamped != value or "engagement.clamp" in reasons:
        lead.adjust("engagement.clamp", round((clamped - value) * weight))
    state.engagement = clamped


def _refresh_score(lead: _WorkingState) -> None:
    """The score is the sum of the reasons, clamped to 0-100; a disqualified lead scores 0."""
    state, total = lead.state, lead.reason_total
    reasons = state.reasons
    clamped = total if 0 <= total <= FULL else 0 if total < 0 else FULL
    if clamped != total or "score.clamp" in reasons:
        lead.adjust("score.clamp", clamped - total)
    if state.disqualified or "disqualified" in reasons:
        lead.adjust("disqualified", -clamped if state.disqualified else 0)
    state.score = 0 if state.disqualified else clamped


def _grade(model: CompiledModel, fit: int) -> str:
    grades = model.model.fit.grades
    points = fit / 100
    if points >= grades.A:
        return "A"
    return "B" if points >= grades.B else "C" if points >= grades.C else "D"


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
        state.sla_breached = False
        result.transitions.append(Transition("cooled", now_s))
