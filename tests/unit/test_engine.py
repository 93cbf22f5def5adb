"""The scoring engine, rule kind by rule kind, and the seed examples of the issue."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.decay_curve import decay_factor
from leadscore.domain.state import MAX_RECENT_IDS, LeadState

from tests.unit.engine_helpers import (
    NOW,
    build,
    count,
    event,
    history_total,
    points,
    reasons_total,
    rules,
    run,
    shipped,
)

# ---------------------------------------------------------------- fit criteria


def fit_model(*criteria: dict[str, Any], field: str = "value", **category: Any) -> CompiledModel:
    """One fit category holding all the weight, so a criterion's points are the fit."""
    return build(
        fit={
            "categories": [
                {"name": "c", "weight": 100, "field": field, "criteria": list(criteria), **category}
            ]
        },
    )


def fit_of(model: CompiledModel, **profile: Any) -> float:
    return run(model, profile={"email": "lead@acme.com", **profile}).state.fit / 100


@pytest.mark.parametrize(
    ("test", "value", "matches"),
    [
        ({"equals": "Software"}, "  software ", True),
        ({"equals": "Software"}, "Softwares", False),
        ({"equals": 5}, "5.0", True),
        ({"in": ["US", "CA"]}, "us", True),
        ({"in": ["US", "CA"]}, "MX", False),
        ({"not_in": ["US", "CA"]}, "MX", True),
        ({"not_in": ["US", "CA"]}, None, False),  # a missing value is not "outside"
        ({"min": 200, "max": 5000}, 200, True),  # inclusive
        ({"min": 200, "max": 5000}, "5,000", True),
        ({"min": 200, "max": 5000}, 5001, False),
        ({"min": 200, "below": 1000}, 1000, False),  # exclusive
        ({"min": 200, "below": 1000}, "201-500", True),  # a range: its midpoint
        ({"min": 1000}, "1000+", True),
        ({"min": 1}, "many", False),
        ({"words": ["vp", "vice president"]}, "VP, Marketing", True),
        ({"words": ["vp", "vice president"]}, "Senior Vice President", True),
        ({"words": ["vp"]}, "MVP program lead", False),  # whole words only
        ({"regex": r"^head of (data|bi)"}, "Head of BI", True),
        ({"regex": r"^head of (data|bi)"}, "Head of Sales", False),
        ({"glob": "*@*.gov"}, "a@agency.gov", True),
        ({"exists": True}, "anything", True),
        ({"exists": True}, "   ", False),  # blank is missing
        ({"exists": False}, None, True),
        ({"exists": False}, "x", False),
    ],
)
def test_each_fit_test_kind(test: dict[str, Any], value: Any, matches: bool) -> None:
    model = fit_model({"name": "hit", "points": 100, **test})
    assert fit_of(model, value=value) == (100 if matches else 0)


def test_a_profiles_fit_is_remembered_but_never_confused() -> None:
    model = fit_model({"name": "one", "equals": 1, "points": 100})
    assert fit_of(model, value=1) == 100
    assert fit_of(model, value=True) == 0  # True == 1 in Python, not in a profile
    assert fit_of(model, value="1.0") == 100
    assert fit_of(model, value=2) == 0
    assert fit_of(model, value=1) == 100


@pytest.mark.parametrize(
    ("email", "listed"),
    [
        ("jo@gmail.com", {"personal"}),
        ("jo@mail.rivalsoft.com", {"competitors"}),  # sub-domains of a listed domain
        ("jo@cs.stanford.edu", {"education"}),
        ("jo@ox.ac.uk", {"education"}),
        ("jo@mailinator.com", {"disposable"}),
        ("jo@example-vendor.com", {"internal"}),
        ("jo@acme.com", set()),
    ],
)
def test_email_domain_lists(email: str, listed: set[str]) -> None:
    names = ["personal", "education", "disposable", "competitors", "internal"]
    model = build(
        domains={"competitors": ["RivalSoft.com"], "internal": ["@example-vendor.com"]},
        negative=[
            {"name": name, "field": "email", "domain_list": name, "points": -1, "flag": name}
            for name in names
        ],
    )
    state = run(model, profile={"email": email}).state
    assert set(state.flags) == listed


