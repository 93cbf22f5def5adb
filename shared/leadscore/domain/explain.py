"""A score's reasons in words a salesperson reads, from the model's rules and the lead's profile.

"engagement.pricing_page" counted twice reads "Visited the pricing page twice";
"fit.role.executive" reads "Job title CTO: executive". A rule's `label` in the model
replaces the words made here (an engagement rule's count is still said).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadscore.domain.compiled import CompiledModel
from leadscore.domain.domains import email_domain
from leadscore.domain.model import ScoringModel
from leadscore.domain.model_base import Test
from leadscore.domain.model_engagement import EngagementRule

MAX_VALUE_CHARS = 60  # of a profile value quoted in a reason
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class Phrase:
    """What an event type says: its verb, what it names without a where-condition, and the
    noun and article of what a where-condition picks ("the pricing page", "a report")."""

    verb: str
    thing: str
    noun: str = ""
    article: str = "the"


# The canonical event types (domain/events.py); another type reads as its name.
PHRASES = {
    "page_view": Phrase("Visited", "a page", "page"),
    "form_submit": Phrase("Submitted", "a form", "form"),
    "email_delivered": Phrase("Received", "an email", "email", "an"),
    "email_open": Phrase("Opened", "an email", "email", "an"),
    "email_click": Phrase("Clicked", "an email", "email", "an"),
    "email_bounce": Phrase("Had", "an email bounce", "email bounce", "an"),
    "email_unsubscribe": Phrase("Unsubscribed from", "emails", "emails"),
    "email_spam_complaint": Phrase("Marked", "an email as spam"),
    "download": Phrase("Downloaded", "content", "", "a"),
    "webinar_registered": Phrase("Registered for", "a webinar", "webinar", "a"),
    "webinar_attended": Phrase("Attended", "a webinar", "webinar", "a"),
    "demo_request": Phrase("Requested", "a demo", "demo", "a"),
    "social_engagement": Phrase("Engaged on", "social media"),
    "meeting_booked": Phrase("Booked", "a meeting", "meeting", "a"),
}
# Words of a rule's name that only repeat what its event type says ("report_download").
EVENT_WORDS = frozenset({"download", "downloads", "view", "views", "visit", "attended", "click",
                         "clicks", "open", "opens", "submit", "request"})  # fmt: skip
FIXED = {
    "fit.base": "Base fit points",
    "fit.clamp": "Fit held within 0-100",
    "engagement.clamp": "Engagement held within 0-100",
    "score.clamp": "Score held within 0-100",
    "spam": "Spam signals in the form data",
    "disqualified": "Disqualified: the score is 0",
}


def humanize(name: str) -> str:
    """A rule or field name in words: `mid_market` -> "mid market"."""
    return " ".join(name.replace("_", " ").replace("-", " ").split())


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _value(value: Any) -> str:
    """A profile value as quoted in a reason: printable, short."""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        value = f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"
    text = " ".join(_CONTROL.sub(" ", str(value)).split())
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def times(count: int) -> str:
    """The count said after what the lead did: "", " twice", " (3 times)"."""
    if count <= 1:
        return ""
    return " twice" if count == 2 else f" ({count} times)"


def _plain_value(where: Mapping[str, Test]) -> str | None:
    """The one value a rule's only where-condition asks for, when it is plain text."""
    if len(where) != 1:
        return None
    test = next(iter(where.values()))
    if isinstance(test.equals, str):
        return test.equals
    if test.in_ is not None and len(test.in_) == 1 and isinstance(test.in_[0], str):
        return test.in_[0]
    return None


def _picked(rule: EngagementRule, phrase: Phrase) -> str:
    """What a rule's where-condition picks: its plain value, or else its name (a URL pattern
    is never printed), as "the pricing page"."""
    plain = _plain_value(rule.where)
    words = humanize(plain if plain is not None else rule.name).lower().split()
    words = [word for word in words if word not in EVENT_WORDS] or words
    if phrase.noun and phrase.noun not in words:
        words.append(phrase.noun)
    return f"{phrase.article} {' '.join(words)}"


def _did(kind: str, rule: EngagementRule) -> str:
    """One event type's part of a rule's sentence: "Visited the pricing page"."""
    phrase = PHRASES.get(kind)
    if phrase is None:
        return _capital(humanize(kind))
    thing = _picked(rule, phrase) if rule.where else phrase.thing
    return f"{phrase.verb} {thing}"


