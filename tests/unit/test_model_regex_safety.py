"""Model regexes run in RE2, a linear-time engine: a hostile pattern cannot stall scoring, and
a pattern RE2 cannot run is refused when the model is checked, with its path and why."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from leadscore.domain import value_tests
from leadscore.domain.model import ModelError, parse_model
from leadscore.domain.regexes import Regex

from tests.unit.engine_helpers import MODELS, count, document, event, rules, run

HOSTILE = [
    # (pattern, a value it matches, a value that makes a backtracking engine try 2^5000 paths)
    ("(a+)+$", "/aaaa", "a" * 5_000 + "!"),
    ("(x+x+)+y", "/xxy", "x" * 5_000),
]


def regex_rule(pattern: str) -> dict[str, Any]:
    return {
        "name": "hostile",
        "event": "page_view",
        "points": 5,
        "where": {"url": {"regex": pattern}},
    }


def problems(model: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ModelError) as caught:
        parse_model(model)
    return {p["path"]: p["message"] for p in caught.value.problems}


@pytest.mark.parametrize(("pattern", "matching", "hostile"), HOSTILE)
def test_nested_quantifiers_score_in_linear_time(
    pattern: str, matching: str, hostile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engines: dict[str, Regex] = {}

    def spy(seen: str) -> Regex:
        engines[seen] = compiled_regex = linear(seen)
        return compiled_regex

    linear = value_tests.linear_regex
    monkeypatch.setattr(value_tests, "linear_regex", spy)
    model = rules(regex_rule(pattern), {"name": "visit", "event": "page_view", "points": 1})
    # The engine first: with a backtracking one, the hostile value below would never finish.
    assert type(engines[pattern]).__module__ == "re2"
    state = run(
        model, [event("a", "page_view", url=matching), event("b", "page_view", url=hostile)]
    )
    assert count(state.state, "engagement.hostile") == 1  # the matching value
    assert count(state.state, "engagement.visit") == 1  # the hostile one matched nothing


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"/(docs|blog)/\1", "uses a backreference, which the linear-time engine"),
        (r"(?P<page>\w+)/(?P=page)", "uses a backreference"),
        (r"(?<=/)pricing", "uses a lookbehind"),
        (r"(?<!no-)pricing", "uses a lookbehind"),
        (r"/pricing(?!/old)", "uses a lookahead"),
        (r"(?>a+)b", "uses an atomic group"),
        (r"a++b", "uses a possessive quantifier"),
        (r"/pricing\Z", r"uses \Z"),
        (r"(?x) /pricing", "not supported by the linear-time engine (RE2): invalid perl operator"),
        (r"\pL{5}", "too complex for the linear-time engine (RE2): its program has"),
        ("a" * 1_001, "a regular expression has at most 1000 characters"),
        ("(unclosed", "invalid regular expression: missing ), unterminated subpattern"),
    ],
)
def test_a_regex_the_linear_time_engine_cannot_run_is_refused_with_its_path(
    pattern: str, message: str
) -> None:
    criterion = {"name": "x", "points": 5, "regex": pattern}
    fit = {"categories": [{"name": "c", "weight": 100, "field": "f", "criteria": [criterion]}]}
    found = problems(document(fit=fit, engagement={"rules": [regex_rule(pattern)]}))
    assert list(found) == [
        "fit.categories[0].criteria[0].regex",
        "engagement.rules[0].where.url.regex",
    ]
    assert all(text.startswith(message) for text in found.values()), found


def test_a_glob_is_bounded() -> None:
    where = {"url": {"glob": "*" * 1_001}}
    found = problems(document(engagement={"rules": [{**regex_rule("x"), "where": where}]}))
    assert found == {"engagement.rules[0].where.url.glob": "a glob has at most 1000 characters"}


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("PRICING", "https://x.io/pricing", True),  # case ignored
        ("/pricing", "https://x.io/Pricing?plan=team", True),  # anywhere in the value
        ("^/pricing", "https://x.io/pricing", False),  # ^ is the start of the value
        ("^head of (data|bi)$", "Head of BI", True),
        (r"(?P<kind>docs|blog)/\d+", "/blog/42", True),  # named groups are fine
        (r"\bcdo\b", "CDO, Acme", True),
        (r"\bcdo\b", "cdos", False),
        (r"\pL+ \pL+", "Ana María", True),  # RE2's Unicode classes
    ],
)
def test_a_regex_searches_the_value_ignoring_case(pattern: str, value: str, matches: bool) -> None:
    model = rules(regex_rule(pattern))
    state = run(model, [event("a", "page_view", url=value)]).state
    assert count(state, "engagement.hostile") == (1 if matches else 0)


def shipped_regexes() -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.extend([node["regex"]] if isinstance(node.get("regex"), str) else [])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for path in sorted(MODELS.glob("*.yaml")):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return sorted(set(found))


SAMPLES = [
    "https://www.example.com/pricing",
    "https://www.example.com/pricing/",
    "https://www.example.com/pricing?plan=team",
    "https://www.example.com/pricing#faq",
    "https://www.example.com/pricingx",
    "https://www.example.com/careers",
    "https://www.example.com/jobs/42",
    "https://www.example.com/careers-blog",
    "https://www.example.com/Demo",
    "https://www.example.com/request-a-quote?x=1",
    "https://www.example.com/blog/ten-tips",
    "https://www.example.com/news",
    "https://www.example.com/case-studies/acme",
    "Chief Data Officer",
    "Head of BI",
    "Head of Analytics, EMEA",
    "VP Data",
    "Director, Insights & Analytics",
    "Director of Sales",
    "CDO",
    "Data Analyst",
]


@pytest.mark.parametrize("pattern", shipped_regexes())
def test_every_shipped_regex_matches_what_it_matched_before(pattern: str) -> None:
    linear = value_tests.linear_regex(pattern)
    before = re.compile(pattern, re.IGNORECASE)
    for value in SAMPLES:
        assert (linear.search(value) is not None) == (before.search(value) is not None), value
