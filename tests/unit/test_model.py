"""Scoring-model validation: every problem is listed at once, each with its path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from leadscore.domain.compiled import compile_model
from leadscore.domain.model import ModelError, parse_model
from leadscore_tools.modelfiles import load_model

from tests.unit.engine_helpers import MODELS, document


def problems(model: Any) -> dict[str, str]:
    """path -> message of every problem of a model document."""
    with pytest.raises(ModelError) as caught:
        parse_model(model)
    found = {p["path"]: p["message"] for p in caught.value.problems}
    assert len(found) == len(caught.value.problems), "one entry per path"
    return found


def shipped_document(name: str = "default.yaml") -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((MODELS / name).read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("name", sorted(p.name for p in MODELS.glob("*.yaml")))
def test_every_shipped_model_is_valid(name: str) -> None:
    model = load_model(MODELS / name)
    assert compile_model(model).id == model.id == Path(name).stem


def test_the_analytics_model_is_scoped_to_its_product_line() -> None:
    model = load_model(MODELS / "analytics.yaml")
    assert model.scope is not None and model.scope.products == ["analytics"]


def test_every_problem_is_listed_at_once_with_its_path() -> None:
    model = shipped_document()
    fit = model["fit"]["categories"]
    fit[0]["criteria"][1]["name"] = "executive"
    fit[1]["name"] = "role"
    fit[2]["weight"] = 0
    fit[3]["criteria"][0]["regex"] = "(unclosed"
    model["fit"]["grades"] = {"A": 40, "B": 50, "C": 25}
    rules = model["engagement"]["rules"]
    rules[1]["name"] = "demo_request"
    rules[2]["points"] = 5000
    rules[3]["group"] = "social"
    model["engagement"]["recency"][2]["within_days"] = 3
    model["negative"][1]["name"] = "competitor"
    model["negative"][2]["points"] = 10
    model["thresholds"] = {"mql": 40, "reset": 50}
    model["sla_hours"]["Z9"] = 4
    model["spam"]["colour"] = "red"
    assert problems(model) == {
        "fit.categories[0].criteria[1].name": "name 'executive' is used twice",
        "fit.categories[1].name": "name 'role' is used twice",
        "fit.categories[2].weight": "Input should be greater than 0",
        "fit.categories[3].criteria[0].regex": (
            "invalid regular expression: missing ), unterminated subpattern at position 0"
        ),
        "fit.categories": "category weights sum to 80 %, they must sum to 100 %",
        "fit.grades": "grade thresholds must descend: A > B > C",
        "engagement.rules[1].name": "name 'demo_request' is used twice",
        "engagement.rules[2].points": "Input should be less than or equal to 1000",
        "engagement.rules[3].group": "group 'social' is not defined in groups",
        "engagement.recency[2].within_days": "recency steps must have increasing within_days",
        "negative[1].name": "name 'competitor' is used twice",
        "negative[2].points": "Input should be less than or equal to 0",
        "thresholds.reset": "reset (50) must be below mql (40)",
        "sla_hours": "unknown ratings ['Z9']: use A1..D4",
        "spam.colour": "Extra inputs are not permitted",
    }


def test_not_a_mapping() -> None:
    assert problems(["a", "list"]) == {"": "a model must be a mapping (YAML or JSON)"}


def test_required_sections_and_identity() -> None:
    found = problems({"id": "Bad Id!", "name": ""})
    assert set(found) == {"id", "name", "fit", "engagement"}
    assert "Field required" in found["fit"]


def test_an_unknown_key_is_a_mistake_not_ignored() -> None:
    model = document()
    model["fit"]["categories"][0]["wieght"] = 60
    assert problems(model) == {"fit.categories[0].wieght": "Extra inputs are not permitted"}


# ---------------------------------------------------------------- fit


def category(**overrides: Any) -> dict[str, Any]:
    base = {
        "name": "c",
        "weight": 100,
        "field": "f",
        "criteria": [{"name": "x", "exists": True, "points": 50}],
    }
    return {**base, **overrides}


def with_fit(*categories: dict[str, Any], **fit: Any) -> dict[str, Any]:
    return document(fit={"categories": list(categories), **fit})


def test_fit_weights_must_sum_to_100() -> None:
    found = problems(with_fit(category(weight=60), category(name="d", weight=30)))
    assert found == {"fit.categories": "category weights sum to 90 %, they must sum to 100 %"}
    parse_model(with_fit(category(weight="60"), category(name="d", weight=40)))  # numbers as text


@pytest.mark.parametrize(
    ("criterion", "path", "message"),
    [
        ({"name": "x", "points": 50}, "", "needs at least one test"),
        ({"name": "x", "points": 150, "exists": True}, ".points", "less than or equal to 100"),
        ({"name": "x", "points": 5, "max": 3, "below": 4}, ".below", "use either max"),
        (
            {"name": "x", "points": 5, "min": 9, "max": 3},
            ".min",
            "min (9) is above the upper bound (3)",
        ),
        ({"name": "x", "points": 5, "words": ["ok", " "]}, ".words", "non-blank words"),
        ({"name": "x", "points": 5, "regex": "a(b"}, ".regex", "invalid regular expression"),
        ({"name": "x", "points": 5, "domain_list": "friends"}, ".domain_list", "Input should be"),
        ({"name": "x", "points": 5, "in": "US"}, ".in", "valid list"),
        ({"name": "x", "points": 5, "equals": [1]}, ".equals", "valid string or a valid number"),
    ],
)
def test_criterion_checks(criterion: dict[str, Any], path: str, message: str) -> None:
    found = problems(with_fit(category(criteria=[criterion])))
    assert list(found) == [f"fit.categories[0].criteria[0]{path}"]
    assert message in found[f"fit.categories[0].criteria[0]{path}"]


def test_criteria_need_a_field_of_their_own_or_their_categorys() -> None:
    found = problems(with_fit(category(field=None)))
    assert found == {
        "fit.categories[0].criteria[0].field": "needs a field (or set the category's field)"
    }
    no_field = category(
        field=None, criteria=[{"name": "x", "field": "f", "exists": True, "points": 5}]
    )
    parse_model(with_fit(no_field))


def test_grades_completion_bonus_and_base() -> None:
    found = problems(
        with_fit(
            category(),
            grades={"A": 60, "B": 60},
            completion_bonus={"fields": [], "points": 2},
            base=2000,
        )
    )
    assert set(found) == {"fit.grades", "fit.completion_bonus.fields", "fit.base"}


# ---------------------------------------------------------------- negative and spam


def test_negative_criteria_checks() -> None:
    model = document(
        negative=[
            {"name": "a", "field": "email", "domain_list": "personal", "points": 5},
            {"name": "b", "domain_list": "personal", "points": -5},
            {"name": "c", "field": "email", "points": -5},
        ]
    )
    found = problems(model)
    assert set(found) == {"negative[0].points", "negative[1].field", "negative[2]"}
    assert "needs at least one test" in found["negative[2]"]


def test_spam_checks() -> None:
    found = problems(document(spam={"penalty": 10, "keyboard_run": 2}))
    assert set(found) == {"spam.penalty", "spam.keyboard_run"}
    parse_model(document(spam=None))  # spam signals off


# ---------------------------------------------------------------- engagement


def engagement(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return document(engagement={"rules": list(rules), **extra})


VISIT = {"name": "visit", "event": "page_view", "points": 1}


@pytest.mark.parametrize(
    ("rule", "path", "message"),
    [
        ({"name": "r", "event": [], "points": 1}, ".event", "one event type"),
        ({"name": "r", "event": " ", "points": 1}, ".event", "one event type"),
        ({"name": "r", "event": "x"}, ".points", "Field required"),
        (
            {"name": "r", "event": "x", "points": 1, "limit": {"count": 0}},
            ".limit.count",
            "greater",
        ),
        (
            {"name": "r", "event": "x", "points": 1, "limit": {"count": 1, "per": "month"}},
            ".limit.per",
            "'ever'",
        ),
        (
            {"name": "r", "event": "x", "points": 1, "where": {"url": {"glob": 5}}},
            ".where.url.glob",
            "string",
        ),
        (
            {"name": "r", "event": "x", "points": 1, "where": {"url": {}}},
            ".where.url",
            "at least one test",
        ),
    ],
)
def test_rule_checks(rule: dict[str, Any], path: str, message: str) -> None:
    found = problems(engagement(VISIT, rule))
    assert list(found) == [f"engagement.rules[1]{path}"]
    assert message in found[f"engagement.rules[1]{path}"]


def test_engagement_checks() -> None:
    found = problems(
        document(
            engagement={
                "rules": [],
                "groups": {"web": {"cap": 0}},
                "recency": [{"within_days": 7, "weight": 1.5}],
                "older_weight": -1,
                "levels": {"1": 20, "2": 50, "3": 10},
            }
        )
    )
    assert set(found) == {
        "engagement.rules",
        "engagement.groups.web.cap",
        "engagement.recency[0].weight",
        "engagement.older_weight",
        "engagement.levels",
    }


def test_levels_accept_number_keys_as_yaml_writes_them() -> None:
    text = "rules: [{name: v, event: page_view, points: 1}]\nlevels: {1: 80, 2: 40, 3: 10}\n"
    model = parse_model(document(engagement=yaml.safe_load(text)))
    assert model.engagement.levels.level_1 == 80


# ---------------------------------------------------------------- decay, combination, scope


@pytest.mark.parametrize(
    ("decay", "path"),
    [
        ({"grace_days": 30}, "decay"),  # neither percent nor half-life
        ({"percent": 10, "half_life_days": 30}, "decay"),  # both
        ({"percent": 120}, "decay.percent"),
        ({"half_life_days": 0}, "decay.half_life_days"),
        ({"percent": 10, "floor": 101}, "decay.floor"),
        ({"percent": 10, "grace_days": -1}, "decay.grace_days"),
    ],
)
def test_decay_checks(decay: dict[str, Any], path: str) -> None:
    assert list(problems(document(decay=decay))) == [path]


def test_weights_thresholds_sla_and_scope() -> None:
    found = problems(
        document(
            weights={"fit": 70, "engagement": 40},
            thresholds={"mql": 0},
            sla_hours={"A1": 0},
            scope={"products": []},
        )
    )
    assert set(found) == {"weights", "thresholds.mql", "sla_hours", "scope.products"}


def test_domain_lists_are_normalised() -> None:
    model = parse_model(document(domains={"competitors": [" @RivalSoft.COM "]}))
    assert model.domains.competitors == ["rivalsoft.com"]


def test_a_yaml_syntax_error_is_a_model_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: x\nfit: [unclosed\n", encoding="utf-8")
    with pytest.raises(ModelError) as caught:
        load_model(path)
    (problem,) = caught.value.problems
    assert problem["path"] == "" and "not valid YAML" in problem["message"]
    assert "line" in str(caught.value)
