"""One lead's share of a scoring batch: which of its events are new, and the write that
applies them (its profile, a state per model, its event and change records), as large as one
transaction holds. The batch around it is services/scoring.py."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.events import retry_ids
from leadscore.domain.messages import Incoming
from leadscore.domain.notifications import lead_notification, notification_id
from leadscore.domain.state import LeadState
from leadscore.domain.times import epoch, iso
from leadscore.services import profiles
from leadscore.services.alerts import Alert, unique
from leadscore.services.lead_states import LEAD_ALERT_KINDS, next_state_record
from leadscore.services.store import (
    ErasureCheck,
    EventRecord,
    LeadRecord,
    LeadSnapshot,
    LeadWrite,
    ProfileRecord,
    StateRecord,
    WriteRefused,
)
from leadscore.services.transactions import write_items

DAY = 86_400


@dataclass(frozen=True, slots=True)
class Limits:
    """How long the log is kept, how often a conflict is retried, what the public may score."""

    retention_days: int = 400
    attempts: int = 6
    untrusted_per_hour: int = profiles.UNTRUSTED_PER_HOUR


@dataclass(slots=True)
class Stats:
    events_scored: int = 0  # new events applied (some score nothing: see their history)
    duplicates: int = 0
    dropped_erased: int = 0
    mqls: int = 0
    cooled: int = 0
    conflicts_retried: int = 0
    notifications: int = 0
    account_mqas: int = 0
    account_cooled: int = 0
    future_dated: int = 0
    dead_lettered: int = 0  # dead letters sent (each holds one message's events of a lead)

    def add(self, part: Stats) -> None:
        for name in Stats.__slots__:
            setattr(self, name, getattr(self, name) + getattr(part, name))


@dataclass(slots=True)
class LeadBatch:
    """One lead's share of a batch: its events and the messages they came in."""

    key: str
    email: str
    incoming: list[Incoming] = field(default_factory=list)
    messages: set[str] = field(default_factory=set)


@dataclass(slots=True)
class ScoredLead:
    """One lead's batch scored: its write (None: nothing new), the notifications to publish
    once written, its new states (model id -> state, for its account), its profile, and the
    events left for the next write (more than one transaction holds)."""

    write: LeadWrite | None
    alerts: list[Alert]
    states: dict[str, LeadState | None] = field(default_factory=dict)
    profile: ProfileRecord | None = None
    rest: list[Incoming] = field(default_factory=list)


def score_lead(
    lead: LeadBatch,
    snapshot: LeadSnapshot,
    models: list[CompiledModel],
    now: datetime,
    limits: Limits,
    stats: Stats,
    room: int,
) -> ScoredLead:
    """The lead's write of as many of its new events as `room` items hold (its records and
    the notification log's items they add; the other events are left for its next write),
    its notifications, its new states and its profile."""
    fresh = _fresh(lead, snapshot, stats)
    # Notifications recorded earlier but not yet published (a failed or interrupted publish).
    alerts: list[Alert] = [
        (model_id, notification)
        for model_id, record in snapshot.states.items()
        for notification in record.pending.values()
    ]
    if not fresh:
        return ScoredLead(None, alerts)
    ordered = sorted(fresh, key=lambda i: (i.event.occurred_at, i.event.id))
    share = len(ordered)  # the events this write takes: as many as one transaction holds
    while True:
        counts = Stats()
        scored = _write_share(lead, snapshot, ordered[:share], models, now, limits, counts)
        size = write_items(scored.write) if scored.write else 0
        if size <= room:
            break
        if share == 1:
            raise WriteRefused(f"one event needs {size} items in one transaction")
        share = max(1, share - (size - room))
    stats.add(counts)
    scored.alerts = unique(alerts + scored.alerts)
    scored.rest = ordered[share:]
    return scored


def _fresh(lead: LeadBatch, snapshot: LeadSnapshot, stats: Stats) -> list[Incoming]:
    """The lead's events that are neither logged (nor a retry of a logged one) nor the
    erased lead's (a replay, or one queued before the erasure)."""
    fresh: dict[str, Incoming] = {}
    for item in lead.incoming:
        seen = retry_ids(item.event.id)
        if not snapshot.logged.isdisjoint(seen) or not fresh.keys().isdisjoint(seen):
            stats.duplicates += 1
        elif not snapshot.forgotten.isdisjoint(seen) or (
            snapshot.erased_at is not None
            and (item.received_at <= snapshot.erased_at or _linked_before(item, snapshot.erased_at))
        ):  # must not revive the lead
            stats.dropped_erased += 1
        else:
            fresh[item.event.id] = item
    return list(fresh.values())


