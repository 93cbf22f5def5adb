"""Unbounce form posts: unsigned form fields with the answers as JSON in `data.json`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..interface import WebhookFormatError, WebhookRequest
from ..payload import (
    MAX_URL,
    NativeEvent,
    Parsed,
    email_address,
    first_text,
    label_key,
    load_form,
    mapping,
    nested_json,
    profile_from_answers,
    text,
)
from .base import Provider, hidden_visitor

CONTEXT_FIELDS = {"ip_address", "page_uuid", "variant", "time_submitted", "date_submitted"}


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    form = load_form(request)
    answers = nested_json(form.get("data.json"))
    if not isinstance(answers, dict):
        raise WebhookFormatError("unbounce: expected a 'data.json' field with a JSON object")
    # Every answer is a list of strings (checkboxes can hold several).
    values = {str(key): single(value) for key, value in mapping(answers).items()}
    email = next(
        (values[key] for key in values if "email" in label_key(key) and email_address(values[key])),
        None,
    )
    event = NativeEvent(
        native_event="form_post",
        kind="form_submit",
        email=email,
        occurred_at=submitted_at(values),
        form=first_text(form.get("page_name"), form.get("page_id")),
        extra={
            "page_id": text(form.get("page_id")),
            "page_url": text(form.get("page_url"), MAX_URL),
            "variant": text(form.get("variant")),
        },
        profile=profile_from_answers(
            (key, value) for key, value in values.items() if key not in CONTEXT_FIELDS
        ),
        visitor=hidden_visitor(values),
    )
    return Parsed([event])


def single(value: Any) -> Any:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value[:20]) if len(value) != 1 else value[0]
    return value


def submitted_at(values: dict[str, Any]) -> datetime | None:
    """date_submitted ("2017-11-15") + time_submitted ("11:45 AM UTC"); without a date, None."""
    date = text(values.get("date_submitted"))
    time = text(values.get("time_submitted"))
    if not date or not time:
        return None
    try:
        moment = datetime.strptime(
            f"{date} {time.removesuffix('UTC').strip()}", "%Y-%m-%d %I:%M %p"
        )
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC)  # Unbounce writes the time in UTC and says so


PROVIDER = Provider("unbounce", parse)
