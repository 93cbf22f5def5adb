"""The scoring engine: model + state + profile + events + now -> new state, deltas, alerts.

Design: docs/design/engine.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from leadscore.domain.compiled import DAY, CompiledModel
from leadscore.domain.decay_curve import decay_factor, next_decay_at
from leadscore.domain.events import Event
from leadscore.domain.fit import refresh_fit
from leadscore.domain.limits import apply_limit
from leadscore.domain.machine import EMAIL_KINDS, machine_reason
from leadscore.domain.state import MAX_RECENT_IDS, LeadState
from leadscore.domain.summary import summary
from leadscore.domain.times import EPOCH, epoch, iso
from leadscore.domain.working_state import (
    FULL,
    WorkingState,
    end_inactivity,
    has_adjustments,
    refresh_engagement,
    refresh_score,
)

# Used as `engine.*` across the services: `epoch`, `iso`, `summary`, `next_decay_at`.
__all__ = [
    "Delta",
    "Result",
    "Transition",
    "decay",
    "digest",
    "epoch",
    "iso",
    "next_decay_at",
    "score",
    "summary",
]

TIME_AND_ID = attrgetter("occurred_at", "id")  # the order events are applied in
PROFILE_OF = attrgetter("profile")
BLANK_DIGEST = hashlib.blake2b(digest_size=6)  # copied per id: half the cost of a new one


@dataclass(slots=True)  # not frozen: a frozen dataclass is five times slower to build
class Delta:
    """One change of a lead's score and the reasons behind it (centipoints); read-only.

    `rule` is the engagement rule an event matched (None: no rule, the event scores
    nothing); `limited` says that rule's limit was already reached, so the event gave 0;
    `machine` says why the event was taken for a machine's and given no points.
    """

    kind: str  # event | profile | decay
    at: int  # epoch seconds: the event's time, or `now`
    points: int
    rules: dict[str, int]
    event_id: str | None = None
    event_type: str | None = None
    rule: str | None = None
    limited: bool = False
    machine: str | None = None

    def to_dict(self) -> dict[str, Any]:
        entry = {
            "kind": self.kind,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "at": iso(self.at),
            "points": self.points / 100,
            "rule": self.rule,
            "limited": self.limited,
            "rules": [{"rule": k, "points": v / 100} for k, v in self.rules.items()],
        }
        if self.machine is not None:
            entry["machine"] = self.machine
        return entry


@dataclass(frozen=True, slots=True)
class Transition:
    """A threshold crossing sales hears about: `mql` or `cooled`."""

    kind: str
    at: int


@dataclass(slots=True)
class Result:
    """What a call returns: the new state, its deltas and transitions, the ids it skipped."""

    state: LeadState
    deltas: list[Delta] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    out_of_scope: list[str] = field(default_factory=list)


def digest(event_id: str) -> str:
    """The short, stable id of an event kept in a lead's recent ids and limit windows."""
    hasher = BLANK_DIGEST.copy()
    hasher.update(event_id.encode())
    return hasher.hexdigest()


def score(
    model: CompiledModel,
    state: LeadState | None,
    profile: Mapping[str, Any],
    events: Iterable[Event],
    now: datetime,
    untrusted: frozenset[str] = frozenset(),
) -> Result:
    """Apply `events` (any order, duplicates allowed) and the current `profile` to `state`.

    `profile` is the lead's whole profile as known now: fit is recomputed from it; its
    `untrusted` fields neither disqualify nor flag spam (`fit.profile_fit`).
    """
    lead = WorkingState(model, _fresh(model, state))
    current = lead.state
    result = Result(current)
    now_s = epoch(now)
    ordered = sorted(events, key=TIME_AND_ID)
    profile_event = next(filter(PROFILE_OF, ordered), None)

    refresh_fit(lead, profile, untrusted)
    refresh_engagement(lead, model.group_caps)
    refresh_score(lead)
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
    lead = WorkingState(model, _fresh(model, state))
    current = lead.state
    result = Result(current)
    if model.model.decay is None or current.last_activity_at is None:
        return result
    now_s = epoch(now)
    factor = decay_factor(model, now_s - current.last_activity_at)
    if factor >= current.decay_factor:
        return result
    current.decay_factor = factor
    refresh_engagement(lead, ())
    refresh_score(lead)
    if lead.changes:
        changes = lead.take_changes()
        result.deltas.append(Delta("decay", now_s, sum(changes.values()), changes))
    _transition(model, current, now_s, result)
    return result


def _fresh(model: CompiledModel, state: LeadState | None) -> LeadState:
    if state is None:
        return LeadState(model_id=model.id, model_version=model.version)
    copy = state.copy()
    copy.model_version = model.version
    return copy


def _apply_events(lead: WorkingState, ordered: list[Event], now_s: int, result: Result) -> None:
    """Score the events in order: a delta for each, but for duplicates and other products.

    The engine's inner loop, so written for speed: locals rather than attributes, small
    helpers inline, and the adjustments (caps, decay, clamps) written only when they move.
    """
    model, state = lead.model, lead.state
    reasons, rule_points, recent_ids = state.reasons, state.rule_points, state.recent_ids
    deltas, duplicates = result.deltas, result.duplicates
    products, rule_for, weight = model.products, model.rule_for, model.engagement_weight
    recency, older_weight = model.recency, model.older_weight
    ignore_machine, messages = model.ignore_machine, state.messages
    seen = set(recent_ids)
    adjusted = has_adjustments(state)
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
        kind = event.type
        rule = rule_for(kind, event.properties)
        if kind in EMAIL_KINDS:
            machine = machine_reason(messages, kind, event.properties, at)
            if machine is not None and ignore_machine:  # no points, and not activity either
                key = None if rule is None else rule.key
                deltas.append(Delta("event", at, 0, {}, event_id, kind, key, machine=machine))
                continue
        if rule is None:
            deltas.append(Delta("event", at, 0, {}, event_id, event.type))
            continue
        if rule.points > 0 and (state.last_activity_at is None or at > state.last_activity_at):
            if state.decay_factor < 1:
                end_inactivity(lead)
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
            gained, counted, limited = apply_limit(state, rule, event, at, tag, points)
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
        refresh_engagement(lead, rule.capped if capped else ())
        refresh_score(lead)
        adjusted = has_adjustments(state)
        changes = lead.take_changes()
        deltas.append(
            Delta("event", at, sum(changes.values()), changes, event_id, event.type, key, limited)
        )
    del recent_ids[:-MAX_RECENT_IDS]


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