def _linked_before(item: Incoming, erased_at: int) -> bool:
    """A visitor's event that reached the lead through a link made before the lead was erased
    (read as erasure began): erasure deletes such links, so it belongs to nobody now."""
    return item.linked_at is not None and item.linked_at <= erased_at


def _write_share(
    lead: LeadBatch,
    snapshot: LeadSnapshot,
    share: list[Incoming],
    models: list[CompiledModel],
    now: datetime,
    limits: Limits,
    stats: Stats,
) -> ScoredLead:
    """The lead's write of these events (in time order, at least one), and the notifications
    it records."""
    now_s = int(now.timestamp())
    expires_at = now_s + limits.retention_days * DAY
    screened = profiles.screen(
        snapshot.profile, lead.key, lead.email, share, models, now_s, limits.untrusted_per_hour
    )
    merged = screened.merged
    records: list[LeadRecord] = []
    logged = {
        item.event.id: EventRecord(lead.key, item.event, item.received_at, expires_at=expires_at)
        for item in share
    }
    first = logged[share[0].event.id]
    dated = {item.event.id: item.dated for item in share if item.dated is not None}
    alerts: list[Alert] = []
    states: dict[str, LeadState | None] = {}
    results: dict[str, engine.Result] = {}
    for model in models:
        previous = snapshot.states.get(model.id)
        before = None if previous is None else previous.state
        result = engine.score(model, before, merged.profile, screened.events, now, merged.untrusted)
        results[model.id] = result
        if any(t.kind == "mql" for t in result.transitions):  # its owner, if nobody has it
            merged = profiles.routed(merged, model, now_s)
    for model in models:  # every state names the owner routing may just have given
        previous = snapshot.states.get(model.id)
        result = results[model.id]
        for delta in result.deltas:
            entry = delta.to_dict()
            if delta.event_id in dated:  # sent with a future date: shown so
                entry["dated"] = iso(epoch(dated[delta.event_id]))
            # A delta of no event here (a profile's fit, decay applied on arrival) rides on
            # the first event: the history reads every record's deltas alike.
            host = logged.get(delta.event_id or "", first)
            host.deltas.setdefault(model.id, []).append(entry)
        for event_id, note in screened.notes.items():
            logged[event_id].deltas.setdefault(model.id, []).append(_note(logged[event_id], **note))
        record = _state_record(lead, model, previous, result, merged, now_s, stats)
        states[model.id] = result.state
        alerts += [(model.id, notification) for notification in record.pending.values()]
        records.append(record)
    # An unchanged profile is not rewritten: the states' versions guard against a
    # concurrent profile change, since every writer of a lead also writes its states.
    if merged.changed:
        records.insert(0, merged.record)
    stats.events_scored += len(share)
    stats.future_dated += len(dated)
    if not any(_versioned(record) for record in records):
        # Nothing here is written over a stored version (a new lead, or one just erased):
        # the write must also find the erasure marker as read.
        records.append(ErasureCheck(lead.key, snapshot.erased_at))
    first_log = len(records)
    records += list(logged.values())
    new = set(range(first_log, first_log + len(logged)))
    return ScoredLead(LeadWrite(lead.key, records, new), alerts, states, merged.record)


def _state_record(
    lead: LeadBatch,
    model: CompiledModel,
    previous: StateRecord | None,
    result: engine.Result,
    merged: profiles.MergedProfile,
    now_s: int,
    stats: Stats,
) -> StateRecord:
    """The lead's new state for the model (with what the lists show of the lead), with a
    pending notification per crossing."""
    record = next_state_record(
        lead.key, model, previous, result.state, now_s, lead.email, merged.record
    )
    for transition in result.transitions:
        kind = LEAD_ALERT_KINDS[transition.kind]
        notification = lead_notification(
            kind,
            notification_id(kind, model.id, lead.key, transition.at),
            lead.email,
            merged.profile,
            engine.summary(model, result.state),
        )
        # recorded now, though the transition may be earlier: the log places it so
        notification = replace(notification, recorded_at=now_s)
        record.pending[notification.id] = notification
        stats.mqls += kind == "lead.mql"
        stats.cooled += kind == "lead.cooled"
    return record


def _note(record: EventRecord, **what: Any) -> dict[str, Any]:
    """A history entry of no points for an event: why it did not score (all or in part)."""
    event = record.event
    return {
        "kind": "note",
        "event_id": event.id,
        "event_type": event.type,
        "at": iso(epoch(event.occurred_at)),
        "points": 0,
        "source": event.source,
        **what,
    }


def _versioned(record: LeadRecord) -> bool:
    return isinstance(record, ProfileRecord | StateRecord) and record.version is not None
