"""Machine activity: which email opens and clicks are taken for a machine's, and what a model
does with them (engagement.machine: ignore | count)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from leadscore.adapters.webhooks.interface import WebhookRequest
from leadscore.adapters.webhooks.payload import canonical
from leadscore.adapters.webhooks.providers import PROVIDERS
from leadscore.domain.events import Event
from leadscore.domain.machine import MAX_MESSAGES, machine_reason
from leadscore.domain.model import parse_model
from leadscore.domain.model_errors import ModelError
from leadscore.domain.state import LeadState

from tests.unit.engine_helpers import NOW, document, rules, run

T = 1_790_000_000  # a delivery, epoch seconds
PERSON = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
EMAIL_RULES = (
    {"name": "email_open", "event": "email_open", "points": 1},
    {"name": "email_click", "event": "email_click", "points": 5},
)


def judge(*events: tuple[str, int, dict[str, Any]]) -> list[str | None]:
    """The reason of each (kind, seconds after T, properties) in order, on one lead's record."""
    messages: dict[str, list[Any]] = {}
    return [
        machine_reason(messages, kind, {"message_id": "m1", **props}, T + at)
        for kind, at, props in events
    ]


# --- what the provider says, and user agents -------------------------------------------------


@pytest.mark.parametrize(
    ("properties", "reason"),
    [
        ({"machine": "provider_flag:sg_machine_open"}, "provider_flag:sg_machine_open"),
        ({"machine_open": True}, "provider_flag"),
        ({"user_agent": "Mozilla/5.0"}, "apple_mpp"),
        ({"user_agent": "python-requests/2.31.0"}, "user_agent:python-"),
        ({"user_agent": "Microsoft Office Existence Discovery"}, "user_agent:existence discovery"),
        ({"user_agent": "Mozilla/5.0 (compatible; Barracuda Sentinel)"}, "user_agent:barracuda"),
        ({"user_agent": PERSON}, None),
        ({"user_agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"}, None),  # opened in Gmail
        ({"user_agent": "Microsoft Office/16.0 (Microsoft Outlook 16.0.17328; Pro)"}, None),
        ({"user_agent": ""}, None),
        ({"machine": False, "machine_open": False}, None),
        ({}, None),
    ],
)
def test_an_open_is_judged_by_its_providers_flag_and_user_agent(
    properties: dict[str, Any], reason: str | None
) -> None:
    assert judge(("email_open", 3_600, properties)) == [reason]


def test_a_bare_mozilla_agent_marks_only_opens() -> None:
    """Apple's proxy fetches images; a click with that agent is judged on its behaviour."""
    assert judge(("email_click", 3_600, {"user_agent": "Mozilla/5.0", "url": "u"})) == [None]


@pytest.mark.parametrize("agent", ["Mozilla/5.0", " mozilla/5.0 ", "Mimecast-Link-Scanner/1.0"])
def test_an_agents_remembered_verdict_is_the_same_for_every_kind_and_order(agent: str) -> None:
    """The verdict on an agent is remembered, but the kind of event still decides Apple's."""
    apple = agent.strip().lower() == "mozilla/5.0"
    click_reason = None if apple else "user_agent:mimecast"
    open_reason = "apple_mpp" if apple else click_reason
    for kinds in (("email_click", "email_open"), ("email_open", "email_click")):
        reasons = judge(*((kind, 3_600 * n, {"user_agent": agent}) for n, kind in enumerate(kinds)))
        expected = {"email_open": open_reason, "email_click": click_reason}
        assert reasons == [expected[kind] for kind in kinds]


# --- behaviour -------------------------------------------------------------------------------


def test_opens_and_clicks_within_seconds_of_delivery_are_a_scanners() -> None:
    assert judge(
        ("email_delivered", 0, {}),
        ("email_open", 2, {}),
        ("email_click", 3, {"url": "a"}),
        ("email_click", 10, {"url": "b"}),
    ) == [None, "open_at_delivery", "click_at_delivery", "click_at_delivery"]


