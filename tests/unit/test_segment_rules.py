"""The Segment source's rules: the event-name table (and the template's check of it),
traits, leads and visitors, what an untrusted source may do, and the key a request presents
(x-api-key or HTTP Basic)."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from leadscore.adapters.api_keys import presented_key
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.api.forms import known_profile
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event, EventError
from leadscore.domain.messages import Entry, encode
from leadscore.domain.segment import DEFAULT_EVENTS, call_entries, event_table, event_type
from leadscore.services.profiles import UNTRUSTED_PER_HOUR
from leadscore.services.scoring import score_messages
from leadscore_tools.template import load_template

from tests.unit.scoring_helpers import NOW as SCORED_AT
from tests.unit.scoring_helpers import FixedModels

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
TEMPLATE = load_template()
SEGMENT_EVENTS = re.compile(TEMPLATE["Parameters"]["SegmentEvents"]["AllowedPattern"])
ANN, EVE = "ann@acme.example", "eve@evil.example"
VISITOR = "V" * 22


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


@pytest.mark.parametrize("setting", ["", "  ", '{"Trial Started": "trial"}', " {\n} "])
def test_the_template_takes_a_json_object_or_nothing(setting: str) -> None:
    event_table(setting)
    assert SEGMENT_EVENTS.fullmatch(setting)


@pytest.mark.parametrize("setting", ["[]", "Trial Started=trial", '"x"', "{", "x{}"])
def test_the_template_refuses_what_is_not_a_json_object(setting: str) -> None:
    """A deploy with it fails, rather than the Segment route answering 503."""
    with pytest.raises(ValueError, match="LEADSCORE_SEGMENT_EVENTS"):
        event_table(setting)
    if setting != "{":  # an object cut short passes the template: the route answers 503
        assert not SEGMENT_EVENTS.fullmatch(setting)


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


# --- a source that may carry browsers' calls (SegmentTrusted false) ---------------------------


def test_the_source_is_trusted_unless_the_stack_says_otherwise() -> None:
    parameter = TEMPLATE["Parameters"]["SegmentTrusted"]
    assert parameter["Default"] == "true"
    assert sorted(parameter["AllowedValues"]) == ["false", "true"]
    function = TEMPLATE["Resources"]["ApiFunction"]["Properties"]
    variables = function["Environment"]["Variables"]
    assert variables["LEADSCORE_SEGMENT_TRUSTED"] == {"Ref": "SegmentTrusted"}


class Outbox:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def publish(self, notification: Any) -> None:
        self.sent.append(notification)


def entries(call: dict[str, Any], trusted: bool) -> list[Entry]:
    return call_entries(call, SCORED_AT, event_table(), known_profile, trusted)


def score(store: MemoryLeadStore, queued: list[Entry]) -> None:
    bodies = [(f"m{n}", next(encode([entry], SCORED_AT))) for n, entry in enumerate(queued)]
    score_messages(bodies, store, FixedModels(), Outbox(), lambda: SCORED_AT, visitors=store)


def identify(message_id: str, email: str, **fields: Any) -> dict[str, Any]:
    return {"type": "identify", "messageId": message_id, "userId": email,
            "timestamp": SCORED_AT.isoformat(), **fields}  # fmt: skip


@pytest.mark.parametrize("trusted", [True, False])
def test_an_untrusted_sources_calls_are_marked_untrusted(trusted: bool) -> None:
    [entry] = entries({"type": "track", "event": "Demo Requested", "messageId": "m1",
                       "userId": ANN, "anonymousId": VISITOR}, trusted)  # fmt: skip
    assert entry.event.source == ("segment" if trusted else "segment-browser")
    assert entry.event.trusted is trusted
    assert (entry.email, entry.visitor, entry.event.type) == (ANN, VISITOR, "demo_request")


@pytest.mark.parametrize(("trusted", "held"), [(True, 0), (False, 40 - UNTRUSTED_PER_HOUR)])
def test_an_untrusted_sources_events_are_held_to_the_hourly_allowance(
    trusted: bool, held: int
) -> None:
    """40 `Demo Requested` for a lead in a minute, typed in a browser's console."""
    store = MemoryLeadStore()
    calls = [{"type": "track", "event": "Demo Requested", "messageId": f"x{n}", "userId": ANN,
              "timestamp": (SCORED_AT - timedelta(seconds=n)).isoformat()}
             for n in range(40)]  # fmt: skip
    score(store, [entry for call in calls for entry in entries(call, trusted)])
    log = store.lead_log(lead_key(ANN))
    noted = [r for r in log.events if any(d["kind"] == "note" for d in r.deltas["default"])]
    assert len(log.events) == 40 and len(noted) == held


@pytest.mark.parametrize(("trusted", "owner"), [(True, EVE), (False, ANN)])
def test_an_untrusted_source_cannot_move_a_visitor(trusted: bool, owner: str) -> None:
    store = MemoryLeadStore()
    form = Event("form-1", "form_submit", SCORED_AT - timedelta(hours=1), None,
                 {"form": "demo"}, {"company": "Acme"}, "form")  # fmt: skip
    score(store, [Entry(ANN, form, VISITOR)])
    score(store, entries(identify("h1", EVE, anonymousId=VISITOR), trusted))
    assert store.visitor_links[VISITOR].email == owner


@pytest.mark.parametrize(("trusted", "company"), [(True, "Nobody Inc"), (False, "Acme")])
def test_an_untrusted_source_fills_empty_profile_fields_only(trusted: bool, company: str) -> None:
    store = MemoryLeadStore()
    crm = Event("crm-1", "identify", SCORED_AT - timedelta(hours=1), None, {},
                {"company": "Acme"}, None)  # fmt: skip
    score(store, [Entry(ANN, crm)])
    traits = {"company": "Nobody Inc", "title": "Student"}
    score(store, entries(identify("h2", ANN, traits=traits), trusted))
    profile = store.lead_log(lead_key(ANN)).profile
    assert profile is not None
    assert profile.profile["company"] == company
    assert profile.profile["job_title"] == "Student"  # empty: filled by either