def test_first_matching_criterion_wins_and_weights_apply() -> None:
    model = build()  # role 60 %, size 40 %
    state = run(model, profile={"email": "a@acme.com", "job_title": "VP & manager"}).state
    assert state.fit == 6000  # executive (100 x 60 %), not manager
    assert points(state, "fit.role.executive") == 30  # half of the score is fit
    assert "fit.role.manager" not in state.reasons


def test_default_points_base_and_clamp() -> None:
    model = fit_model(
        {"name": "big", "min": 1000, "points": 100}, default_points=20, field="company_size"
    )
    assert fit_of(model, company_size=10) == 20
    state = run(model, profile={"email": "a@acme.com"}).state
    assert points(state, "fit.c.default") == 10
    model = build(fit={**build().model.fit.model_dump(by_alias=True), "base": 30})
    state = run(
        model, profile={"email": "a@acme.com", "job_title": "CEO", "company_size": 300}
    ).state
    assert state.fit == 10_000  # 30 + 60 + 40, clamped to 100
    assert points(state, "fit.clamp") == -15
    assert reasons_total(state) == state.score


def test_completion_bonus_counts_filled_fields() -> None:
    fit = build().model.fit.model_dump(by_alias=True)
    fit["completion_bonus"] = {"fields": ["phone", "website", "company_size"], "points": 3}
    model = build(fit=fit)
    state = run(model, profile={"email": "a@acme.com", "phone": "+1 555", "website": " "}).state
    assert state.fit == 300  # one filled field: blank does not count
    assert points(state, "fit.completion_bonus") == 1.5
    assert count(state, "fit.completion_bonus") == 1


@pytest.mark.parametrize(
    ("title", "size", "grade"),
    [
        ("CEO", 300, "A"),
        ("CEO", None, "B"),
        ("Manager", 300, "B"),
        ("Manager", None, "C"),
        (None, 10, "D"),
    ],
)
def test_grades(title: str | None, size: int | None, grade: str) -> None:
    # Thresholds A 75, B 50, C 25: CEO+mid 100, manager+mid 70, CEO 60, manager 30, small 16.
    profile = {"email": "a@acme.com", "job_title": title, "company_size": size}
    assert run(build(), profile=profile).state.grade == grade


def test_a_profile_change_moves_fit_and_is_explained() -> None:
    model = build()
    first = run(model, profile={"email": "a@acme.com", "job_title": "Manager"})
    second = run(model, state=first.state, profile={"email": "a@acme.com", "job_title": "CEO"})
    (delta,) = second.deltas
    assert delta.kind == "profile"
    assert delta.rules == {"fit.role.manager": -1500, "fit.role.executive": 3000}
    assert history_total(first, second) == second.state.score == 3000


# ---------------------------------------------------------------- engagement rules


def rule(name: str, kind: str | list[str], gives: float, **extra: Any) -> dict[str, Any]:
    """An engagement rule: `gives` points for an event of type `kind`."""
    return {"name": name, "event": kind, "points": gives, **extra}


def test_rules_on_event_type_and_properties() -> None:
    report = {"asset": {"in": ["bi-report"]}, "content_type": {"equals": "report"}}
    model = rules(
        rule("pricing", "page_view", 15, where={"url": {"glob": "*/pricing*"}}),
        rule("docs", "page_view", 4, where={"url": {"regex": "/docs/"}}),
        rule("report", "download", 8, where=report),
        rule("demo_form", "form_submit", 40, where={"form": {"equals": "demo-request"}}),
        rule("spring", ["email_click", "email_open"], 2, where={"campaign": {"equals": "spring"}}),
        rule("any_page", "page_view", 1),
    )
    result = run(
        model,
        [
            event("a", "page_view", url="https://x.io/pricing?plan=team"),
            event("b", "page_view", url="https://x.io/docs/setup"),
            event("c", "page_view", url="https://x.io/about"),
            event("d", "download", asset="bi-report", content_type="report"),
            event("e", "download", asset="bi-report", content_type="video"),
            event("f", "form_submit", form="demo-request"),
            event("g", "email_open", campaign="spring"),
            event("h", "email_click", campaign="autumn"),
            event("i", "custom_signal"),
        ],
    )
    by_event = {d.event_id: d for d in result.deltas if d.kind == "event"}
    assert {k: (d.rule, d.points) for k, d in by_event.items()} == {
        "a": ("engagement.pricing", 750),
        "b": ("engagement.docs", 200),
        "c": ("engagement.any_page", 50),
        "d": ("engagement.report", 400),
        "e": (None, 0),  # no rule: scores nothing
        "f": ("engagement.demo_form", 2000),
        "g": ("engagement.spring", 100),
        "h": (None, 0),
        "i": (None, 0),
    }
    assert result.state.engagement == 7000
    assert result.state.score == 3500