def test_a_person_opening_then_clicking_fast_on_a_phone_is_scored() -> None:
    assert judge(
        ("email_delivered", 0, {}),
        ("email_open", 11, {"user_agent": PERSON}),
        ("email_click", 31, {"url": "a", "user_agent": PERSON}),
        ("email_click", 36, {"url": "b", "user_agent": PERSON}),
    ) == [None, None, None, None]


def test_links_of_one_message_clicked_within_a_second_after_the_first() -> None:
    assert judge(
        ("email_click", 3_600, {"url": "a"}),
        ("email_click", 3_600, {"url": "b"}),
        ("email_click", 3_601, {"url": "c"}),
        ("email_click", 3_601, {"url": "c"}),  # the same link again: a double click
        ("email_click", 3_700, {"url": "d"}),
    ) == [None, "click_burst", "click_burst", None, None]


def test_a_click_before_any_open_soon_after_delivery_when_the_lead_opens_emails() -> None:
    messages: dict[str, list[Any]] = {}
    machine_reason(messages, "email_open", {"message_id": "earlier"}, T - 86_400)
    machine_reason(messages, "email_delivered", {"message_id": "m1"}, T)
    assert machine_reason(messages, "email_click", {"message_id": "m1", "url": "a"}, T + 40) == (
        "click_before_open"
    )


def test_a_click_before_any_open_is_a_persons_without_a_known_open_or_later() -> None:
    """Outlook blocks images by default: people click without a tracked open."""
    assert judge(("email_delivered", 0, {}), ("email_click", 40, {"url": "a"})) == [None, None]
    messages: dict[str, list[Any]] = {}
    machine_reason(messages, "email_open", {"message_id": "earlier"}, T - 86_400)
    machine_reason(messages, "email_delivered", {"message_id": "m1"}, T)
    assert machine_reason(messages, "email_click", {"message_id": "m1", "url": "a"}, T + 61) is None


def test_a_machine_open_is_no_persons_open() -> None:
    messages: dict[str, list[Any]] = {}
    machine_reason(messages, "email_open", {"message_id": "earlier"}, T - 86_400)
    machine_reason(messages, "email_delivered", {"message_id": "m1"}, T)
    machine_reason(messages, "email_open", {"message_id": "m1", "machine": "apple_mpp"}, T + 20)
    assert machine_reason(messages, "email_click", {"message_id": "m1", "url": "a"}, T + 40) == (
        "click_before_open"
    )


def test_the_record_keeps_the_most_recently_active_messages() -> None:
    messages: dict[str, list[Any]] = {}
    for number in range(MAX_MESSAGES + 5):
        machine_reason(messages, "email_delivered", {"message_id": f"m{number}"}, T + number)
    assert len(messages) == MAX_MESSAGES
    # The oldest were forgotten: a click on one of them cannot be tied to its delivery.
    first = {"message_id": "m0", "url": "a"}
    assert machine_reason(messages, "email_click", first, T + 3) is None
    latest = {"message_id": f"m{MAX_MESSAGES + 4}", "url": "a"}
    assert machine_reason(messages, "email_click", latest, T + MAX_MESSAGES + 6) == (
        "click_at_delivery"
    )


def test_events_without_a_message_are_judged_by_flag_and_agent_only() -> None:
    messages: dict[str, list[Any]] = {}
    assert machine_reason(messages, "email_click", {"url": "a"}, T) is None
    assert machine_reason(messages, "email_click", {"url": "b"}, T) is None
    assert machine_reason(messages, "email_open", {"user_agent": "Mozilla/5.0"}, T) == "apple_mpp"
    assert messages == {}


# --- the engine and the model's choice -------------------------------------------------------


def at(seconds: float) -> datetime:
    return NOW - timedelta(days=1) + timedelta(seconds=seconds)


