"""Sales feedback (`accepted`, `rejected`, `won`, `lost`) and lead profiles -> the CSV that
`leadscore calibrate` reads: one row per lead, its profile fields, and a 1/0 outcome column.

A feedback record is `{"email", "outcome", "at"?, "profile"?}` (`at`: ISO-8601 or epoch
seconds; records without it count in the order given). A lead's latest feedback decides:
- target `won`: won -> 1; lost or rejected -> 0; accepted (still being worked) -> left out;
- target `accepted`: accepted, won or lost (sales took it) -> 1; rejected -> 0.
Only the profile goes into the CSV: never the feedback itself, which would leak the outcome.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from leadscore.domain import domains
from leadscore.domain.emails import EmailError, normalize_email
from leadscore.domain.events import EventError, parse_time

FEEDBACK = ("accepted", "rejected", "won", "lost")
TARGETS = {
    "won": {"won": 1, "lost": 0, "rejected": 0},
    "accepted": {"accepted": 1, "won": 1, "lost": 1, "rejected": 0},
}


class FeedbackError(ValueError):
    """A feedback record or lead document that cannot be exported, with its position."""


@dataclass(slots=True)
class Export:
    """The CSV shape `calibrate` reads, and what was left out of it."""

    columns: list[str]
    rows: list[dict[str, str]]
    leads: int = 0  # leads with at least one feedback record
    open: int = 0  # latest feedback gives no outcome for the target (e.g. still accepted)
    without_profile: list[str] = field(default_factory=list)

    @property
    def conversions(self) -> int:
        return sum(1 for row in self.rows if row[self.columns[-1]] == "1")


def _cell(value: Any) -> str | None:
    """A profile value as CSV text; None for values a CSV cell cannot hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return json.dumps(value, ensure_ascii=False)
    return None


def _email(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise FeedbackError(f"{where}: needs an email")
    try:
        return normalize_email(value)
    except EmailError as error:
        raise FeedbackError(f"{where}: {error}") from None


def export_rows(
    feedback: Iterable[Mapping[str, Any]],
    leads: Iterable[Mapping[str, Any]] = (),
    target: str = "won",
    outcome_column: str = "converted",
) -> Export:
    """Turn feedback records and lead documents (`{"email", "profile"}`) into CSV rows."""
    if target not in TARGETS:
        raise FeedbackError(f"unknown target {target!r}: use one of {', '.join(TARGETS)}")
    outcomes = TARGETS[target]
    latest: dict[str, tuple[float, int, str]] = {}
    profiles: dict[str, dict[str, Any]] = {}
    for position, record in enumerate(feedback):
        where = f"feedback record {position + 1}"
        if not isinstance(record, Mapping):
            raise FeedbackError(f"{where}: must be a JSON object")
        email = _email(record.get("email"), where)
        outcome = str(record.get("outcome", "")).strip().lower()
        if outcome not in FEEDBACK:
            raise FeedbackError(
                f"{where}: outcome {record.get('outcome')!r} is not one of {', '.join(FEEDBACK)}"
            )
        at = record.get("at")
        try:
            moment = parse_time(at, "at").timestamp() if at is not None else float("-inf")
        except EventError as error:
            raise FeedbackError(f"{where}: {error}") from None
        if email not in latest or (moment, position) >= latest[email][:2]:
            latest[email] = (moment, position, outcome)
        profile = record.get("profile")
        if profile is not None:
            if not isinstance(profile, Mapping):
                raise FeedbackError(f"{where}: profile must be a JSON object")
            profiles.setdefault(email, {}).update(profile)
    for position, lead in enumerate(leads):
        where = f"lead {position + 1}"
        if not isinstance(lead, Mapping):
            raise FeedbackError(f"{where}: must be a JSON object")
        email = _email(lead.get("email"), where)
        profile = lead.get("profile", {})
        if not isinstance(profile, Mapping):
            raise FeedbackError(f"{where}: profile must be a JSON object")
        profiles.setdefault(email, {}).update(profile)

    fields: list[str] = []
    reserved = {"email", "email_domain", outcome_column}
    export = Export(columns=[], rows=[], leads=len(latest))
    for email, (_, _, outcome) in latest.items():
        if outcome not in outcomes:
            export.open += 1
            continue
        profile = profiles.get(email)
        if not profile:
            export.without_profile.append(email)
        row = {"email": email, "email_domain": domains.email_domain(email)}
        for name, value in (profile or {}).items():
            text = _cell(value)
            if text is None or name in reserved or not str(name).strip():
                continue
            if name not in fields:
                fields.append(name)
            row[name] = text
        row[outcome_column] = str(outcomes[outcome])
        export.rows.append(row)
    export.columns = ["email", "email_domain", *fields, outcome_column]
    return export
