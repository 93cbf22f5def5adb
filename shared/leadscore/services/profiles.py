"""A lead's profile from its events: which value of a field wins, and what the public may do.

Contract §3: profile data typed by the public (`Event.trusted` is False: a form post, a form
platform's webhook, the snippet) fills empty fields and adds engagement, but never
overwrites, clears or disqualifies what a trusted source (the user's own systems) set; a
lead's history shows what it tried. A trusted value replaces an untrusted one whatever their
dates; between two values of one kind, the latest wins. The lead's `owner` (the salesperson
who follows it up) is never set by an untrusted source: a trusted one, sales' feedback or the
model's routing (`assign_owner`) sets it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from leadscore.domain import fit
from leadscore.domain.compiled import HOUR, CompiledModel
from leadscore.domain.domains import company_domain
from leadscore.domain.emails import EmailError, normalize_email
from leadscore.domain.events import CAPTCHA_FORM, MAX_PROFILE_FIELDS, Event
from leadscore.domain.messages import Incoming
from leadscore.domain.routing import route
from leadscore.services.store import ProfileRecord

# Untrusted events (forms and the like) of one lead that may score in an hour of arrival.
UNTRUSTED_PER_HOUR = 20
OWNER = "owner"  # the profile field of the lead's salesperson
YOUR_SYSTEMS = "your systems"  # the source of `POST /v1/events` (an event's source None)
SALES = "sales"  # the source of an owner sales set (feedback)


@dataclass(slots=True)
class MergedProfile:
    """The profile after a batch: its record (a new one when `changed`), what the engine
    scores (the fields and the email), the values untrusted events could not set (event id ->
    field -> value), and the fields the engine must not disqualify on (`untrusted_fields`)."""

    record: ProfileRecord
    profile: dict[str, Any]
    changed: bool
    refused: dict[str, dict[str, Any]] = field(default_factory=dict)
    untrusted: frozenset[str] = frozenset()


@dataclass(slots=True)
class Screened:
    """A share of a lead's events after the trust rules: its profile, the events that score,
    and per event why it scored nothing or not all it said (notes for its history)."""

    merged: MergedProfile
    events: list[Event]
    notes: dict[str, dict[str, Any]]


def screen(
    stored: ProfileRecord | None,
    key: str,
    email: str,
    share: list[Incoming],
    models: Iterable[CompiledModel],
    now_s: int,
    per_hour: int,
) -> Screened:
    """Apply the trust rules to a share of a lead's new events: the hourly allowance of
    untrusted events, spam posts, then the profile merge."""
    hour, admitted, over = admit(stored.untrusted_hour if stored else [], share, per_hour)
    spam = spam_posts(models, admitted, stored)
    admitted = [item for item in admitted if item.event.id not in spam]
    merged = merge_profile(stored, key, email, admitted, now_s, hour)
    notes: dict[str, dict[str, Any]] = {i.event.id: {"over_hourly_allowance": True} for i in over}
    for item in share:
        if item.event.id in spam:  # none of what it said is kept
            notes[item.event.id] = {"spam_post": True, "refused_profile": item.event.profile}
    for event_id, values in merged.refused.items():
        notes.setdefault(event_id, {})["refused_profile"] = values
    return Screened(merged, [item.event for item in admitted], notes)


def merge_profile(
    stored: ProfileRecord | None,
    key: str,
    email: str,
    fresh: Iterable[Incoming],
    now_s: int,
    untrusted_hour: list[int],
) -> MergedProfile:
    """Merge the events' profile fields into the stored profile (which is not modified), with
    the hour's count of untrusted events (`admit`)."""
    record = stored or ProfileRecord(
        key, email, created_at=now_s, updated_at=now_s, account=company_domain(email)
    )
    profile, times, sources = dict(record.profile), dict(record.field_times), dict(record.untrusted)
    origins = dict(record.field_sources)
    refused: dict[str, dict[str, Any]] = {}
    known = record.known
    changed = stored is None or untrusted_hour != record.untrusted_hour
    for incoming in sorted(fresh, key=lambda i: i.event.occurred_at):
        event = incoming.event
        known = known or event.trusted
        at = int(event.occurred_at.timestamp())
        for name, sent in (event.profile or {}).items():
            value = (owner_value(sent) or sent) if name == OWNER else sent
            if name == "email" or value in (None, ""):
                continue
            if name not in profile and len(profile) >= MAX_PROFILE_FIELDS:
                continue
            if name == OWNER and (not event.trusted or owner_value(sent) is None):
                # a visitor cannot pick their salesperson; an owner is an email address
                refused.setdefault(event.id, {})[name] = sent
                continue
            if not event.trusted and name in profile and name not in sources:
                if profile[name] != value:  # a trusted value stands; the history shows this
                    refused.setdefault(event.id, {})[name] = value
                continue
            over_untrusted = event.trusted and name in sources
            # (a time stored from a future-dated event, before they were bounded, wins no more)
            if not over_untrusted and at < min(times.get(name, 0), now_s):
                continue
            source = None if event.trusted else event.source
            origin = source_name(event.source)
            changed = changed or (profile.get(name), times.get(name)) != (value, at)
            changed = changed or sources.get(name) != source or origins.get(name) != origin
            profile[name], times[name], origins[name] = value, at, origin
            if source is None:
                sources.pop(name, None)
            else:
                sources[name] = source
    changed = changed or known != record.known
    if changed:
        record = replace(
            record,
            profile=profile,
            field_times=times,
            untrusted=sources,
            untrusted_hour=untrusted_hour,
            known=known,
            updated_at=now_s,
            field_sources=origins,
        )
    return MergedProfile(
        record, {**profile, "email": email}, changed, refused, untrusted_fields(record)
    )


