"""A lead's next state record for one model, and the alerts its transitions raise."""

from __future__ import annotations

from typing import Any

from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.domains import company_domain
from leadscore.domain.state import LeadState
from leadscore.services.store import ProfileRecord, StateRecord

LEAD_ALERT_KINDS = {"mql": "lead.mql", "cooled": "lead.cooled"}  # engine transition -> kind


def next_state_record(
    key: str,
    model: CompiledModel,
    previous: StateRecord | None,
    state: LeadState,
    now_s: int,
    email: str | None = None,
    profile: ProfileRecord | None = None,
) -> StateRecord:
    """The state record to write over `previous` (kept: its version and pending
    notifications), due at its next decay or follow-up check; with the lead's `email`, it
    also names the lead's account, and with its `profile` what the lists show of it."""
    record = previous or StateRecord(key, model.id, state)
    email = profile.email if profile is not None else email
    if email is not None:
        record.account_domain = company_domain(email) or ""
        record.email = email
    record.state = state
    if profile is not None:
        relist(record, profile)
    record.updated_at = now_s
    # An MQL sales answered is due for its decay only, not its follow-up deadline.
    sla = None if record.followed_up else _sla_check_at(state)
    due = [t for t in (engine.next_decay_at(model, state), sla) if t is not None]
    record.due_at = _kept_due(record.due_at, min(due) if due else None, now_s)
    return record


def _kept_due(stored: int | None, due: int | None, now_s: int) -> int | None:
    """The lead's due time: a stored one still ahead and no later than the new one is kept.

    Activity moves a lead's next decay later, and each move of its entry in the `due_keys`
    index is a delete and a put: so the entry stays, the job finds the lead there with
    nothing to decay yet, and moves it once, to when it is really due. Never later than
    the new one, so nothing is checked late."""
    if stored is not None and due is not None and now_s < stored <= due:
        return stored
    return due


def _sla_check_at(state: LeadState) -> int | None:
    if state.status == "mql" and not state.sla_breached and state.sla_due_at is not None:
        return state.sla_due_at
    return None


def relist(record: StateRecord, profile: ProfileRecord) -> bool:
    """Bring what the lists show of the lead on its state record (name, company, owner, and
    whether sales answered it) in line with its profile; True when that changed it."""
    before = (record.name, record.company, record.owner, record.followed_up)
    record.name, record.company, record.owner = listed_fields(profile)
    record.followed_up = answered(profile, record.state)
    return (record.name, record.company, record.owner, record.followed_up) != before


def answered(profile: ProfileRecord, state: LeadState) -> bool:
    """Sales recorded a verdict on the lead since it became an MQL (it is followed up)."""
    return (
        state.status == "mql"
        and state.mql_since is not None
        and profile.feedback_at is not None
        and profile.feedback_at >= state.mql_since
    )


def listed_fields(profile: ProfileRecord) -> tuple[str | None, str | None, str | None]:
    """The lead's name (first and last), company and owner, as its lists show them."""
    fields = profile.profile
    name = " ".join(_printable(fields[f]) for f in ("first_name", "last_name") if fields.get(f))
    company, owner = fields.get("company"), fields.get("owner")
    return (
        name or None,
        None if company is None else _printable(company),
        str(owner) if owner else None,
    )


def _printable(value: Any) -> str:
    """A value typed by anyone, as a list shows it: no control characters (a terminal would
    obey them), spaces collapsed."""
    return " ".join("".join(c if c.isprintable() else " " for c in str(value)).split())
