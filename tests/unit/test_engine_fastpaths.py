"""The engine's shortcuts (inline loop, memos, integer times) give the answers the long way does."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel

from tests.unit.engine_helpers import NOW, build, event, points, rules, run, shipped


@pytest.mark.parametrize(
    "moment",
    [
        NOW,
        NOW + timedelta(microseconds=999_999),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),  # -0.5 s: toward zero
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(1901, 3, 4, 5, 6, 7, 1, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, 15, 250, tzinfo=timezone(timedelta(hours=-7))),
        datetime(2026, 11, 1, 12, 0, 0),  # naive: local time, as datetime.timestamp reads it
    ],
)
def test_epoch_is_the_whole_seconds_of_timestamp(moment: datetime) -> None:
    assert engine.epoch(moment) == int(moment.timestamp())


def test_the_event_digest_keeps_its_stored_format() -> None:
    # Recent ids and limit windows already stored hold these: a change would count events twice.
    for event_id in ("evt-1", "h-" + "0" * 32, "é-unicode", ""):
        expected = hashlib.blake2b(event_id.encode(), digest_size=6).hexdigest()
        assert engine.digest(event_id) == expected


def assert_explained(result: engine.Result) -> None:
    """Each delta lists exactly the reasons it moved, none of them by 0."""
    for delta in result.deltas:
        assert delta.points == sum(delta.rules.values()), delta
        assert all(delta.rules.values()), delta


def test_an_event_that_moves_nothing_keeps_an_empty_explanation() -> None:
    # 0.01 points: counted, but its rule's share of the score rounds to nothing.
    model = rules(
        {"name": "tiny", "event": "social_engagement", "points": 0.01},
        {"name": "visit", "event": "page_view", "points": 10},
    )
    result = run(model, [event("e1", "social_engagement", 3), event("e2", "page_view", 2)])
    assert_explained(result)
    tiny, visit = result.deltas[-2:]
    assert (tiny.rule, tiny.points, tiny.rules) == ("engagement.tiny", 0, {})
    assert visit.rules == {"engagement.visit": visit.points} and visit.points > 0
    assert result.state.reasons["engagement.tiny"] == [0, 1]  # counted, worth 0


def test_rules_on_non_text_property_values_are_not_confused_with_text() -> None:
    model = rules(
        {"name": "five", "event": "form_submit", "where": {"form": {"in": [5]}}, "points": 7},
        {"name": "other", "event": "form_submit", "points": 1},
    )
    for _ in range(2):  # the second time from the memo
        kinds = {
            repr(form): run(model, [event("e1", "form_submit", 1, form=form)]).deltas[-1].rule
            for form in (5, "5", 5.0, "5.0", 6, None, "five")
        }
        assert kinds == {
            "5": "engagement.five",
            "'5'": "engagement.five",
            "5.0": "engagement.five",
            "'5.0'": "engagement.five",
            "6": "engagement.other",
            "None": "engagement.other",
            "'five'": "engagement.other",
        }


def test_rules_on_two_properties_are_remembered_per_pair() -> None:
    model = rules(
        {
            "name": "eu_pricing",
            "event": "page_view",
            "where": {"url": {"regex": "/pricing"}, "region": {"equals": "eu"}},
            "points": 5,
        },
        {"name": "visit", "event": "page_view", "points": 1},
    )
    pairs = [("/pricing", "eu"), ("/pricing", "us"), ("/blog", "eu"), ("/pricing", None)] * 2
    matched = [
        run(model, [event("e1", "page_view", 1, url=url, region=region)]).deltas[-1].rule
        for url, region in pairs
    ]
    assert matched == ["engagement.eu_pricing", *["engagement.visit"] * 3] * 2


def negative_model(**test: Any) -> CompiledModel:
    return build(
        negative=[{"name": "rival", "field": "email", "points": -50, "flag": "rival", **test}],
        domains={"competitors": ["rivalsoft.com"]},
    )


@pytest.mark.parametrize(
    ("email", "flagged"),
    [
        ("ann@rivalsoft.com", True),
        ("bob@RivalSoft.com", True),
        ("carl@mail.rivalsoft.com", True),  # a parent domain is listed
        ("dana@acme.com", False),
        ("   ", False),
        ("", False),
        (None, False),
        (12, False),
        (["ann@rivalsoft.com"], False),  # not an address
    ],
)
def test_negative_criteria_on_an_email_domain(email: Any, flagged: bool) -> None:
    model = negative_model(domain_list="competitors")
    for _ in range(2):  # the second time from the memo
        state = run(model, profile={"email": email}).state
        assert ("rival" in state.flags) is flagged
        assert points(state, "negative.rival") == (-25 if flagged else 0)


def test_a_domain_list_with_another_test_applies_both() -> None:
    model = negative_model(domain_list="competitors", regex="^ann@")
    flags = [
        "rival" in run(model, profile={"email": email}).state.flags
        for email in ("ann@rivalsoft.com", "bob@rivalsoft.com", "ann@acme.com")
    ]
    assert flags == [True, False, False]


def test_negative_criteria_remembered_per_value_keep_case_and_type_apart() -> None:
    model = build(
        negative=[
            {"name": "student", "field": "job_title", "words": ["student"], "points": -30},
            {"name": "tiny", "field": "company_size", "max": 5, "points": -10},
        ]
    )
    for _ in range(2):
        assert "student" in run(model, profile={"job_title": "PhD Student"}).state.flags
        assert "student" not in run(model, profile={"job_title": "Studentin"}).state.flags
        assert "tiny" in run(model, profile={"company_size": 5}).state.flags
        assert "tiny" in run(model, profile={"company_size": "5"}).state.flags
        assert "tiny" not in run(model, profile={"company_size": "6"}).state.flags
        assert "tiny" not in run(model, profile={"company_size": True}).state.flags


def test_a_group_cap_follows_its_total_down_as_well_as_up() -> None:
    model = rules(
        {"name": "pricing", "event": "page_view", "points": 30, "group": "web"},
        {"name": "careers", "event": "email_open", "points": -25, "group": "web"},
        groups={"web": {"cap": 40}},
    )
    result = run(
        model,
        [
            event("e1", "page_view", 5),  # 30
            event("e2", "page_view", 4),  # 60: capped at 40
            event("e3", "email_open", 3),  # 35: under the cap again
            event("e4", "email_open", 2),  # 10
        ],
    )
    assert_explained(result)
    caps = [delta.rules.get("engagement.cap.web", 0) / 100 for delta in result.deltas[-4:]]
    assert caps == [0, -10, 10, 0]
    assert "engagement.cap.web" not in result.state.reasons
    assert result.state.engagement == 1000


def test_one_call_equals_one_call_per_event_on_the_default_model() -> None:
    """The inline loop over many events gives what one call per event gives."""
    default = shipped("default.yaml")
    urls = ["/pricing", "/blog/x", "/careers", "/product/a", "/", "/demo"]
    events = [
        event(
            f"e{n}", kind, n % 9 + 0.5, url=f"https://x.example{urls[n % 6]}", campaign=f"c{n % 3}"
        )
        for n, kind in enumerate(["page_view", "email_open", "email_click", "page_view"] * 6)
    ]
    profile = {"email": "vp@acme.com", "job_title": "VP Sales", "industry": "saas"}
    together = engine.score(default, None, profile, events, NOW)
    state = None
    for one in sorted(events, key=lambda e: (e.occurred_at, e.id)):
        state = engine.score(default, state, profile, [one], NOW).state
    assert state is not None
    assert_explained(together)
    assert together.state.score == state.score
    assert together.state.reasons == state.reasons
