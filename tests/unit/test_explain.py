"""Reasons in words (domain/explain.py): every rule of the shipped models reads as a sentence,
with the count, the profile's values and the model's own labels."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.explain import reason_text
from leadscore.domain.model import parse_model
from leadscore.domain.model_errors import ModelError

from tests.unit.engine_helpers import NOW, build, document, event, shipped

PROFILE = {
    "email": "jane@gmail.com",
    "job_title": "CTO",
    "industry": "software",
    "company_size": 450,
    "annual_revenue": 6_000_000,
    "country": "US",
    "phone": "+1 555 0100",
    "data_warehouse": "snowflake",
}


def every_reason(model: CompiledModel) -> list[str]:
    """Every reason key the model can give."""
    definition = model.model
    keys = [f"engagement.{rule.name}" for rule in definition.engagement.rules]
    keys += [model.cap_keys[group] for group in definition.engagement.groups]
    keys += [c.key for category in model.categories for c in category.criteria]
    keys += [category.default_key for category in model.categories]
    keys += [adjustment.key for adjustment in model.adjustments]
    keys += ["fit.base", "fit.completion_bonus", "fit.clamp", "spam", "decay"]
    return [*keys, "engagement.clamp", "score.clamp", "disqualified"]


@pytest.mark.parametrize("name", ["default.yaml", "analytics.yaml"])
def test_every_rule_of_the_shipped_models_reads_as_words(name: str) -> None:
    model = shipped(name)
    for key in every_reason(model):
        for profile in (PROFILE, None):
            text = reason_text(model, key, 1, profile, 45)
            assert not text.startswith(("engagement.", "fit.", "negative.")), (key, text)
            assert text[0].isupper() and "_" not in text and "\\" not in text, (key, text)


def test_engagement_reads_what_the_lead_did_and_how_often() -> None:
    model = shipped("default.yaml")
    assert reason_text(model, "engagement.pricing_page", 2) == "Visited the pricing page twice"
    assert reason_text(model, "engagement.email_click", 3) == "Clicked an email (3 times)"
    assert reason_text(model, "engagement.webinar_attended", 1) == "Attended a webinar"
    assert reason_text(model, "engagement.careers_page", 1) == "Visited the careers page"
    # a plain where-value is said; a page's URL pattern never is: the rule's name is
    assert reason_text(model, "engagement.newsletter_form", 1) == "Submitted the newsletter form"
    assert reason_text(model, "engagement.other_form", 1) == "Submitted a form"
    analytics = shipped("analytics.yaml")
    text = reason_text(analytics, "engagement.demo_request", 1)
    assert text == "Requested a demo or booked a meeting"
    assert reason_text(analytics, "engagement.report_download", 1) == "Downloaded a report"
    assert reason_text(analytics, "engagement.trial_started", 1) == "Trial started"


def test_fit_and_negative_criteria_quote_the_profile() -> None:
    model = shipped("default.yaml")
    assert reason_text(model, "fit.role.executive", 1, PROFILE) == "Job title CTO: executive"
    assert reason_text(model, "fit.industry.target", 1, PROFILE) == "Industry software: target"
    revenue = reason_text(model, "fit.revenue.over_5m", 1, PROFILE)
    assert revenue == "Annual revenue 6,000,000: over 5m"
    personal = reason_text(model, "negative.personal_email", 1, PROFILE)
    assert personal == "Email domain gmail.com: personal email"  # the domain, not the address
    assert reason_text(model, "fit.role.executive", 1) == "Job title: executive"
    assert reason_text(model, "fit.role.default", 1, {}) == "No job title: other role"
    bonus = reason_text(model, "fit.completion_bonus", 1, PROFILE)
    assert bonus == "Filled in phone, company size and annual revenue"
    hostile = {"job_title": "CTO\n\x1b[31m" + "x" * 200}
    text = reason_text(model, "fit.role.executive", 1, hostile)
    assert "\n" not in text and "\x1b" not in text and len(text) < 100


def test_adjustments_decay_and_unknown_rules() -> None:
    model = shipped("default.yaml")
    assert reason_text(model, "decay", 1, None, 45) == "Inactive for 45 days"
    assert reason_text(model, "engagement.cap.web", 1) == "Web activity capped at 40 points"
    assert reason_text(model, "score.clamp", 1) == "Score held within 0-100"
    # a reason of a rule the model no longer has (an earlier version's): its name in words
    assert reason_text(model, "engagement.old_trade_show", 1) == "Old trade show"


def test_a_label_in_the_model_replaces_the_words() -> None:
    model = build(
        engagement={
            "rules": [
                {"name": "pricing", "event": "page_view", "where": {"url": {"glob": "*/p*"}},
                 "points": 10, "label": "Read the pricing page"},
            ]
        },
        negative=[{"name": "intern", "field": "job_title", "words": ["intern"], "points": -5,
                   "label": "An intern"}],
    )  # fmt: skip
    assert reason_text(model, "engagement.pricing", 3) == "Read the pricing page (3 times)"
    assert reason_text(model, "negative.intern", 1, {"job_title": "Intern"}) == "An intern"


@pytest.mark.parametrize("label", ["", "   ", "two\nlines", "x" * 121])
def test_a_label_is_one_readable_line(label: str) -> None:
    rule: dict[str, Any] = {"name": "visit", "event": "page_view", "points": 1, "label": label}
    with pytest.raises(ModelError) as refused:
        parse_model(document(engagement={"rules": [rule]}))
    assert "label" in str(refused.value)


def test_the_summary_explains_each_reason_with_the_inactive_days() -> None:
    model = shipped("default.yaml")
    visits = [
        event(f"p{n}", "page_view", NOW - timedelta(days=60), url="https://x.example/pricing")
        for n in range(2)
    ]
    state = engine.score(model, None, PROFILE, visits, NOW - timedelta(days=60)).state
    state = engine.decay(model, state, NOW).state
    reasons = {r["rule"]: r["text"] for r in engine.summary(model, state, PROFILE, NOW)["reasons"]}
    assert reasons["engagement.pricing_page"] == "Visited the pricing page twice"
    assert reasons["fit.role.executive"] == "Job title CTO: executive"
    assert reasons["decay"] == "Inactive for 60 days"
    assert engine.summary(model, state)["reasons"][0]["text"]  # without profile nor time