def test_negative_points_and_engagement_clamp() -> None:
    model = rules(
        {"name": "visit", "event": "page_view", "points": 10},
        {"name": "unsubscribe", "event": "email_unsubscribe", "points": -25},
    )
    result = run(model, [event("a", "page_view", 3), event("b", "email_unsubscribe", 2)])
    state = result.state
    assert state.engagement == 0 and state.score == 0
    assert points(state, "engagement.unsubscribe") == -12.5
    assert points(state, "engagement.clamp") == 7.5
    assert history_total(result) == reasons_total(state) == state.score == 0


def test_engagement_is_clamped_at_100() -> None:
    model = rules({"name": "demo", "event": "demo_request", "points": 70})
    state = run(model, [event("a", "demo_request", 2), event("b", "demo_request", 1)]).state
    assert state.engagement == 10_000
    assert points(state, "engagement.clamp") == -20
    assert state.level == 1


@pytest.mark.parametrize(("engaged", "level"), [(80, 1), (50, 2), (30, 3), (10, 4)])
def test_engagement_levels(engaged: int, level: int) -> None:
    model = rules({"name": "touch", "event": "meeting_booked", "points": engaged})
    assert run(model, [event("a", "meeting_booked")]).state.level == level


# ---------------------------------------------------------------- limits


def test_limit_ever_only_the_first_open_counts() -> None:
    model = rules(
        rule("open", "email_open", 2, limit={"count": 1, "per": "ever", "key": "campaign"})
    )
    result = run(
        model,
        [
            event("a", "email_open", 5, campaign="spring"),
            event("b", "email_open", 4, campaign="spring"),
            event("c", "email_open", 3, campaign="summer"),
        ],
    )
    by_event = {d.event_id: d for d in result.deltas}
    assert by_event["b"].points == 0
    assert by_event["b"].rule == "engagement.open" and by_event["b"].limited
    assert by_event["b"].to_dict()["limited"] is True
    assert not by_event["a"].limited and not by_event["c"].limited
    assert count(result.state, "engagement.open") == 2
    assert result.state.engagement == 400
    # A later call: still limited, and the history says why.
    later = run(model, [event("d", "email_open", 1, campaign="spring")], state=result.state)
    assert later.deltas[-1].limited and later.deltas[-1].points == 0


def test_limit_per_day_and_per_week() -> None:
    model = rules(
        {
            "name": "pricing",
            "event": "page_view",
            "points": 10,
            "limit": {"count": 2, "per": "day"},
        },
        {
            "name": "social",
            "event": "social_engagement",
            "points": 1,
            "limit": {"count": 1, "per": "week"},
        },
    )
    day = NOW.replace(hour=0) - timedelta(days=3)  # a Thursday, UTC
    events = [event(f"p{h}", "page_view", day + timedelta(hours=h)) for h in (1, 2, 3)]
    events.append(event("p-next", "page_view", day + timedelta(days=1, hours=1)))
    saturday = day + timedelta(days=2, hours=6)
    events += [event(f"s{d}", "social_engagement", saturday - timedelta(days=d)) for d in (0, 1, 8)]
    state = run(model, events).state
    assert count(state, "engagement.pricing") == 3  # two on the first day, one the next
    assert state.rule_points["engagement.pricing"] == 3000
    # Weeks run Monday to Sunday (UTC): Saturday and Friday share one, the Friday before not.
    assert count(state, "engagement.social") == 2


def test_a_late_earlier_event_displaces_a_later_one() -> None:
    model = rules(
        {"name": "demo", "event": "demo_request", "points": 40, "limit": {"count": 1}},
        recency=[{"within_days": 7, "weight": 1}],
        older_weight=0.5,
    )
    late = event("late", "demo_request", 2)  # counted at full weight
    early = event("early", "demo_request", 10)  # older: half weight, but it came first
    first = run(model, [late])
    assert first.state.rule_points["engagement.demo"] == 4000
    second = run(model, [early], state=first.state)
    (delta,) = second.deltas
    assert delta.rule == "engagement.demo" and not delta.limited
    assert delta.rules == {"engagement.demo": -1000}  # 20 replaces 40, in engagement points
    in_order = run(model, [early, late]).state
    assert second.state.rule_points == in_order.rule_points == {"engagement.demo": 2000}
    assert second.state.reasons == in_order.reasons
    assert second.state.limits == in_order.limits
    assert count(second.state, "engagement.demo") == 1
    assert history_total(first, second) == second.state.score
    # Now the later one, delivered again with a new id, is limited.
    again = run(model, [event("late-2", "demo_request", 2)], state=second.state)
    assert again.deltas[0].limited


