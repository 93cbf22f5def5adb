"""Sales notifications: the message shape of the public contract (section 4), and where they go."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

KINDS = ("lead.mql", "lead.cooled", "lead.sla_breached", "account.mqa", "account.cooled")
TITLES = {
    "lead.mql": "New MQL",
    "lead.cooled": "Lead cooled",
    "lead.sla_breached": "Follow-up overdue",
    "account.mqa": "New MQA",
    "account.cooled": "Account cooled",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    kind: str
    subject: str
    document: dict[str, Any]  # the `default` JSON
    email_text: str
    attributes: dict[str, str] = field(default_factory=dict)
    # when the write that holds it pending recorded it (its place in the notification log);
    # never published. None: not recorded by a writer
    recorded_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        recorded = {} if self.recorded_at is None else {"recorded_at": self.recorded_at}
        return {
            "id": self.id,
            "kind": self.kind,
            "subject": self.subject,
            "document": self.document,
            "email_text": self.email_text,
            "attributes": self.attributes,
            **recorded,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        return cls(
            id=data["id"],
            kind=data["kind"],
            subject=data["subject"],
            document=data["document"],
            email_text=data["email_text"],
            attributes=dict(data.get("attributes") or {}),
            recorded_at=data.get("recorded_at"),
        )


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


def _points(value: float) -> str:
    return f"{value:g}"


_SCORE_FIELDS = (
    "model",
    "model_version",
    "score",
    "fit",
    "engagement",
    "grade",
    "engagement_level",
    "rating",
    "status",
)


def _score_fields(scores: Mapping[str, Any]) -> dict[str, Any]:
    """The scores every notification document carries, lead or account."""
    return {name: scores[name] for name in _SCORE_FIELDS}


def _subject(kind: str, scores: Mapping[str, Any], who: str, company: str) -> str:
    """The SNS subject: kind, rating, who, company, score, model; at most 100 characters."""
    subject = _clean(
        f"{TITLES[kind]}: {scores['rating']} {who} ({company}) "
        f"score {_points(scores['score'])} [{scores['model']}]"
    )
    return subject if len(subject) <= 100 else subject[:99] + "…"


def _notification(
    notification_id: str,
    kind: str,
    subject: str,
    document: dict[str, Any],
    lines: list[str],
    scores: Mapping[str, Any],
    owner: str | None = None,
) -> Notification:
    """The message, with the attributes subscriptions filter on (`owner` only when the lead
    has one: SNS takes no empty attribute)."""
    attributes = {
        "kind": kind,
        "model": scores["model"],
        "rating": scores["rating"],
        "grade": scores["grade"],
    }
    if owner:
        attributes["owner"] = owner
    return Notification(
        id=notification_id,
        kind=kind,
        subject=subject,
        document=document,
        email_text="\n".join(lines) + "\n",
        attributes=attributes,
    )


def notification_id(kind: str, model_id: str, subject: str, at: int) -> str:
    """The id of one transition's notification, the same whenever it is found again, so a
    subscriber drops a repeat by it. `subject`: the lead key (its first 16 characters are
    kept) or the account's domain; `at`: the transition's epoch second."""
    if kind.startswith("lead."):
        subject = subject[:16]
    return f"{kind}:{model_id}:{subject}:{at}"


def lead_notification(
    kind: str,
    notification_id: str,
    email: str,
    profile: dict[str, Any],
    scores: dict[str, Any],
) -> Notification:
    """A lead alert from the lead's profile and its `engine.summary` for one model; it names
    the lead's owner (the profile's `owner`) in its document, its text and an attribute."""
    name = _clean(" ".join(str(profile.get(k) or "") for k in ("first_name", "last_name"))) or email
    company = _clean(str(profile.get("company") or "")) or "-"
    owner = _clean(str(profile.get("owner") or "")) or None
    reasons = [r for r in scores["reasons"] if r["points"]][:10]
    document = {
        "kind": kind,
        "id": notification_id,
        "email": email,
        "name": name,
        "company": company,
        "owner": owner,
        **_score_fields(scores),
        "reasons": reasons,
        "sla_due_at": scores["sla_due_at"],
        "mql_since": scores["mql_since"],
    }
    subject = _subject(kind, scores, name, company)
    lines = [
        f"{TITLES[kind]} - {name}, {company}",
        "",
        f"Email:       {email}",
        f"Rating:      {scores['rating']} (fit grade {scores['grade']}, "
        f"engagement level {scores['engagement_level']})",
        f"Score:       {_points(scores['score'])}/100 "
        f"(fit {_points(scores['fit'])}, engagement {_points(scores['engagement'])})",
        f"Model:       {scores['model']} v{scores['model_version']}",
        f"Owner:       {owner or 'nobody yet'}",
    ]
    if scores["sla_due_at"]:
        lines.append(f"Follow up by: {scores['sla_due_at']}")
    if profile.get("job_title"):
        lines.append(f"Job title:   {_clean(str(profile['job_title']))}")
    lines += ["", "Why:"]
    lines += [
        f"  {r['points']:+g}  {r['rule']}" + (f" (x{r['count']})" if r["count"] > 1 else "")
        for r in reasons
    ]
    return _notification(notification_id, kind, subject, document, lines, scores, owner)


def account_notification(
    kind: str,
    notification_id: str,
    domain: str,
    scores: dict[str, Any],
    people: list[dict[str, Any]],
) -> Notification:
    """An account alert (`account.mqa`, `account.cooled`): the lead alert's shape, for the
    account (`accounts.summary`), plus `account` and `people`, each person as
    {email, name, job_title, points, engaged, role} (the strongest first)."""
    shown = people[:10]
    lead = shown[0] if shown else {}
    company = _clean(str(lead.get("company") or "")) or domain
    reasons = [
        {"rule": f"account.{part}", "points": points, "count": 1}
        for part, points in scores["parts"].items()
        if points
    ]
    document = {
        "kind": kind,
        "id": notification_id,
        "account": domain,
        "email": lead.get("email"),
        "name": domain,
        "company": company,
        **_score_fields(scores),
        "engaged_people": scores["engaged_people"],
        "reasons": reasons,
        "sla_due_at": None,
        "mqa_since": scores.get("mqa_since"),
        "people": shown,
    }
    subject = _subject(kind, scores, domain, company)
    lines = [
        f"{TITLES[kind]} - {company} ({domain})",
        "",
        f"Rating:      {scores['rating']} (fit grade {scores['grade']}, "
        f"engagement level {scores['engagement_level']})",
        f"Score:       {_points(scores['score'])}/100 "
        f"(best fit {_points(scores['fit'])}, engagement {_points(scores['engagement'])}, "
        f"{scores['engaged_people']} engaged people)",
        f"Model:       {scores['model']} v{scores['model_version']}",
        "",
        "People:",
    ]
    for person in shown:
        title = _clean(str(person.get("job_title") or ""))
        name = _clean(str(person.get("name") or "")) or person.get("email") or "?"
        lines.append(
            f"  {person['points']:+g}  {name} <{person.get('email')}>"
            + (f", {title}" if title else "")
            + ("" if person.get("engaged") else " (not engaged)")
        )
    lines += ["", "Why:"]
    lines += [f"  {r['points']:+g}  {r['rule']}" for r in reasons]
    return _notification(notification_id, kind, subject, document, lines, scores)


class Publisher(Protocol):
    def publish(self, notification: Notification) -> None: ...