def scanned() -> list[Event]:
    """One message: delivered, then opened and every link followed within 3 s."""
    props = {"message_id": "msg-1", "campaign": "c1"}
    return [
        Event("d", "email_delivered", at(0), None, props),
        Event("o", "email_open", at(1), None, props),
        Event("c1", "email_click", at(2), None, {**props, "url": "https://x.io/a"}),
        Event("c2", "email_click", at(2), None, {**props, "url": "https://x.io/b"}),
    ]


def test_ignore_gives_machine_events_no_points_and_says_why() -> None:
    result = run(rules(*EMAIL_RULES), scanned())
    events = {d.event_id: d for d in result.deltas if d.kind == "event"}
    assert events["o"].points == 0 and events["o"].machine == "open_at_delivery"
    assert events["c1"].to_dict()["machine"] == "click_at_delivery"
    assert events["c1"].to_dict()["rule"] == "engagement.email_click"  # what it would have scored
    assert events["c1"].points == events["c2"].points == 0
    assert "machine" not in events["d"].to_dict()  # a person's entries are unchanged
    assert result.state.engagement == 0
    assert result.state.last_activity_at is None  # a scanner is not the lead's activity


def test_count_scores_machine_events_as_before() -> None:
    counted = rules(*EMAIL_RULES, machine="count")
    result = run(counted, scanned())
    assert result.state.engagement == 1_100  # 1 + 5 + 5
    assert all(d.machine is None for d in result.deltas)


def test_a_person_reading_later_is_scored_either_way() -> None:
    props = {"message_id": "msg-1", "campaign": "c1", "user_agent": PERSON}
    events = [
        Event("d", "email_delivered", at(0), None, props),
        Event("o", "email_open", at(7_200), None, props),
        Event("c", "email_click", at(7_230), None, {**props, "url": "https://x.io/a"}),
    ]
    for machine in ("ignore", "count"):
        assert run(rules(*EMAIL_RULES, machine=machine), events).state.engagement == 600


def test_the_record_lasts_across_calls_and_storage() -> None:
    model = rules(*EMAIL_RULES)
    delivered, *rest = scanned()
    first = run(model, [delivered])
    stored = LeadState.from_dict(json.loads(json.dumps(first.state.to_dict())))
    later = run(model, rest, state=stored)
    assert later.state.engagement == 0
    assert {d.machine for d in later.deltas if d.kind == "event"} == {
        "open_at_delivery",
        "click_at_delivery",
    }


def test_the_option_is_validated() -> None:
    assert parse_model(document()).engagement.machine == "ignore"
    with pytest.raises(ModelError):
        parse_model(document(engagement={**document()["engagement"], "machine": "drop"}))


# --- what the adapters pass on ---------------------------------------------------------------


def parsed(provider: str, body: Any, content_type: str = "application/json") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = WebhookRequest(provider, "POST", {"Content-Type": content_type}, raw)
    events, _ = canonical(provider, PROVIDERS[provider].parse(request, NOW).events, NOW)
    properties: dict[str, Any] = events[0]["properties"]
    return properties


def test_sendgrid_passes_on_its_machine_open_flag_and_user_agent() -> None:
    item = {"event": "open", "email": "a@acme.com", "timestamp": 1, "sg_machine_open": True,
            "useragent": "Mozilla/5.0"}  # fmt: skip
    properties = parsed("sendgrid", [item])
    assert properties["machine"] == "provider_flag:sg_machine_open"
    assert properties["machine_open"] is True and properties["user_agent"] == "Mozilla/5.0"


def test_mailgun_passes_on_its_bot_detection() -> None:
    data = {"event": "clicked", "recipient": "a@acme.com", "timestamp": 1, "url": "https://x.io",
            "client-info": {"bot": "generic", "user-agent": "Mozilla/5.0 (X11)"}}  # fmt: skip
    properties = parsed("mailgun", {"event-data": data})
    assert properties["machine"] == "provider_flag:mailgun_bot:generic"
    assert properties["user_agent"] == "Mozilla/5.0 (X11)"
    data["client-info"] = {"bot": "", "user-agent": PERSON}
    assert "machine" not in parsed("mailgun", {"event-data": data})


GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)


def mailgun_open(bot: str, agent: str) -> dict[str, Any]:
    """An `opened` event-data as Mailgun sends it, with its bot detection's verdict."""
    return {"event": "opened", "recipient": "a@acme.com", "timestamp": T + 3_600,
            "id": f"open-{bot}", "message": {"headers": {"message-id": "20261101.1@mg.acme.com"}},
            "client-info": {"bot": bot, "user-agent": agent}}  # fmt: skip


@pytest.mark.parametrize(
    ("bot", "agent", "reason"),
    [
        ("apple", "Mozilla/5.0", "provider_flag:mailgun_bot:apple"),
        ("generic", "Mozilla/5.0 (Windows NT 10.0)", "provider_flag:mailgun_bot:generic"),
        ("gmail", GMAIL_PROXY, None),  # Gmail's proxy fetches the pixel as the person opens it
    ],
)  # fmt: skip
def test_mailgun_opens_of_apples_proxy_and_unknown_bots_earn_nothing_gmails_proxy_scores(
    bot: str, agent: str, reason: str | None
) -> None:
    properties = parsed("mailgun", {"event-data": mailgun_open(bot, agent)})
    assert properties.get("machine") == reason
    opened = Event("o", "email_open", datetime.fromtimestamp(T + 3_600, UTC), None, properties)
    result = run(rules(*EMAIL_RULES), [opened], now=opened.occurred_at)
    (delta,) = result.deltas
    assert delta.machine == reason
    assert result.state.engagement == (0 if reason else 100)


def test_brevo_proxy_opens_are_flagged() -> None:
    body = {"event": "proxy_open", "email": "a@acme.com", "ts_epoch": 1_700_000_000_000}
    assert parsed("brevo", body)["machine"] == "provider_flag:proxy_open"
    assert "machine" not in parsed("brevo", {**body, "event": "opened"})


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("postmark", {"RecordType": "Open", "Recipient": "a@acme.com", "UserAgent": PERSON}),
        ("sparkpost", [{"msys": {"track_event": {"type": "open", "rcpt_to": "a@acme.com",
                                                 "user_agent": PERSON}}}]),
        ("mailjet", {"event": "open", "email": "a@acme.com", "time": 1, "agent": PERSON}),
        ("mailtrap", {"events": [{"event": "open", "email": "a@acme.com", "user_agent": PERSON}]}),
        ("ses", {"eventType": "Open", "mail": {"destination": ["a@acme.com"]},
                 "open": {"timestamp": "2026-01-01T00:00:00Z", "userAgent": PERSON}}),
        ("resend", {"type": "email.clicked", "created_at": "2026-01-01T00:00:00Z",
                    "data": {"to": ["a@acme.com"], "click": {"link": "https://x.io",
                                                             "userAgent": PERSON}}}),
        ("unisender_go", {"event_name": "transactional_email_status", "status": "opened",
                          "email": "a@acme.com", "delivery_info": {"user_agent": PERSON}}),
    ],
)  # fmt: skip
def test_adapters_pass_on_the_user_agent_of_opens_and_clicks(provider: str, body: Any) -> None:
    assert parsed(provider, body)["user_agent"] == PERSON


def test_mandrill_passes_on_the_user_agent() -> None:
    from urllib.parse import urlencode

    item = {"event": "click", "ts": 1, "url": "https://x.io", "user_agent": PERSON,
            "msg": {"email": "a@acme.com", "_id": "m1"}}  # fmt: skip
    body = urlencode({"mandrill_events": json.dumps([item])}).encode()
    properties = parsed("mandrill", body, "application/x-www-form-urlencoded")
    assert properties["user_agent"] == PERSON


def test_deliveries_carry_no_user_agent() -> None:
    item = {"event": "delivered", "email": "a@acme.com", "timestamp": 1, "useragent": "x"}
    assert "user_agent" not in parsed("sendgrid", [item])