def test_limit_windows_are_bounded() -> None:
    model = rules(
        {
            "name": "open",
            "event": "email_open",
            "points": 1,
            "limit": {"count": 1, "key": "campaign"},
        }
    )
    events = [event(f"e{i}", "email_open", 60 - i / 10, campaign=f"c{i}") for i in range(80)]
    state = run(model, events).state
    assert len(state.limits["engagement.open"]) == 50
    assert count(state, "engagement.open") == 80


# ---------------------------------------------------------------- group caps and recency


def test_group_cap_limits_the_group_and_is_a_reason() -> None:
    model = rules(
        rule("pricing", "page_view", 15, where={"url": {"regex": "pricing"}}, group="web"),
        {"name": "blog", "event": "page_view", "points": 5, "group": "web"},
        {"name": "demo", "event": "demo_request", "points": 40},
        groups={"web": {"cap": 30}},
    )
    events = [event(f"p{i}", "page_view", 1, url="/pricing") for i in range(3)]
    events += [event("b", "page_view", 1, url="/blog"), event("d", "demo_request", 1)]
    result = run(model, events)
    state = result.state
    assert state.engagement == 7000  # web 30 (of 50) + demo 40
    assert points(state, "engagement.cap.web") == -10
    assert points(state, "engagement.pricing") == 22.5
    assert history_total(result) == reasons_total(state) == state.score == 3500


def test_recency_weights_actions_reported_late() -> None:
    model = rules(
        {"name": "visit", "event": "page_view", "points": 20},
        recency=[{"within_days": 7, "weight": 1}, {"within_days": 30, "weight": 0.5}],
        older_weight=0.25,
    )
    state = run(
        model,
        [event("a", "page_view", 3), event("b", "page_view", 10), event("c", "page_view", 45)],
    ).state
    assert state.rule_points["engagement.visit"] == 2000 + 1000 + 500


# ---------------------------------------------------------------- negative criteria


def test_default_model_negative_criteria() -> None:
    model = shipped("default.yaml")
    student = run(
        model, profile={"email": "kim@gmail.com", "job_title": "Student", "country": "BR"}
    ).state
    assert {"personal_email", "non_buyer", "out_of_area"} <= set(student.flags)
    assert student.fit == 0 and points(student, "fit.clamp") > 0
    competitor = run(
        model,
        [event("d", "demo_request")],
        profile={"email": "spy@rivalsoft.com", "job_title": "CEO", "industry": "software"},
    )
    assert competitor.state.disqualified and "competitor" in competitor.state.flags
    assert competitor.state.score == 0
    assert points(competitor.state, "disqualified") < 0
    assert history_total(competitor) == reasons_total(competitor.state) == 0
    assert not competitor.transitions
    staff = run(model, profile={"email": "me@example-vendor.com", "job_title": "VP"}).state
    assert staff.disqualified and "internal" in staff.flags


def test_careers_page_visits_lower_engagement() -> None:
    model = shipped("default.yaml")
    state = run(
        model,
        [
            event("a", "page_view", url="https://x.io/careers/"),
            event("b", "page_view", url="https://x.io/pricing"),
        ],
    ).state
    assert points(state, "engagement.careers_page") == -5
    assert points(state, "engagement.pricing_page") == 7.5


def test_a_missing_country_is_not_outside_the_service_area() -> None:
    state = run(shipped("default.yaml"), profile={"email": "a@acme.com"}).state
    assert "out_of_area" not in state.flags


# ---------------------------------------------------------------- spam


def spam_model(**settings: Any) -> CompiledModel:
    return build(spam={"penalty": -50, **settings})


