"""A scoring model turned into fast predicates and lookup tables, once per model version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadscore.domain import domains
from leadscore.domain.model import ScoringModel
from leadscore.domain.model_base import Test
from leadscore.domain.model_engagement import Limit
from leadscore.domain.model_fit import FitCategory
from leadscore.domain.value_tests import (
    MEMO_SIZE,
    DomainLists,
    Predicate,
    as_text,
    compile_test,
    domain_of_text,
    domain_only,
    listed_domains,
)

HOUR = 3_600
DAY = 86_400
NOT_FOUND = object()  # a memo's answer for a key it does not hold (None is an answer)


@dataclass(frozen=True, slots=True)
class Criterion:
    key: str
    field: str
    matches: Predicate
    points: float
    weighted: float  # fit points: `points` times its category's weight


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    weight: float
    criteria: tuple[Criterion, ...]
    default_points: float
    default_key: str  # the reason of the default points, "fit.role.default"
    default_weighted: float  # the default points times the weight
    single_field: str | None  # the field every criterion reads, None when they read several
    memo: dict[str | None, Criterion | None] = field(default_factory=dict, compare=False)

    def match(self, values: Mapping[str, Any]) -> Criterion | None:
        """The first criterion the profile matches: first match wins.

        Remembered per text value when every criterion reads one field: titles, industries
        and countries repeat from lead to lead.
        """
        if self.single_field is None:
            return self._first_match(values)
        value = values[self.single_field]
        if value is not None and type(value) is not str:
            return self._first_match(values)
        if value in self.memo:
            return self.memo[value]
        if len(self.memo) >= MEMO_SIZE:
            self.memo.clear()
        found = self.memo[value] = self._first_match(values)
        return found

    def _first_match(self, values: Mapping[str, Any]) -> Criterion | None:
        for criterion in self.criteria:
            if criterion.matches(values[criterion.field]):
                return criterion
        return None


@dataclass(frozen=True, slots=True)
class Adjustment:
    key: str
    field: str
    matches: Predicate
    points: float
    flag: str  # the flag it raises, its own or its name
    disqualify: bool
    by_domain: bool  # a domain-list test alone: its answer depends on the domain only
    memo: dict[str, bool]  # the answers per text value, or per domain

    def applies(self, value: Any) -> bool:
        """`matches`, remembered per text value: titles, countries and email domains repeat
        from lead to lead (a blank value's domain is "", which no list holds)."""
        if type(value) is not str:
            return self.matches(value)
        key = domain_of_text(value) if self.by_domain else value
        found = self.memo.get(key)
        if found is None:
            if len(self.memo) >= MEMO_SIZE:
                self.memo.clear()
            found = self.memo[key] = self.matches(value)
        return found


@dataclass(frozen=True, slots=True)
class Rule:
    key: str
    points: float
    where: tuple[tuple[str, Predicate], ...]
    limit: Limit | None
    group: str | None
    centipoints: float  # `points` * 100: what an event scores before its recency weight
    capped: tuple[str, ...]  # its group when the group has a cap, else ()

    def matches(self, properties: Mapping[str, Any]) -> bool:
        for prop, test in self.where:  # noqa: SIM110 (a loop is faster than all() here)
            if not test(properties.get(prop)):
                return False
        return True


def _first_match(rules: tuple[Rule, ...], properties: Mapping[str, Any]) -> Rule | None:
    for rule in rules:
        if rule.matches(properties):
            return rule
    return None


@dataclass(frozen=True, slots=True)
class Route:
    """A routing rule: the lead goes to `team`'s one member (one owner: a team of one)."""

    name: str
    field: str | None  # None: every lead
    matches: Predicate
    team: tuple[str, ...]


@dataclass(slots=True)  # not frozen, which is slower to build: never changed once made
class ProfileFit:
    """What a profile is worth under a model, before it is written into a lead's reasons."""

    reasons: tuple[tuple[str, int], ...]  # reason -> score centipoints
    fit: int  # centipoints 0..10000
    flags: tuple[str, ...]
    disqualified: bool


@dataclass(frozen=True, slots=True)
class CompiledModel:
    model: ScoringModel
    categories: tuple[Category, ...]
    adjustments: tuple[Adjustment, ...]
    rules_by_type: dict[str, tuple[Rule, ...]]
    rule_groups: dict[str, str]
    group_caps: dict[str, int]
    cap_keys: dict[str, str]  # group -> its cap's reason, "engagement.cap.web"
    recency: tuple[tuple[float, float], ...]
    older_weight: float
    lists: DomainLists
    is_disposable: Predicate  # an email (or domain) on the disposable list
    fit_weight: float
    engagement_weight: float
    products: frozenset[str] | None  # the scope's product lines, case-folded; None: every one
    # event type -> the properties its rules test
    rule_properties: dict[str, tuple[str, ...]]
    # event type -> the memo of `rule_for`: tested values (one value, or a tuple) -> rule
    rule_memo: dict[str, dict[Any, Rule | None]] = field(default_factory=dict, compare=False)
    # every profile field the fit criteria and negative criteria test
    profile_fields: tuple[str, ...] = ()
    # every profile field fit depends on (criteria, spam signals, completion bonus), and
    # the memo of each profile's fit: a lead scored again with the same profile
    fit_fields: tuple[str, ...] = ()
    fit_memo: dict[tuple[Any, ...], ProfileFit] = field(default_factory=dict, compare=False)
    routes: tuple[Route, ...] = ()  # the routing rules, in order (domain/routing.py)
    ignore_machine: bool = True  # machine opens and scanner clicks earn nothing (domain/machine.py)

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def version(self) -> int:
        return self.model.version or 0

    def recency_weight(self, age_seconds: float) -> float:
        """The share of its points an action keeps when scored `age_seconds` after it happened."""
        for within, weight in self.recency:
            if age_seconds <= within:
                return weight
        return self.older_weight

    def rule_for(self, kind: str, properties: Mapping[str, Any]) -> Rule | None:
        """The first rule (in the model's order) that an event of this type matches.

        Remembered per type and values of the properties its rules test, when they are text:
        page URLs, forms and campaigns repeat.
        """
        rules = self.rules_by_type.get(kind)
        if rules is None:
            return None
        tested = self.rule_properties[kind]
        if not tested:  # no rule of this type looks at properties: the first one wins
            return rules[0]
        key: Any
        if len(tested) == 1:  # the common case: a url, a form, a campaign
            key = properties.get(tested[0])
            if key is not None and type(key) is not str:
                return _first_match(rules, properties)
        else:
            key = tuple([properties.get(name) for name in tested])
            if any(value is not None and type(value) is not str for value in key):
                return _first_match(rules, properties)
        memo = self.rule_memo.get(kind)
        if memo is None:
            memo = self.rule_memo[kind] = {}
        rule = memo.get(key, NOT_FOUND)
        if rule is NOT_FOUND:
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            rule = memo[key] = _first_match(rules, properties)
        return rule  # type: ignore[return-value]

    def in_scope(self, product: str | None) -> bool:
        if self.products is None:
            return True
        if product is None or not product.strip():
            return self.model.scope is None or self.model.scope.include_unscoped
        return as_text(product) in self.products


def _single_field(category: FitCategory) -> str | None:
    fields = {criterion.field or category.field for criterion in category.criteria}
    return fields.pop() if len(fields) == 1 else None


def _fit_fields(model: ScoringModel, tested: set[str]) -> set[str]:
    fields = {"email" if name == "email_domain" else name for name in tested}
    if model.spam is not None:
        fields |= {"first_name", "last_name", "company", "email"}
    if model.fit.completion_bonus is not None:
        fields |= set(model.fit.completion_bonus.fields)
    return fields


def compile_model(model: ScoringModel) -> CompiledModel:
    """Turn a validated model into predicates and lookup tables (once per model version)."""
    lists = DomainLists(
        internal=listed_domains(model.domains.internal),
        competitors=listed_domains(model.domains.competitors),
        personal=domains.PERSONAL | listed_domains(model.domains.personal),
        education=listed_domains(model.domains.education),
        disposable=domains.DISPOSABLE | listed_domains(model.domains.disposable),
        target_accounts=listed_domains(model.domains.target_accounts),
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
                    weighted=criterion.points * (category.weight / 100),
                )
                for criterion in category.criteria
            ),
            default_points=category.default_points,
            default_key=f"fit.{category.name}.default",
            default_weighted=category.default_points * (category.weight / 100),
            single_field=_single_field(category),
        )
        for category in model.fit.categories
    )
    adjustments = tuple(
        Adjustment(
            key=f"negative.{a.name}",
            field=a.field,
            matches=compile_test(a, lists),
            points=a.points,
            flag=a.flag or a.name,
            disqualify=a.disqualify,
            by_domain=domain_only(a),
            memo={},
        )
        for a in model.negative
    )
    tested = {c.field for category in categories for c in category.criteria}
    tested |= {a.field for a in adjustments}
    rules_by_type: dict[str, list[Rule]] = {}
    for rule in model.engagement.rules:
        compiled = Rule(
            key=f"engagement.{rule.name}",
            points=rule.points,
            where=tuple((prop, compile_test(test, lists)) for prop, test in rule.where.items()),
            limit=rule.limit,
            group=rule.group,
            centipoints=rule.points * 100,
            capped=(rule.group,) if rule.group in model.engagement.groups else (),
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
        cap_keys={name: f"engagement.cap.{name}" for name in model.engagement.groups},
        recency=tuple((s.within_days * DAY, s.weight) for s in model.engagement.recency),
        older_weight=model.engagement.older_weight if model.engagement.recency else 1.0,
        lists=lists,
        is_disposable=compile_test(Test(domain_list="disposable"), lists),
        fit_weight=model.weights.fit / 100,
        engagement_weight=model.weights.engagement / 100,
        products=None
        if model.scope is None
        else frozenset(as_text(p) for p in model.scope.products),
        rule_properties={
            kind: tuple(sorted({name for rule in rules for name, _ in rule.where}))
            for kind, rules in rules_by_type.items()
        },
        profile_fields=tuple(sorted(tested)),
        fit_fields=tuple(sorted(_fit_fields(model, tested))),
        routes=tuple(
            Route(
                name=rule.name,
                field=None if rule.when is None else rule.when.field,
                matches=_always if rule.when is None else compile_test(rule.when, lists),
                team=(rule.owner,) if rule.owner is not None else tuple(rule.team or ()),
            )
            for rule in model.routing
        ),
        ignore_machine=model.engagement.machine == "ignore",
    )


def _always(_: Any) -> bool:
    return True
