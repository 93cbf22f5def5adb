"""Trusted and untrusted sources (contract §3): what the public types (a form post, a form
platform's webhook) fills empty fields and adds engagement, but never overwrites, clears or
disqualifies what the user's own systems set; the history shows what it tried."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.domain.messages import encode
from leadscore.services import profiles, rescore_replay
from leadscore.services.scoring import BatchOutcome, score_messages

from tests.conftest import Recorder
from tests.helpers.profiles import VP
from tests.unit.scoring_helpers import NOW, FixedModels, default_model, stored_state

CEO = "ceo@acme-corp.example"
FORGED = {"first_name": "asdf", "job_title": "student", "country": "KP"}


def send(
    store: MemoryLeadStore,
    *events: Event,
    email: str = CEO,
    at: datetime = NOW,
    publisher: Any = None,
) -> BatchOutcome:
    [body] = encode([(email, event) for event in events], at)
    return score_messages(
        [(f"m-{events[0].id}", body)], store, FixedModels(), publisher or Recorder(),
        clock=lambda: at,
    )  # fmt: skip


def crm(event_id: str, profile: dict[str, Any], at: datetime = NOW) -> Event:
    """The user's own systems (`POST /v1/events`): trusted."""
    return Event(event_id, "page_view", at - timedelta(hours=1), None, {"url": "/"}, profile)


def form(event_id: str, profile: dict[str, Any], at: datetime = NOW, **props: Any) -> Event:
    """A form post: typed by the public."""
    properties = {"form": "demo-request", **props}
    return Event(event_id, "form_submit", at, None, properties, profile, source="form")


def history(store: MemoryLeadStore, event_id: str) -> list[dict[str, Any]]:
    log = store.lead_log(lead_key(CEO))
    [record] = [r for r in log.events if r.event.id == event_id]
    return record.deltas["default"]


def test_a_form_post_cannot_rewrite_or_disqualify_a_lead_the_crm_knows() -> None:
    store = MemoryLeadStore()
    send(store, crm("crm-1", {**VP, "job_title": "CEO"}))
    before = stored_state(store, CEO)
    sent = Recorder()

    send(store, form("forged", FORGED), publisher=sent)

    after = stored_state(store, CEO)
    profile = store.lead_log(lead_key(CEO)).profile
    assert profile is not None
    assert {k: profile.profile[k] for k in FORGED} == {
        "first_name": "Jane",
        "job_title": "CEO",
        "country": "US",
    }
    assert not {"disqualified", "non_buyer", "spam", "out_of_area"} & set(after.flags)
    assert after.score >= before.score and after.fit == before.fit
    assert not sent.kinds()  # no "lead cooled"
    [note] = [d for d in history(store, "forged") if d["kind"] == "note"]
    assert note["refused_profile"] == FORGED and note["source"] == "form"
    assert note["spam_post"] is True and note["points"] == 0  # its "asdf" is a keyboard run


def test_a_spammy_post_on_a_known_lead_scores_nothing_and_flags_only_itself() -> None:
    store = MemoryLeadStore()
    send(store, crm("crm-1", VP))
    before = stored_state(store, CEO)
    send(store, form("mash", {"company": "qwerty inc", "phone": "1"}))
    after = stored_state(store, CEO)
    assert after.score == before.score and "spam" not in after.flags
    notes = [d for d in history(store, "mash") if d["kind"] == "note"]
    assert any(d.get("spam_post") for d in notes)


def test_a_form_fills_what_is_empty_and_adds_engagement() -> None:
    store = MemoryLeadStore()
    send(store, crm("crm-1", {"company": "Acme", "country": "US"}))
    before = stored_state(store, CEO)
    send(store, form("f-1", {"job_title": "VP Marketing", "company": "Other", "phone": "+1 555"}))
    profile = store.lead_log(lead_key(CEO)).profile
    assert profile is not None
    assert profile.profile["job_title"] == "VP Marketing" and profile.profile["phone"] == "+1 555"
    assert profile.profile["company"] == "Acme"  # the CRM's stands
    assert profile.untrusted == {"job_title": "form", "phone": "form"}
    assert stored_state(store, CEO).score > before.score  # the fit and the form's points


def test_the_crm_overwrites_what_a_form_set_and_a_later_form_what_a_form_set() -> None:
    store = MemoryLeadStore()
    send(store, crm("crm-1", {"company": "Acme"}))
    send(store, form("f-1", {"job_title": "Engineer"}))
    send(store, form("f-2", {"job_title": "Senior Engineer"}, at=NOW + timedelta(minutes=1)))
    profile = store.lead_log(lead_key(CEO)).profile
    assert profile is not None and profile.profile["job_title"] == "Senior Engineer"
    send(store, crm("crm-2", {"job_title": "CTO"}, at=NOW + timedelta(hours=3)))
    profile = store.lead_log(lead_key(CEO)).profile
    assert profile is not None and profile.profile["job_title"] == "CTO"
    assert "job_title" not in profile.untrusted  # trusted now: a form cannot change it back
    send(store, form("f-3", {"job_title": "student"}, at=NOW + timedelta(hours=4)))
    assert "non_buyer" not in stored_state(store, CEO).flags


def test_a_value_the_public_filled_does_not_disqualify_a_known_lead() -> None:
    store = MemoryLeadStore()
    send(store, crm("crm-1", {"company": "Acme", "job_title": "CEO"}))  # no country
    send(store, form("f-1", {"country": "KP"}))
    state = stored_state(store, CEO)
    assert "out_of_area" not in state.flags  # filled, but it cannot disqualify


def test_a_lead_only_the_public_knows_is_judged_on_what_it_said() -> None:
    store = MemoryLeadStore()
    send(store, form("f-1", FORGED))
    state = stored_state(store, CEO)
    assert {"non_buyer", "out_of_area", "spam"} <= set(state.flags)