@pytest.mark.parametrize(
    ("profile", "spam"),
    [
        ({"first_name": "john", "last_name": "Smith"}, True),  # no capital letter
        ({"first_name": "John", "last_name": "Smith"}, False),
        ({"first_name": "Asdf", "last_name": "Smith"}, True),  # QWERTY
        ({"first_name": "John", "last_name": "Smith", "company": "Poiuy Ltd"}, True),  # backwards
        ({"first_name": "Qsdfg", "last_name": "Smith"}, True),  # AZERTY middle row
        ({"first_name": "John", "last_name": "Wxcvbn"}, True),  # AZERTY bottom row
        ({"first_name": "John", "last_name": "Smith", "company": "Liberty Property"}, False),
        ({"first_name": "Reza", "last_name": "Tehrani", "company": "Azerbaijan Konzert"}, False),
        ({"first_name": "李", "last_name": "雷"}, False),  # no capitals in the script
        ({"first_name": "John", "last_name": "Smith", "email": "x@mailinator.com"}, True),
        ({"first_name": "John", "last_name": "Smith", "email": "x@burner.example"}, True),
    ],
)
def test_spam_signals(profile: dict[str, Any], spam: bool) -> None:
    model = build(spam={"penalty": -50}, domains={"disposable": ["burner.example"]})
    state = run(model, profile={"email": "x@acme.com", "job_title": "CEO", **profile}).state
    assert ("spam" in state.flags) is spam
    assert points(state, "spam") == (-25 if spam else 0)


def test_spam_signals_can_be_turned_off_or_disqualify() -> None:
    profile = {"email": "x@mailinator.com", "first_name": "john", "job_title": "CEO"}
    off = spam_model(lowercase_names=False, keyboard_run=None, disposable_domains=False)
    assert "spam" not in run(off, profile=profile).state.flags
    assert "spam" not in run(build(spam=None), profile=profile).state.flags
    strict = run(spam_model(disqualify=True), [event("a", "page_view")], profile=profile).state
    assert strict.disqualified and strict.score == 0
    assert {"spam", "disqualified"} <= set(strict.flags)


# ---------------------------------------------------------------- decay


def decaying(**settings: Any) -> CompiledModel:
    return build(
        engagement={"rules": [{"name": "demo", "event": "demo_request", "points": 80}]},
        decay={"grace_days": 30, **settings},
    )


def active_lead(model: CompiledModel) -> LeadState:
    """Engagement 80 (score 40) from a demo request exactly at NOW."""
    return run(model, [event("a", "demo_request", NOW)]).state


def test_decay_by_percent_per_period_after_the_grace() -> None:
    model = decaying(period_days=7, percent=10)
    state = active_lead(model)
    assert engine.decay(model, state, NOW + timedelta(days=30)).deltas == []  # still in grace
    result = engine.decay(model, state, NOW + timedelta(days=30 + 14))
    assert result.state.engagement == 6480  # 80 x 0.9 x 0.9
    (delta,) = result.deltas
    assert delta.kind == "decay" and delta.rules == {"decay": -760}
    assert decay_factor(model, (30 + 20) * 86_400) == pytest.approx(0.81)


def test_decay_by_half_life_and_floor() -> None:
    model = decaying(half_life_days=10, floor=30)
    state = active_lead(model)
    half = engine.decay(model, state, NOW + timedelta(days=40)).state
    assert half.engagement == 4000
    floor = engine.decay(model, half, NOW + timedelta(days=400)).state
    assert floor.engagement == 3000  # never below the floor
    assert engine.next_decay_at(model, floor) is None


def test_decay_is_idempotent_for_a_given_now() -> None:
    model = decaying(period_days=7, percent=10)
    later = NOW + timedelta(days=60)
    once = engine.decay(model, active_lead(model), later)
    twice = engine.decay(model, once.state, later)
    assert twice.deltas == [] and twice.state == once.state
    earlier = engine.decay(model, once.state, NOW + timedelta(days=40))
    assert earlier.deltas == [] and earlier.state == once.state


def test_decay_is_by_inactivity_and_activity_makes_it_permanent() -> None:
    model = decaying(period_days=7, percent=50)
    first = run(model, [event("a", "demo_request", NOW)])
    decayed = engine.decay(model, first.state, NOW + timedelta(days=37))  # one period: 80 -> 40
    assert decayed.state.engagement == 4000
    back = NOW + timedelta(days=38)
    # The model's demo counts once per id; a new visit is new activity.
    returned = run(model, [event("b", "demo_request", back)], state=decayed.state, now=back)
    assert returned.state.last_activity_at == engine.epoch(back)
    assert returned.state.engagement == 10_000  # 80 - 40 + 80, clamped
    assert points(returned.state, "decay") == -20  # the loss stays, explained
    assert points(returned.state, "engagement.clamp") == -10
    assert (
        engine.decay(model, returned.state, back + timedelta(days=29)).deltas == []
    )  # grace again
    assert history_total(first, decayed, returned) == returned.state.score