def owner_value(value: Any) -> str | None:
    """An owner as stored: an email address in its canonical form, so that one salesperson
    is written one way everywhere they are filtered on; None when it is no address."""
    try:
        return normalize_email(value)
    except EmailError:
        return None


def assign_owner(
    record: ProfileRecord, owner: str, now_s: int, source: str | None = None
) -> ProfileRecord:
    """The profile with this owner: set by sales (`source` None, trusted: it replaces any) or
    by the model's routing (`source` `routing:<rule>`: any trusted owner replaces it)."""
    sources = dict(record.untrusted)
    if source is None:
        sources.pop(OWNER, None)
    else:
        sources[OWNER] = source
    return replace(
        record,
        profile={**record.profile, OWNER: owner_value(owner) or owner},
        field_times={**record.field_times, OWNER: now_s},
        untrusted=sources,
        updated_at=now_s,
        field_sources={**record.field_sources, OWNER: source or SALES},
    )


def source_name(source: str | None) -> str:
    """What a lead's page calls an event's source: `your systems` for `POST /v1/events`, a
    form post whether or not it passed a CAPTCHA `form`, else the source as named."""
    if source is None:
        return YOUR_SYSTEMS
    return "form" if source == CAPTCHA_FORM else source


def field_sources(record: ProfileRecord) -> dict[str, str]:
    """The source of each field's current value, where it is known: a profile stored before
    sources were kept knows only its untrusted fields' (and nothing of the others)."""
    known_sources = {name: source_name(source) for name, source in record.untrusted.items()}
    known_sources.update(record.field_sources)
    return {name: known_sources[name] for name in record.profile if name in known_sources}


def routed(merged: MergedProfile, model: CompiledModel, now_s: int) -> MergedProfile:
    """The profile with the owner the model's routing gives a lead nobody owns yet (the
    caller routes a lead when it becomes an MQL); unchanged when it has one or no rule
    applies."""
    if merged.profile.get(OWNER):
        return merged
    found = route(model, merged.record.key, merged.profile)
    if found is None:
        return merged
    record = assign_owner(merged.record, found.owner, now_s, found.source)
    profile = {**merged.profile, OWNER: record.profile[OWNER]}
    return replace(merged, record=record, profile=profile, changed=True)


def known(record: ProfileRecord) -> bool:
    """The user's own systems know the lead: they sent an event of it, or (a profile stored
    before this was kept) set one of its fields."""
    return record.known or len(record.untrusted) < len(record.profile)


def untrusted_fields(record: ProfileRecord) -> frozenset[str]:
    """The fields of a lead the user's systems know that the public set: the engine does not
    disqualify, or flag as spam, on them. A lead only the public knows is judged on all it
    said."""
    return frozenset(record.untrusted) if known(record) else frozenset()


def spam_posts(
    models: Iterable[CompiledModel], fresh: Iterable[Incoming], stored: ProfileRecord | None
) -> set[str]:
    """The untrusted posts with a model's spam signals in what they said, on a lead the
    user's systems know: they flag the post (it neither scores nor fills a field), not the
    lead. A lead only the public knows is judged on all it said (the engine flags it)."""
    if stored is None or not known(stored):
        return set()
    return {
        item.event.id
        for item in fresh
        if not item.event.trusted
        and any(fit.is_spam(m, {**(item.event.profile or {}), "email": item.email}) for m in models)
    }


def admit(
    untrusted_hour: list[int], fresh: list[Incoming], per_hour: int
) -> tuple[list[int], list[Incoming], list[Incoming]]:
    """A lead's untrusted events beyond `per_hour` in an hour of arrival score nothing: a
    script cannot pile up engagement for someone. Posts that passed a CAPTCHA are not counted
    (a person was there), so with CAPTCHA on, junk posts cannot use up a real prospect's
    allowance. From the lead's [hour, count] so far: the new one, the events that may score,
    and those over it. An event that arrives late, from an earlier hour, counts in the
    latest one; a website visitor's events credited when it became the lead count in the hours
    the visitor sent them."""
    hour, count = untrusted_hour or [0, 0]
    kept: list[Incoming] = []
    over: list[Incoming] = []
    visits: Counter[int] = Counter()  # a visitor's events from before it was linked, per hour
    for item in sorted(fresh, key=lambda i: (i.received_at, i.event.id)):
        if item.event.trusted or item.event.source == CAPTCHA_FORM:
            kept.append(item)
            continue
        start = item.received_at - item.received_at % HOUR
        if item.linked_at is not None and item.received_at < item.linked_at:
            visits[start] += 1  # credited: in the hours the visitor was there, not the lead's
            (kept if visits[start] <= per_hour else over).append(item)
            continue
        if start > hour:
            hour, count = start, 0
        count += 1
        (kept if count <= per_hour else over).append(item)
    return ([hour, count] if hour else []), kept, over
