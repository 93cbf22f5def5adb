"""A scoring model turned into fast predicates and lookup tables, once per model version."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leadscore.domain import domains
from leadscore.domain.model import Limit, ScoringModel, Test

Predicate = Callable[[Any], bool]
DAY = 86_400


def as_text(value: Any) -> str:
    """Values compare as case-folded text; 5, 5.0 and "5" are the same."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().casefold()


def as_number(value: Any) -> float | None:
    """A number from 5, "5.0", "1,200", or a range "51-200" (its midpoint)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip().replace(",", "").replace("_", "")
    try:
        return float(text)
    except ValueError:
        low, dash, high = text.partition("-")
        if dash:
            try:
                return (float(low) + float(high)) / 2
            except ValueError:
                return None
        return float(text[:-1]) if text.endswith("+") and text[:-1].isdigit() else None


@dataclass(frozen=True, slots=True)
class DomainLists:
    """The model's domain lists joined with the built-in ones."""

    internal: frozenset[str]
    competitors: frozenset[str]
    personal: frozenset[str]
    education: frozenset[str]
    disposable: frozenset[str]

    def contains(self, name: str, domain: str) -> bool:
        if name == "education":
            return domains.is_education(domain, self.education)
        listed: frozenset[str] = getattr(self, name)
        return domains.in_domains(domain, listed)


def _domain_of(value: Any) -> str:
    text = as_text(value)
    return domains.email_domain(text) if "@" in text else text


def compile_test(test: Test, lists: DomainLists) -> Predicate:
    """All the tests of `test` as one predicate; a missing value passes only `exists: false`."""
    checks: list[Predicate] = []
    if test.equals is not None:
        expected = as_text(test.equals)
        checks.append(lambda v: as_text(v) == expected)
    if test.in_ is not None:
        members = frozenset(as_text(m) for m in test.in_)
        checks.append(lambda v: as_text(v) in members)
    if test.not_in is not None:
        excluded = frozenset(as_text(m) for m in test.not_in)
        checks.append(lambda v: as_text(v) not in excluded)
    if test.min is not None or test.max is not None or test.below is not None:
        low, high, below = test.min, test.max, test.below

        def in_range(v: Any) -> bool:
            number = as_number(v)
            return (
                number is not None
                and (low is None or number >= low)
                and (high is None or number <= high)
                and (below is None or number < below)
            )

        checks.append(in_range)
    if test.words is not None:
        alternatives = "|".join(re.escape(w.strip()) for w in test.words)
        words = re.compile(rf"(?<![\w])(?:{alternatives})(?![\w])", re.IGNORECASE)
        checks.append(lambda v: words.search(str(v)) is not None)
    if test.regex is not None:
        pattern = re.compile(test.regex, re.IGNORECASE)
        checks.append(lambda v: pattern.search(str(v)) is not None)
    if test.glob is not None:
        glob = re.compile(fnmatch.translate(test.glob), re.IGNORECASE)
        checks.append(lambda v: glob.match(str(v)) is not None)
    if test.domain_list is not None:
        list_name = test.domain_list
        checks.append(lambda v: lists.contains(list_name, _domain_of(v)))
    wants_missing = test.exists is False

    def predicate(value: Any) -> bool:
        if value is None or value == "" or value == []:
            return wants_missing
        return not wants_missing and all(check(value) for check in checks)

    return predicate


@dataclass(frozen=True, slots=True)
class Criterion:
    key: str
    field: str
    matches: Predicate
    points: float


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    weight: float
    criteria: tuple[Criterion, ...]
    default_points: float


@dataclass(frozen=True, slots=True)
class Adjustment:
    key: str
    field: str
    matches: Predicate
    points: float
    flag: str | None
    disqualify: bool


@dataclass(frozen=True, slots=True)
class Rule:
    key: str
    points: float
    where: tuple[tuple[str, Predicate], ...]
    limit: Limit | None
    group: str | None


@dataclass(frozen=True, slots=True)
class CompiledModel:
    model: ScoringModel
    categories: tuple[Category, ...]
    adjustments: tuple[Adjustment, ...]
    rules_by_type: dict[str, tuple[Rule, ...]]
    rule_groups: dict[str, str]
    group_caps: dict[str, int]
    recency: tuple[tuple[float, float], ...]
    lists: DomainLists
    fit_weight: float
    engagement_weight: float

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def version(self) -> int:
        return self.model.version or 0

    def recency_weight(self, age_seconds: float) -> float:
        for within, weight in self.recency:
            if age_seconds <= within:
                return weight
        return self.model.engagement.older_weight if self.recency else 1.0

    def in_scope(self, product: str | None) -> bool:
        scope = self.model.scope
        if scope is None:
            return True
        if product is None:
            return scope.include_unscoped
        return as_text(product) in {as_text(p) for p in scope.products}


def compile_model(model: ScoringModel) -> CompiledModel:
    lists = DomainLists(
        internal=frozenset(model.domains.internal),
        competitors=frozenset(model.domains.competitors),
        personal=domains.PERSONAL | frozenset(model.domains.personal),
        education=frozenset(model.domains.education),
        disposable=domains.DISPOSABLE | frozenset(model.domains.disposable),
    )
    categories = tuple(
        Category(
            name=category.name,
            weight=category.weight / 100,
            criteria=tuple(
                Criterion(
                    key=f"fit.{category.name}.{criterion.name}",
                    field=criterion.field or category.field or "",
                    matches=compile_test(criterion, lists),
                    points=criterion.points,
                )
                for criterion in category.criteria
            ),
            default_points=category.default_points,
        )
        for category in model.fit.categories
    )
    adjustments = tuple(
        Adjustment(
            key=f"negative.{a.name}",
            field=a.field,
            matches=compile_test(a, lists),
            points=a.points,
            flag=a.flag,
            disqualify=a.disqualify,
        )
        for a in model.negative
    )
    rules_by_type: dict[str, list[Rule]] = {}
    for rule in model.engagement.rules:
        compiled = Rule(
            key=f"engagement.{rule.name}",
            points=rule.points,
            where=tuple((prop, compile_test(test, lists)) for prop, test in rule.where.items()),
            limit=rule.limit,
            group=rule.group,
        )
        for kind in [rule.event] if isinstance(rule.event, str) else rule.event:
            rules_by_type.setdefault(kind, []).append(compiled)
    return CompiledModel(
        model=model,
        categories=categories,
        adjustments=adjustments,
        rules_by_type={kind: tuple(rules) for kind, rules in rules_by_type.items()},
        rule_groups={
            f"engagement.{r.name}": r.group for r in model.engagement.rules if r.group is not None
        },
        group_caps={name: round(g.cap * 100) for name, g in model.engagement.groups.items()},
        recency=tuple((s.within_days * DAY, s.weight) for s in model.engagement.recency),
        lists=lists,
        fit_weight=model.weights.fit / 100,
        engagement_weight=model.weights.engagement / 100,
    )