def test_old_events_do_not_decay_an_active_lead() -> None:
    # Inactivity, not age: an action long ago does not decay while the lead stays active.
    model = decaying(period_days=7, percent=50)
    state = run(model, [event("old", "demo_request", 200), event("new", "demo_request", 1)]).state
    assert engine.decay(model, state, NOW).deltas == []


def test_decay_respects_group_caps() -> None:
    model = build(
        engagement={
            "rules": [{"name": "visit", "event": "page_view", "points": 20, "group": "web"}],
            "groups": {"web": {"cap": 30}},
        },
        decay={"grace_days": 0, "half_life_days": 10},
    )
    active = run(model, [event(f"v{i}", "page_view", NOW) for i in range(3)])
    assert active.state.engagement == 3000
    result = engine.decay(model, active.state, NOW + timedelta(days=10))
    assert result.state.engagement == 1500  # half of the capped 30, not of 60
    assert history_total(active, result) == reasons_total(result.state) == result.state.score


def test_next_decay_at() -> None:
    percent = decaying(period_days=7, percent=10)
    state = active_lead(percent)
    start = engine.epoch(NOW) + 30 * 86_400
    assert engine.next_decay_at(percent, state) == start + 7 * 86_400
    after = engine.decay(percent, state, NOW + timedelta(days=30 + 15)).state
    assert engine.next_decay_at(percent, after) == start + 3 * 7 * 86_400
    half_life = decaying(half_life_days=10)
    state = active_lead(half_life)
    assert engine.next_decay_at(half_life, state) == start + 86_400
    after = engine.decay(half_life, state, NOW + timedelta(days=40)).state
    assert engine.next_decay_at(half_life, after) == start + 11 * 86_400
    assert engine.next_decay_at(build(), state) is None  # no decay in the model


# ---------------------------------------------------------------- transitions and SLA


def thresholds_model() -> CompiledModel:
    return build(
        engagement={
            "rules": [
                {"name": "demo", "event": "demo_request", "points": 60},
                {"name": "visit", "event": "page_view", "points": 10},
                {"name": "unsubscribe", "event": "email_unsubscribe", "points": -30},
            ]
        },
        thresholds={"mql": 60, "reset": 45},
    )


CEO = {"email": "ceo@acme.com", "job_title": "CEO", "company_size": 300}  # fit 100: 50 points


def test_mql_once_then_cooled_below_reset_then_mql_again() -> None:
    model = thresholds_model()
    low = run(model, [event("v1", "page_view", 5)], profile=CEO)  # 50 + 5
    assert low.state.status == "open" and not low.transitions
    mql = run(model, [event("v2", "page_view", 4)], profile=CEO, state=low.state)  # 60
    assert [t.kind for t in mql.transitions] == ["mql"]
    assert mql.state.status == "mql" and mql.state.mql_since == engine.epoch(NOW)
    higher = run(model, [event("d", "demo_request", 3)], profile=CEO, state=mql.state)
    assert not higher.transitions  # no repeat while it stays above the reset level
    dip = run(model, [event("u", "email_unsubscribe", 2)], profile=CEO, state=higher.state)
    assert dip.state.score == 7500 and not dip.transitions
    cooled = run(
        model,
        [event("u2", "email_unsubscribe", 1)],
        profile={"email": "x@acme.com"},
        state=dip.state,
    )
    assert [t.kind for t in cooled.transitions] == ["cooled"]
    assert cooled.state.status == "open" and cooled.state.sla_due_at is None
    again = run(model, [], profile=CEO, state=cooled.state)
    assert [t.kind for t in again.transitions] == ["mql"]


def test_decay_can_cool_an_mql() -> None:
    model = build(
        engagement={"rules": [{"name": "demo", "event": "demo_request", "points": 100}]},
        decay={"grace_days": 10, "half_life_days": 5},
    )
    manager = {"email": "m@acme.com", "job_title": "Manager", "company_size": 300}  # fit 70
    mql = run(model, [event("d", "demo_request", NOW)], profile=manager)
    assert mql.state.status == "mql"
    cooled = engine.decay(model, mql.state, NOW + timedelta(days=30))  # 100 -> 6.25
    assert [t.kind for t in cooled.transitions] == ["cooled"]


