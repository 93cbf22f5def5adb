"""The use cases of one lead: its scores, its history, its erasure and sales' feedback on it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.emails import earlier_lead_key, lead_key
from leadscore.domain.notifications import Publisher
from leadscore.services import accounts, profiles
from leadscore.services.lead_states import relist
from leadscore.services.retry import until_settled
from leadscore.services.store import (
    FeedbackRecord,
    LeadLog,
    LeadRecord,
    LeadStore,
    LeadWrite,
    ProfileRecord,
    WriteConflict,
)

FEEDBACK_RETENTION = timedelta(days=3 * 365)
# An erased person must leave their account: erasure tries harder than a scorer's write.
ERASURE_ACCOUNT_ATTEMPTS = 10
# How long an erasure is remembered (the time and the hashed ids of the lead's events), so
# that no delivery, retry or replay brings the lead back: longer than every retry window
# (SQS keeps a message 14 days at most, webhook providers retry for 3 days at most).
ERASURE_MEMORY = timedelta(days=30)
OWNER_ATTEMPTS = 6  # a scorer writing the lead at the same moment: read and write again


class LeadNotFound(LookupError):
    """No lead with this email: never seen, or erased."""

    def __init__(self) -> None:
        super().__init__("no lead with this email (unknown or erased)")


class ErasedAccountBusy(RuntimeError):
    """The lead is erased, but its account kept conflicting: repeating the erasure settles it."""

    def __init__(self) -> None:
        super().__init__("the lead is erased but its account is busy; repeat the request")


def lead_view(
    store: LeadStore, models: Sequence[CompiledModel], email: str, now: datetime | None = None
) -> dict[str, Any]:
    """The lead's profile (with the source of each field's value, where known), account,
    flags and feedback, and its scores by each current model, their reasons in words (how
    long the lead has been inactive, as of `now`) and the thresholds its status crosses."""
    log = store.lead_log(lead_key(email))
    profile = _profile(log)
    fields = {**profile.profile, "email": profile.email}
    by_id = {model.id: model for model in models}
    scores = []
    flags: dict[str, None] = {}  # in order of first appearance, once each
    for model_id, record in sorted(log.states.items()):
        if model_id in by_id:
            summary = engine.summary(by_id[model_id], record.state, fields, now)
            flags.update(dict.fromkeys(summary.pop("flags")))
            thresholds = by_id[model_id].model.thresholds
            summary["mql_threshold"], summary["reset_threshold"] = thresholds.mql, thresholds.reset
            scores.append(summary)
    return {
        "email": email,
        "profile": profile.profile,
        "profile_sources": profiles.field_sources(profile),
        "account": profile.account,
        "flags": list(flags),
        "feedback": profile.feedback,
        "scores": scores,
    }


def lead_history(store: LeadStore, email: str) -> dict[str, Any]:
    """Every score change of the lead per model, oldest first, with the points they add up to."""
    log = store.lead_log(lead_key(email))
    _profile(log)
    per_model: dict[str, list[dict[str, Any]]] = {}
    # Changes before events (the table's order), which ties in the sort below keep. An event
    # that no longer reads still scored: its deltas count.
    recorded = [change.deltas for change in log.changes] + [event.deltas for event in log.events]
    recorded += log.unreadable.values()
    for deltas_by_model in recorded:
        for model_id, deltas in deltas_by_model.items():
            per_model.setdefault(model_id, []).extend(deltas)
    history = []
    for model_id, deltas in sorted(per_model.items()):
        deltas.sort(key=lambda delta: (delta.get("at") or "", delta.get("event_id") or ""))
        points = round(sum(delta.get("points", 0) for delta in deltas), 2)
        history.append({"model": model_id, "points": points, "changes": deltas})
    return {"email": email, "history": history}


def erase_lead(
    store: LeadStore,
    models: Sequence[CompiledModel],
    publisher: Publisher,
    email: str,
    now: datetime,
) -> None:
    """Erase everything stored about the lead, then take it out of its account at once
    (the account may cool down and say so). Erasing an unknown lead changes nothing."""
    key = lead_key(email)
    at = int(now.timestamp())
    until = int((now + ERASURE_MEMORY).timestamp())
    store.erase(key, at, until)
    if (earlier := earlier_lead_key(email)) is not None:  # stored before the email rule
        store.erase(earlier, at, until)
    domain = accounts.domain_of(email)
    if domain is None:
        return
    try:
        accounts.refresh(
            [key],
            store,
            models,
            publisher,
            now,
            domains={key: domain},
            attempts=ERASURE_ACCOUNT_ATTEMPTS,
            must_settle=True,
        )
    except accounts.AccountsBusy:
        raise ErasedAccountBusy from None


def record_feedback(
    store: LeadStore,
    email: str,
    outcome: str,
    model: str | None,
    note: str | None,
    now: datetime,
    owner: str | None = None,
) -> None:
    """Record sales' verdict (accepted, rejected, won or lost), kept FEEDBACK_RETENTION, and
    with an `owner`, make them the lead's owner first (a trusted value: it replaces any)."""
    at = int(now.timestamp())
    if owner is not None:
        assign_owner(store, email, owner, at)
    expires_at = int((now + FEEDBACK_RETENTION).timestamp())
    feedback = FeedbackRecord(outcome, at, model, note, expires_at)
    key = lead_key(email)
    if not store.record_feedback(key, feedback):
        raise LeadNotFound
    # Answered MQLs leave the follow-up queue now; should this keep conflicting, the scorer's
    # next write of the lead does it (it reads the feedback with the profile).
    _relisted(store, key, lambda profile: profile)


def assign_owner(store: LeadStore, email: str, owner: str, at: int) -> None:
    """Write `owner` into the lead's profile, and its states (what the lists filter on);
    an owner already set by a trusted source is not rewritten."""
    key = lead_key(email)

    def owned(profile: ProfileRecord) -> ProfileRecord:
        if profile.profile.get(profiles.OWNER) == owner and profiles.OWNER not in profile.untrusted:
            return profile
        return profiles.assign_owner(profile, owner, at)

    if not _relisted(store, key, owned):
        raise WriteConflict(f"lead {key[:8]} kept conflicting while setting its owner")


def _relisted(store: LeadStore, key: str, change: Callable[[ProfileRecord], ProfileRecord]) -> bool:
    """Write the lead's profile as `change` gives it (when it is a new one) and its states
    as the lists must show them then, over the versions read; read again when a concurrent
    writer (the scorer) got there first. False when it kept conflicting."""

    def attempt(pending: dict[str, bool], _: int) -> dict[str, bool]:
        log = store.lead_log(key)
        if log.profile is None:
            raise LeadNotFound
        profile = change(log.profile)
        records: list[LeadRecord] = [] if profile is log.profile else [profile]
        records += [state for state in log.states.values() if relist(state, profile)]
        if not records:
            return {}
        return pending if store.commit([LeadWrite(key, records)])[1] else {}

    return not until_settled(attempt, {key: True}, OWNER_ATTEMPTS)


def _profile(log: LeadLog) -> ProfileRecord:
    if log.profile is None:
        raise LeadNotFound
    return log.profile
