"""Account roll-up: the math, hysteresis, contributions adding up, and the model section."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from leadscore.domain import accounts, engine
from leadscore.domain.accounts import Person, roll_up
from leadscore.domain.compiled import compile_model
from leadscore.domain.events import Event
from leadscore.domain.model import ModelError, parse_model
from leadscore.domain.model_account import Account
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
CONFIG = Account()  # fit 25, engagement 35, people 25, roles 15; cap 50, full 150


def person(key: str, fit: float, engagement: float, role: str | None = None,
           counted: bool = True) -> Person:  # fmt: skip
    return Person(key, round(fit * 100), round(engagement * 100), 0, role, counted)


def people(*members: Person) -> dict[str, Person]:
    return {p.key: p for p in members}


def test_parts_follow_the_documented_formula() -> None:
    result = roll_up(
        CONFIG,
        people(
            person("a", 80, 60, "manager"),  # capped at 50
            person("b", 40, 30, "director"),
            person("c", 90, 10, "executive"),  # below engaged_min: fit only
        ),
    )
    assert result.fit == 9000  # the best fit, whoever has it
    assert result.parts["fit"] == 2250
    assert result.engagement == round((5000 + 3000 + 1000) * 10000 / 15000)  # 60 %
    assert result.parts["engagement"] == round(6000 * 35 / 100)
    assert result.engaged_people == 2
    assert result.parts["people"] == round(2 * 10000 / 3 * 25 / 100)
    assert result.roles == ["manager", "director"]
    assert result.parts["roles"] == round(2 * 10000 / 3 * 15 / 100)
    assert result.score == sum(result.parts.values())
    by_key = {c.key: c for c in result.contributions}
    assert by_key["c"].parts["fit"] == 2250 and by_key["a"].parts["fit"] == 0
    assert by_key["a"].parts["engagement"] > by_key["b"].parts["engagement"]
    assert by_key["c"].parts["people"] == 0 and not by_key["c"].engaged


def test_contributions_add_up_to_the_score() -> None:
    result = roll_up(CONFIG, people(*(person(f"p{n}", 33.33, 17.77 + n, "r") for n in range(7))))
    assert sum(c.points for c in result.contributions) == result.score
    for part, points in result.parts.items():
        assert sum(c.parts[part] for c in result.contributions) == points


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10_000),
            st.integers(0, 10_000),
            st.sampled_from([None, "a", "b", "c", "d"]),
            st.booleans(),
        ),
        max_size=30,
    ),
    st.sampled_from([(25, 35, 25, 15), (33.33, 33.33, 33.34, 0), (100, 0, 0, 0), (0, 0, 50, 50)]),
)
def test_property_contributions_always_add_up(
    members: list[tuple[int, int, str | None, bool]], weights: tuple[float, ...]
) -> None:
    fit, engagement, breadth, roles = weights
    config = Account.model_validate(
        {"weights": {"fit": fit, "engagement": engagement, "people": breadth, "roles": roles}}
    )
    result = roll_up(
        config,
        {f"k{n}": Person(f"k{n}", f, e, 0, r, c) for n, (f, e, r, c) in enumerate(members)},
    )
    assert 0 <= result.score <= 10_000
    assert sum(c.points for c in result.contributions) == result.score
    assert all(c.points >= 0 for c in result.contributions)
    assert all(c.points == 0 for c in result.contributions if not c.person.counted)


def test_people_not_counted_add_nothing() -> None:
    intern = person("intern", 70, 90, None, counted=False)
    result = roll_up(CONFIG, people(intern))
    assert result.score == 0 and result.engaged_people == 0


def test_mqa_and_cooled_with_hysteresis() -> None:
    strong = people(*(person(f"m{n}", 80, 50, f"r{n}") for n in range(3)))
    first = roll_up(CONFIG, strong, "open", None, 100)
    assert first.status == "mqa" and first.transition == "mqa" and first.mqa_since == 100
    again = roll_up(CONFIG, strong, "mqa", 100, 200)
    assert again.transition is None and again.mqa_since == 100
    # Between reset (45) and mqa (60): an MQA stays one, an open account stays open.
    middle = people(person("m0", 80, 40, "r0"), person("m1", 80, 30, "r0"))
    assert 4500 <= roll_up(CONFIG, middle).score < 6000
    assert roll_up(CONFIG, middle, "mqa", 100, 300).transition is None
    assert roll_up(CONFIG, middle, "open", None, 300).status == "open"
    cold = roll_up(CONFIG, people(person("m0", 80, 10, "r0")), "mqa", 100, 400)
    assert cold.status == "open" and cold.transition == "cooled" and cold.mqa_since is None


def test_rating_is_grade_and_level() -> None:
    result = roll_up(CONFIG, people(person("a", 80, 50, "x"), person("b", 60, 50, "y")))
    assert result.grade == "A"
    assert result.engagement == round(10000 * 100 / 150)  # 66.67 -> level 2
    assert result.rating == "A2"


def test_keep_bounds_the_people_by_strength() -> None:
    config = Account(max_people=3)
    crowd = [Person(f"p{n}", 5000, 1000 * n, 100 * n) for n in range(6)]
    crowd.append(Person("ignored", 9000, 9000, 9999, None, False))
    kept = accounts.keep(config, crowd)
    assert sorted(kept) == ["p3", "p4", "p5"]


def _lead(model: Any, profile: dict[str, Any], kinds: list[str]) -> Any:
    events = [
        Event(f"e{n}", kind, NOW - timedelta(hours=n), None, properties)
        for n, (kind, properties) in enumerate(
            (k, {"url": "https://v.example/pricing"} if k == "page_view" else {}) for k in kinds
        )
    ]
    return engine.score(model, None, profile, events, NOW).state


TARGET = {"industry": "Software", "company_size": "201-500", "country": "US"}


def test_default_model_one_intern_is_no_signal_three_managers_are() -> None:
    model = compile_model(load_model(ROOT / "models" / "default.yaml"))
    config = model.model.account
    assert config is not None
    busy = ["demo_request", "page_view", "page_view"]
    intern = _lead(model, {**TARGET, "email": "i@acme.example", "job_title": "Intern"}, busy)
    alone = roll_up(config, {"i": accounts.person_from_state(config, "i", intern)})
    assert alone.score == 0 and alone.status == "open"

    managers = {
        f"m{n}": accounts.person_from_state(
            config,
            f"m{n}",
            _lead(model, {**TARGET, "email": f"m{n}@acme.example", "job_title": title}, busy),
        )
        for n, title in enumerate(["Marketing Manager", "IT Manager", "Sales Manager"])
    }
    assert {p.role for p in managers.values()} == {"manager"}
    three = roll_up(config, managers)
    assert three.status == "mqa", three.parts
    one = roll_up(config, {"m0": managers["m0"]})
    assert one.status == "open", one.parts  # one person alone is not an account signal


def test_model_section_problems_have_paths() -> None:
    document = load_model(ROOT / "models" / "default.yaml").model_dump(
        by_alias=True, exclude_none=True
    )
    document["account"] = {
        "weights": {"fit": 50},
        "thresholds": {"mqa": 40, "reset": 50},
        "people_full": 0,
        "engagement_cap": -1,
    }
    with pytest.raises(ModelError) as caught:
        parse_model(document)
    paths = {p["path"] for p in caught.value.problems}
    assert {
        "account.weights",
        "account.thresholds.reset",
        "account.people_full",
        "account.engagement_cap",
    } <= paths
    document["account"] = {"role_category": "seniority"}
    with pytest.raises(ModelError) as caught:
        parse_model(document)
    assert [p["path"] for p in caught.value.problems] == ["account.role_category"]


def test_a_model_without_account_section_is_valid() -> None:
    document = load_model(ROOT / "models" / "default.yaml").model_dump(
        by_alias=True, exclude_none=True
    )
    document.pop("account")
    assert parse_model(document).account is None


def test_account_notification_shape_and_slack_blocks() -> None:
    from leadscore.adapters.slack import blocks
    from leadscore.domain.notifications import account_notification

    result = roll_up(CONFIG, people(*(person(f"m{n}", 80, 50, f"r{n}") for n in range(3))))
    scores = accounts.summary(result, "default", 3)
    shown = [
        {"email": f"m{n}@acme.example", "name": f"<!channel> M{n}", "job_title": "Manager",
         "company": "Acme", **{k: v for k, v in p.items() if k != "key"}}
        for n, p in enumerate(scores["people"])
    ]  # fmt: skip
    notification = account_notification("account.mqa", "n1", "acme.example", scores, shown)
    document = notification.document
    assert {"kind", "email", "name", "company", "model", "score", "fit", "engagement",
            "grade", "engagement_level", "rating", "reasons", "sla_due_at", "account",
            "people"} <= set(document)  # fmt: skip
    assert round(sum(r["points"] for r in document["reasons"]) * 100) == result.score
    assert notification.attributes["kind"] == "account.mqa"
    assert notification.subject.startswith("New MQA: A") and len(notification.subject) <= 100
    message = blocks(document)
    text = json.dumps(message)
    assert "New MQA" in text and "*People*" in text and "M0" in text
    assert "<!channel>" not in text  # user data cannot ping the channel
    cooled = account_notification("account.cooled", "n2", "acme.example", scores, shown)
    assert json.dumps(blocks(cooled.document)).count("Account cooled") >= 1