@pytest.mark.parametrize(
    ("profile", "rating", "hours"),
    [
        (CEO, "A1", 24),
        ({"email": "m@acme.com", "job_title": "Manager", "company_size": 300}, "B1", 24),
        ({"email": "c@acme.com", "job_title": "Manager"}, "C1", None),  # no SLA for C ratings
    ],
)
def test_sla_from_the_rating(profile: dict[str, Any], rating: str, hours: int | None) -> None:
    model = rules({"name": "meeting", "event": "meeting_booked", "points": 100})
    model = build(
        engagement=model.model.engagement.model_dump(by_alias=True),
        thresholds={"mql": 30, "reset": 10},
    )
    state = run(model, [event("m", "meeting_booked")], profile=profile).state
    assert state.rating == rating and state.status == "mql"
    expected = None if hours is None else engine.epoch(NOW) + hours * 3600
    assert state.sla_due_at == expected


def test_default_sla_hours() -> None:
    sla = shipped("default.yaml").model.sla_hours
    assert sla == {"A1": 24, "B1": 24, "A2": 48, "A3": 48, "B2": 48, "B3": 48}


# ---------------------------------------------------------------- scope, duplicates, state


def test_product_scope() -> None:
    model = build(
        scope={"products": ["Analytics"]},
        engagement={"rules": [{"name": "visit", "event": "page_view", "points": 10}]},
    )
    result = run(
        model,
        [
            event("a", "page_view", product="analytics"),
            event("b", "page_view", product="crm"),
            event("c", "page_view"),
        ],
    )
    assert result.out_of_scope == ["b"]
    assert count(result.state, "engagement.visit") == 2
    strict = build(scope={"products": ["analytics"], "include_unscoped": False})
    assert run(strict, [event("c", "page_view")]).out_of_scope == ["c"]


def test_duplicates_change_nothing_within_and_across_calls() -> None:
    model = rules({"name": "visit", "event": "page_view", "points": 10})
    first = run(
        model, [event("a", "page_view"), event("a", "page_view"), event("b", "page_view", 2)]
    )
    assert first.duplicates == ["a"]
    second = run(model, [event("b", "page_view", 2)], state=first.state)
    assert second.duplicates == ["b"] and second.deltas == []
    assert second.state == first.state


def test_the_recent_id_window_is_bounded() -> None:
    model = rules({"name": "visit", "event": "page_view", "points": 0})
    events = [event(f"e{i}", "page_view", i / 100) for i in range(MAX_RECENT_IDS + 30)]
    assert len(run(model, events).state.recent_ids) == MAX_RECENT_IDS


def test_the_callers_state_is_never_changed() -> None:
    model = shipped("default.yaml")
    first = run(model, [event("a", "email_open", campaign="x")])
    snapshot = first.state.to_dict()
    run(model, [event("b", "page_view", url="/pricing")], state=first.state)
    assert first.state.to_dict() == snapshot


def test_a_copy_of_the_state_is_equal_and_independent() -> None:
    model = shipped("default.yaml")
    events = [event("a", "page_view", 3, url="/pricing"), event("b", "email_open", campaign="c")]
    state = run(model, events, profile=CEO).state
    state.decay_factor, state.decay_kept, state.sla_breached = 0.5, -300, True
    copy = state.copy()
    assert copy == state
    copy.limits["engagement.pricing_page"].clear()
    copy.reasons["engagement.pricing_page"][0] = 0
    assert state.limits["engagement.pricing_page"] and points(state, "engagement.pricing_page")


def test_state_survives_storage_as_decimals() -> None:
    """DynamoDB hands numbers back as Decimal: the state must read back the same."""
    model = shipped("default.yaml")
    events = [event("a", "page_view", 3, url="/pricing"), event("b", "email_open", 2, campaign="c")]
    state = run(model, events).state

    def as_stored(value: Any) -> Any:
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float):
            return Decimal(str(value))
        if isinstance(value, dict):
            return {k: as_stored(v) for k, v in value.items()}
        return [as_stored(v) for v in value]

    restored = LeadState.from_dict(as_stored(state.to_dict()))
    assert restored == state
    later = [event("c", "page_view", 1, url="/pricing")]
    assert run(model, later, state=restored).state == run(model, later, state=state).state