def engagement_text(rule: EngagementRule) -> str:
    """What a lead did to earn a rule's points, without the count."""
    if rule.label:
        return rule.label
    kinds = [rule.event] if isinstance(rule.event, str) else rule.event
    parts = [_did(kind, rule) for kind in kinds]
    return " or ".join([parts[0], *(part[:1].lower() + part[1:] for part in parts[1:])])


def _field_name(field: str) -> str:
    return "Email domain" if field in ("email", "email_domain") else _capital(humanize(field))


def _field_value(field: str, profile: Mapping[str, Any] | None) -> str | None:
    if profile is None:
        return None
    value = profile.get("email" if field == "email_domain" else field)
    if value is None or value == "":
        return None
    if field in ("email", "email_domain"):
        return email_domain(str(value)) or None
    return _value(value)


def _profile_text(
    field: str, what: str, profile: Mapping[str, Any] | None, label: str | None
) -> str:
    """A fit or negative reason: "Job title CTO: executive" (the value when it is known)."""
    if label:
        return label
    value = _field_value(field, profile)
    shown = _field_name(field) if value is None else f"{_field_name(field)} {value}"
    return f"{shown}: {what}"


def _fit_text(model: ScoringModel, key: str, profile: Mapping[str, Any] | None) -> str | None:
    _, category_name, criterion_name = key.split(".", 2)
    category = next((c for c in model.fit.categories if c.name == category_name), None)
    if category is None:
        return None
    if criterion_name == "default":
        field = category.field or (category.criteria[0].field or "")
        what = f"other {humanize(category.name)}"
        if _field_value(field, profile) is None and profile is not None:
            return f"No {_field_name(field).lower()}: {what}"
        return _profile_text(field, what, profile, None)
    criterion = next((c for c in category.criteria if c.name == criterion_name), None)
    if criterion is None:
        return None
    field = criterion.field or category.field or ""
    return _profile_text(field, humanize(criterion.name), profile, criterion.label)


def _bonus_text(model: ScoringModel, profile: Mapping[str, Any] | None) -> str:
    bonus = model.fit.completion_bonus
    if bonus is None or profile is None:
        return "Filled in optional form fields"
    filled = [humanize(n) for n in bonus.fields if str(profile.get(n) or "").strip()]
    if not filled:
        return "Filled in optional form fields"
    listed = filled[0] if len(filled) == 1 else f"{', '.join(filled[:-1])} and {filled[-1]}"
    return f"Filled in {listed}"


def _cap_text(model: ScoringModel, group: str) -> str | None:
    found = model.engagement.groups.get(group)
    if found is None:
        return None
    return f"{_capital(humanize(group))} activity capped at {found.cap:g} points"


def _decay_text(inactive_days: int | None) -> str:
    if inactive_days is None:
        return "Engagement faded over inactive time"
    return f"Inactive for {inactive_days} day" + ("" if inactive_days == 1 else "s")


def reason_text(
    model: CompiledModel,
    rule: str,
    count: int,
    profile: Mapping[str, Any] | None = None,
    inactive_days: int | None = None,
) -> str:
    """A reason in words. `profile`: the lead's, to quote the values fit reads (without it
    a fit reason names the field only); `inactive_days`: how long the lead has been inactive
    while its engagement decays (without it decay says so in general)."""
    definition = model.model
    text: str | None = FIXED.get(rule)
    if text is not None:
        return text
    if rule == "decay":
        return _decay_text(inactive_days)
    if rule == "fit.completion_bonus":
        return _bonus_text(definition, profile)
    prefix, _, name = rule.partition(".")
    if prefix == "engagement":
        if name.startswith("cap.") and (cap := _cap_text(definition, name[4:])) is not None:
            return cap
        found = next((r for r in definition.engagement.rules if r.name == name), None)
        if found is not None:
            return engagement_text(found) + times(count)
    elif prefix == "fit" and name.count(".") == 1:
        text = _fit_text(definition, rule, profile)
    elif prefix == "negative":
        adjustment = next((a for a in definition.negative if a.name == name), None)
        if adjustment is not None:
            text = _profile_text(
                adjustment.field, humanize(adjustment.name), profile, adjustment.label
            )
    # A rule the model no longer has (a reason from an earlier version): its name.
    return text or _capital(humanize(rule.rpartition(".")[2]))
