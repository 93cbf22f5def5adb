"""The Segment source's rules: the event-name table, traits, leads and visitors, and the key
a request presents (x-api-key or HTTP Basic)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from leadscore.adapters.api_keys import presented_key
from leadscore.api.forms import known_profile
from leadscore.domain.events import EventError
from leadscore.domain.segment import DEFAULT_EVENTS, call_entries, event_table, event_type

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("name", "kind"),
    [("Form Submitted", "form_submit"), ("demo requested", "demo_request"),
     ("Email Link Clicked", "email_click"), ("File Downloaded", "download"),
     ("Webinar Attended", "webinar_attended"), ("Meeting Booked", "meeting_booked"),
     ("Trial Started", "trial_started"), ("  Signed-Up (v2)! ", "signed_up_v2")],
)  # fmt: skip
def test_default_event_names(name: str, kind: str) -> None:
    assert event_type(name, event_table()) == kind


def test_the_table_is_configurable_over_its_defaults() -> None:
    table = event_table('{"Demo Requested": "meeting_booked", "Plan Upgraded": "upgrade"}')
    assert event_type("Demo Requested", table) == "meeting_booked"
    assert event_type("plan upgraded", table) == "upgrade"
    assert event_type("Email Opened", table) == "email_open"
    assert len(table) == len(DEFAULT_EVENTS) + 1


@pytest.mark.parametrize("setting", ["{", "[]", '{"A": "Not A Type"}', '{"A": 3}'])
def test_a_table_that_cannot_be_read_fails(setting: str) -> None:
    with pytest.raises(ValueError, match="LEADSCORE_SEGMENT_EVENTS"):
        event_table(setting)


@pytest.mark.parametrize("name", ["", "   ", None, 12, "!!!", "123 go"])
def test_an_unusable_event_name_is_refused(name: object) -> None:
    with pytest.raises(EventError) as refused:
        event_type(name, event_table())
    assert refused.value.field == "event"


def test_identify_traits_are_read_as_form_fields() -> None:
    call = {"type": "identify", "messageId": "m1", "userId": "u-42",
            "traits": {"email": "Ann@Acme.com", "lastName": "Lee", "company": "Acme",
                       "industry": "Software", "employees": "51-200", "phone": "+1 555",
                       "website": "acme.com", "address": {"country": "united kingdom"},
                       "plan": "pro"}}  # fmt: skip
    [entry] = call_entries(call, NOW, event_table(), known_profile)
    assert entry.email == "ann@acme.com" and entry.visitor is None
    assert entry.event.trusted
    assert entry.event.occurred_at == NOW
    assert entry.event.profile == {"last_name": "Lee", "company": "Acme", "industry": "Software",
                                   "company_size": 51, "phone": "+1 555", "website": "acme.com",
                                   "country": "GB"}  # fmt: skip


def test_original_timestamp_when_no_timestamp() -> None:
    call = {"type": "page", "messageId": "m1", "userId": "a@b.io",
            "originalTimestamp": "2026-01-05T11:00:00+01:00"}  # fmt: skip
    [entry] = call_entries(call, NOW, event_table(), known_profile)
    assert entry.event.occurred_at == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"x-api-key": "k1"}, "k1"),
        ({"X-Api-Key": "k1"}, "k1"),
        ({"Authorization": basic("k2")}, "k2"),
        ({"authorization": basic("k2", "ignored")}, "k2"),
        ({"Authorization": basic("")}, None),
        ({"Authorization": "Basic %%%"}, None),
        ({"Authorization": "Bearer k3"}, None),
        ({"x-api-key": "k1", "Authorization": basic("k2")}, None),
        ({}, None),
    ],
)
def test_the_key_a_request_presents(headers: dict[str, str], key: str | None) -> None:
    assert presented_key(headers) == key