def test_summary_and_reasons() -> None:
    model = shipped("default.yaml")
    state = run(model, [event("a", "demo_request")], profile=CEO).state
    summary = engine.summary(model, state)
    assert summary["model"] == "default" and summary["rating"] == state.rating
    assert summary["score"] == state.score / 100
    assert sum(r["points"] for r in summary["reasons"]) == pytest.approx(summary["score"])
    effects = [abs(r["points"]) for r in summary["reasons"]]
    assert effects == sorted(effects, reverse=True)


# ---------------------------------------------------------------- seed examples


def test_seed_pricing_and_demo_pages_weigh_far_more_than_a_blog_post() -> None:
    model = shipped("default.yaml")
    blog = run(model, [event("a", "page_view", url="https://www.example.com/blog/10-tips")]).state
    pricing = run(model, [event("a", "page_view", url="https://www.example.com/pricing")]).state
    demo = run(model, [event("a", "page_view", url="https://www.example.com/demo")]).state
    assert pricing.engagement >= 10 * blog.engagement
    assert demo.engagement >= 5 * blog.engagement
    assert blog.engagement > 0


def test_seed_a_click_weighs_more_than_an_open() -> None:
    model = shipped("default.yaml")
    opened = run(model, [event("a", "email_open", campaign="oct")]).state
    clicked = run(model, [event("a", "email_click", campaign="oct")]).state
    assert clicked.engagement > opened.engagement > 0


@pytest.mark.parametrize(
    "student",
    [
        {"email": "kim.lee@gmail.com"},
        {
            "email": "kim.lee@gmail.com",
            "first_name": "Kim",
            "last_name": "Lee",
            "job_title": "Student",
        },
        {
            "email": "kim@gmail.com",
            "job_title": "Student",
            "company_size": "1",
            "country": "US",
            "phone": "1",
        },
    ],
)
def test_seed_a_demo_request_alone_does_not_make_a_gmail_student_an_mql(
    student: dict[str, Any],
) -> None:
    for name in ("default.yaml", "analytics.yaml"):
        model = shipped(name)
        for demo in ("demo_request", "form_submit"):
            result = run(model, [event("d", demo, form="demo-request")], profile=student)
            assert result.state.status == "open", (name, demo, result.state.score)
            assert not result.transitions


VP = {
    "email": "dana.reyes@northwind.io",
    "first_name": "Dana",
    "last_name": "Reyes",
    "company": "Northwind",
    "job_title": "VP of Marketing",
    "industry": "Software",
}


def test_seed_a_vp_at_a_target_industry_company_who_visits_pricing_twice_and_requests_a_demo() -> (
    None
):
    model = shipped("default.yaml")
    events = [
        event("p1", "page_view", 3, url="https://www.example.com/pricing"),
        event("p2", "page_view", 2, url="https://www.example.com/pricing?plan=team"),
        event("d", "demo_request", 1, form="demo-request"),
    ]
    result = run(model, events, profile=VP)
    assert [t.kind for t in result.transitions] == ["mql"]
    assert result.state.status == "mql" and result.state.score >= 6000
    # ...and not without the demo request or without the visits.
    assert run(model, events[:2], profile=VP).state.status == "open"
    assert run(model, events[2:], profile=VP).state.status == "open"
    assert history_total(result) == result.state.score


def test_seed_two_models_score_the_same_lead_differently() -> None:
    data_lead = {
        **VP,
        "job_title": "Head of Data",
        "company_size": 1500,
        "data_warehouse": "Snowflake",
    }
    events = [
        event(
            "a", "page_view", 3, product="analytics", url="https://x.io/docs/integrations/snowflake"
        ),
        event("b", "webinar_attended", 2, product="crm", webinar="crm-101", topic="CRM"),
        event("c", "page_view", 1, url="https://x.io/pricing"),
    ]
    default = run(shipped("default.yaml"), events, profile=data_lead)
    analytics = run(shipped("analytics.yaml"), events, profile=data_lead)
    assert analytics.out_of_scope == ["b"] and default.out_of_scope == []
    assert "engagement.webinar_attended" in default.state.reasons
    assert "engagement.integration_docs" in analytics.state.reasons
    assert default.state.score != analytics.state.score
    assert default.state.rating != analytics.state.rating
