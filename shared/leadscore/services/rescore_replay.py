"""The replay of one lead, and what rescoring writes for it (pure: no AWS).

Design: docs/design/rescoring.md#replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.events import Event
from leadscore.domain.messages import arrival_bounded
from leadscore.domain.notifications import lead_notification, notification_id
from leadscore.domain.state import LeadState
from leadscore.services import profiles
from leadscore.services.alerts import Alert, unique
from leadscore.services.lead_states import next_state_record
from leadscore.services.store import ChangeRecord, LeadLog, LeadRecord, LeadWrite

DAY = 86_400


def replay(
    model: CompiledModel,
    profile: dict[str, Any],
    events: Iterable[tuple[int, Event]],
    at: datetime,
    untrusted: frozenset[str] = frozenset(),
) -> LeadState:
    """The lead's state had `model` scored its (received_at, event) log from the start, as of
    `at`: each reception scored as of its time, decay applied up to it and finally up to `at`."""
    state: LeadState | None = None
    ordered = sorted(events, key=lambda pair: (pair[0], pair[1].occurred_at, pair[1].id))
    for received, group in groupby(ordered, key=lambda pair: pair[0]):
        moment = datetime.fromtimestamp(received, UTC)
        if state is not None:
            state = engine.decay(model, state, moment).state
        events_then = [event for _, event in group]
        state = engine.score(model, state, profile, events_then, moment, untrusted).state
    if state is None:
        state = engine.score(model, None, profile, [], at, untrusted).state
    return engine.decay(model, state, at).state


def keep_episode(model: CompiledModel, before: LeadState | None, after: LeadState, at: int) -> None:
    """An MQL that stays one keeps its episode; a new one's follow-up deadline runs from `at`."""
    if after.status != "mql":
        return
    if before is not None and before.status == "mql":
        after.mql_since, after.sla_due_at = before.mql_since, before.sla_due_at
        after.sla_breached = before.sla_breached
        return
    sla = model.model.sla_hours.get(after.rating)
    after.mql_since, after.sla_breached = at, False
    after.sla_due_at = None if sla is None else at + round(sla * 3600)


def visible(model: CompiledModel, state: LeadState) -> dict[str, Any]:
    """What a user sees of a state (the version stamp aside): a difference is a change."""
    summary = engine.summary(model, state)
    summary.pop("model_version")
    return summary


def difference(before: LeadState | None, after: LeadState) -> dict[str, int]:
    """Per reason, the centipoints the rescore moved (they add up to the score's change)."""
    old = {} if before is None else {k: v[0] for k, v in before.reasons.items()}
    new = {k: v[0] for k, v in after.reasons.items()}
    moved = {key: new.get(key, 0) - old.get(key, 0) for key in {*old, *new}}
    return {key: points for key, points in sorted(moved.items()) if points}


@dataclass(slots=True)
class Plan:
    """What rescoring does to one lead: the state before and after, and the write (None:
    nothing to write) with the notifications to publish once it is written."""

    key: str
    before: LeadState | None
    after: LeadState
    changed: bool
    write: LeadWrite | None = None
    alerts: list[Alert] = field(default_factory=list)


def logged_events(log: LeadLog) -> list[tuple[int, Event]]:
    """The lead's (received_at, event) log, without what was queued before an erasure or
    was an untrusted post that scored nothing (over the lead's hourly allowance, or with
    spam signals: services/profiles.py); an event logged with a future date (before dates
    were bounded) is taken at its arrival."""
    return [
        (
            record.received_at,
            arrival_bounded(record.event, datetime.fromtimestamp(record.received_at, UTC)),
        )
        for record in log.events
        if (log.erased_at is None or record.received_at > log.erased_at)
        and not any(
            delta.get("over_hourly_allowance") or delta.get("spam_post")
            for deltas in record.deltas.values()
            for delta in deltas
        )
    ]


def plan_lead(
    model: CompiledModel,
    log: LeadLog,
    at: datetime,
    now_s: int,
    notify: bool,
    retention_days: int,
) -> Plan | None:
    """Replay one lead and decide its write; None when it is erased (or was never more than
    a marker)."""
    if log.profile is None:
        return None
    at_s = engine.epoch(at)
    previous = log.states.get(model.id)
    before = None if previous is None else previous.state
    if before is not None and before.model_version > model.version:
        # Scored by a version published after this job's: never take it back to this one.
        return Plan(log.key, before, before, False)
    email = log.profile.email
    profile = {**log.profile.profile, "email": email}
    untrusted = profiles.untrusted_fields(log.profile)
    after = replay(model, profile, logged_events(log), at, untrusted)
    keep_episode(model, before, after, at_s)
    changed = before is None or visible(model, before) != visible(model, after)
    plan = Plan(log.key, before, after, changed)
    listed = previous is not None and previous.email is not None
    if before is not None and before.to_dict() == after.to_dict() and listed:
        return plan  # (a state written before the lists is written again: it joins them)
    lead = log.profile
    becomes_mql = after.status == "mql" and (before is None or before.status != "mql")
    if becomes_mql:  # routed as the scorer routes a new MQL nobody owns
        routed = profiles.routed(profiles.MergedProfile(lead, profile, False), model, now_s)
        lead, profile = routed.record, routed.profile
    record = next_state_record(log.key, model, previous, after, now_s, email, lead)
    if notify:
        was_mql = before is not None and before.status == "mql"
        kind = (
            "lead.mql"
            if after.status == "mql" and not was_mql
            else "lead.cooled"
            if was_mql and after.status != "mql"
            else None
        )
        if kind is not None:
            notification = lead_notification(
                kind,
                notification_id(kind, model.id, log.key, at_s),
                email,
                profile,
                engine.summary(model, after),
            )
            notification = replace(notification, recorded_at=now_s)  # logged with the record
            record.pending[notification.id] = notification
        plan.alerts = unique([(model.id, n) for n in record.pending.values()])
    records: list[LeadRecord] = [record]
    new: set[int] = set()
    moved = difference(before, after)
    if moved:
        version = 1 + (0 if previous is None else previous.version or 0)
        delta = engine.Delta("rescore", at_s, after.score - (before.score if before else 0), moved)
        new.add(len(records))
        records.append(
            ChangeRecord(
                log.key,
                at_s,
                model.id,
                # unique per state version: two rescores of one second never collide
                f"{version:09d}#rescore",
                deltas={model.id: [delta.to_dict()]},
                expires_at=at_s + retention_days * DAY,
            )
        )
    if previous is None or lead is not log.profile:
        # A first state (a new model), or a routed owner: the profile is written (again) on
        # its version, so that a lead erased since it was read is not given a state again.
        records.append(lead)
    plan.write = LeadWrite(log.key, records, new)
    return plan