def test_untrusted_events_beyond_the_hourly_allowance_score_nothing() -> None:
    store = MemoryLeadStore()
    posts = [form(f"f-{n}", {}, at=NOW + timedelta(seconds=n), form=f"form-{n}") for n in range(25)]
    for post in posts:
        send(store, post, at=NOW + timedelta(seconds=int(post.id[2:])))
    capped = [
        p.id for p in posts if any(d.get("over_hourly_allowance") for d in history(store, p.id))
    ]
    assert capped == [f"f-{n}" for n in range(20, 25)]
    hour_later = NOW + timedelta(hours=1)
    send(store, form("f-next", {}, at=hour_later), at=hour_later)
    assert not any(d.get("over_hourly_allowance") for d in history(store, "f-next"))


def test_a_rescore_keeps_what_the_trust_rules_decided() -> None:
    store = MemoryLeadStore()
    send(store, crm("crm-1", VP))
    send(store, form("forged", FORGED))
    send(store, form("mash", {"company": "qwerty inc"}))
    for n in range(22):
        moment = NOW + timedelta(seconds=n)
        send(store, form(f"burst-{n}", {}, at=moment, form=f"b{n}"), at=moment)
    log = store.lead_log(lead_key(CEO))
    plan = rescore_replay.plan_lead(default_model(), log, NOW + timedelta(minutes=5), 0, False, 400)
    assert plan is not None
    stored = stored_state(store, CEO)
    assert (plan.after.score, plan.after.flags) == (stored.score, stored.flags)


def test_a_lead_known_only_by_its_events_is_not_flagged_by_a_form() -> None:
    """The user's systems sent its events (an email platform, /v1/events) but no field."""
    store = MemoryLeadStore()
    send(store, Event("w-1", "webinar_attended", NOW - timedelta(hours=2), source="sendgrid"))
    send(store, form("forged", FORGED))
    state = stored_state(store, CEO)
    assert not {"non_buyer", "out_of_area", "spam"} & set(state.flags)


def test_an_older_crm_value_still_replaces_what_a_form_set() -> None:
    store = MemoryLeadStore()
    send(store, form("f-1", {"job_title": "CEO", "country": "US"}))
    backfill = crm("crm-old", {"job_title": "Intern"}, at=NOW - timedelta(days=3))
    send(store, backfill)
    profile = store.lead_log(lead_key(CEO)).profile
    assert profile is not None and profile.profile["job_title"] == "Intern"
    assert profile.untrusted == {"country": "form"}


def test_a_post_that_passed_a_captcha_is_not_held_to_the_hourly_allowance() -> None:
    store = MemoryLeadStore()
    for n in range(20):  # junk in someone's name uses up the allowance
        moment = NOW + timedelta(seconds=n)
        send(store, form(f"junk-{n}", {}, at=moment, form=f"j{n}"), at=moment)
    later = NOW + timedelta(minutes=30)
    real = Event("real", "form_submit", later, None, {"form": "demo"}, {}, source="form-captcha")
    send(store, real, at=later)
    assert not any(d.get("over_hourly_allowance") for d in history(store, "real"))


def test_a_late_event_from_an_earlier_hour_does_not_reset_the_allowance() -> None:
    store = MemoryLeadStore()
    for n in range(20):
        moment = NOW + timedelta(seconds=n)
        send(store, form(f"f-{n}", {}, at=moment, form=f"b{n}"), at=moment)
    early = NOW - timedelta(hours=1)
    late = Event("late", "form_submit", early, None, {"form": "x"}, None, source="form")
    extra = form("extra", {}, at=NOW + timedelta(minutes=1), form="y")
    [body_late] = encode([(CEO, late)], early)  # received an hour ago, delivered only now
    [body_extra] = encode([(CEO, extra)], NOW + timedelta(minutes=1))
    score_messages(
        [("l", body_late), ("e", body_extra)], store, FixedModels(), Recorder(),
        clock=lambda: NOW + timedelta(minutes=1),
    )  # fmt: skip
    capped = {event_id for event_id in ("late", "extra") if any(
        d.get("over_hourly_allowance") for d in history(store, event_id))}  # fmt: skip
    assert capped == {"late", "extra"}


def test_each_field_keeps_the_source_of_its_value() -> None:
    store = MemoryLeadStore()
    send(store, crm("crm-1", {"company": "Acme"}))
    send(store, form("f-1", {"job_title": "Engineer", "phone": "+1 555 0100"}))
    segment = Event("s-1", "page_view", NOW, None, {"url": "/"}, {"country": "US"}, "segment")
    send(store, segment, at=NOW + timedelta(minutes=1))
    profile = store.lead_log(lead_key(CEO)).profile
    assert profile is not None
    assert profiles.field_sources(profile) == {
        "company": "your systems",
        "job_title": "form",
        "phone": "form",
        "country": "segment",
    }
    send(store, crm("crm-2", {"job_title": "CTO"}, at=NOW + timedelta(hours=3)))
    profile = store.lead_log(lead_key(CEO)).profile
    assert profile is not None and profiles.field_sources(profile)["job_title"] == "your systems"


def test_a_profile_stored_before_sources_tells_what_it_knows() -> None:
    store = MemoryLeadStore()
    send(store, crm("crm-1", {"company": "Acme"}))
    send(store, form("f-1", {"job_title": "Engineer"}))
    stored = store.lead_log(lead_key(CEO)).profile
    assert stored is not None
    before = replace(stored, field_sources={})  # as written before sources were kept
    assert profiles.field_sources(before) == {"job_title": "form"}  # company's is unknown
