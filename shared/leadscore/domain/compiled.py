"""A scoring model turned into fast predicates and lookup tables, once per model version."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from leadscore.domain import domains
from leadscore.domain.emails import EmailError, normalize_domain
from leadscore.domain.model import ScoringModel
from leadscore.domain.model_base import Test
from leadscore.domain.model_engagement import Limit
from leadscore.domain.model_fit import FitCategory
from leadscore.domain.regexes import linear_regex

Predicate = Callable[[Any], bool]
DAY = 86_400
MEMO_SIZE = 4096  # bound of each per-model memo: cleared when full
DOMAIN_TEST = frozenset({"domain_list", "exists"})
NOT_FOUND = object()  # a memo's answer for a key it does not hold (None is an answer)


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
    target_accounts: frozenset[str]

    def contains(self, name: str, domain: str) -> bool:
        if name == "education":
            return domains.is_education(domain, self.education)
        listed: frozenset[str] = getattr(self, name)
        return domains.in_domains(domain, listed)


def _domain_of(value: Any) -> str:
    """The domain of an email address, or the value itself as a domain."""
    if type(value) is str:
        return _domain_of_text(value)
    text = as_text(value)
    return domains.email_domain(text) if "@" in text else text


@lru_cache(maxsize=MEMO_SIZE)  # one email is looked up in several domain lists in a row
def _domain_of_text(value: str) -> str:
    text = as_text(value)
    return domains.email_domain(text) if "@" in text else text


def _listed(names: list[str]) -> frozenset[str]:
    """A model's domain list as an address's domain is written (`bücher.de` in punycode); an
    entry that is no domain name stays as written."""
    listed = set()
    for name in names:
        try:
            listed.add(normalize_domain(name))
        except EmailError:
            listed.add(name)
    return frozenset(listed)


def _member_of(members: list[str | float | bool]) -> Predicate:
    """Membership as text ignoring case, and as numbers for numeric members ("5.0" is 5)."""
    texts = frozenset(as_text(m) for m in members)
    numbers = frozenset(
        m for m in members if isinstance(m, int | float) and not isinstance(m, bool)
    )
    if not numbers:
        return lambda v: as_text(v) in texts
    return lambda v: as_text(v) in texts or as_number(v) in numbers


def compile_test(test: Test, lists: DomainLists) -> Predicate:
    """All the tests of `test` as one predicate; a missing value passes only `exists: false`."""
    checks: list[Predicate] = []
    if test.equals is not None:
        checks.append(_member_of([test.equals]))
    if test.in_ is not None:
        checks.append(_member_of(test.in_))
    if test.not_in is not None:
        excluded = _member_of(test.not_in)
        checks.append(lambda v: not excluded(v))
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
    # Words and globs stay in Python's engine, linear in the value by construction: escaped
    # literals between one-character lookarounds, and fnmatch's translation, which since
    # Python 3.9 never backtracks into a `*` it has passed (CPython bpo-40480).
    if test.words is not None:
        alternatives = "|".join(re.escape(w.strip()) for w in test.words)
        words = re.compile(rf"(?<![\w])(?:{alternatives})(?![\w])", re.IGNORECASE)
        checks.append(lambda v: words.search(str(v)) is not None)
    if test.regex is not None:
        pattern = linear_regex(test.regex)  # the model's own pattern: RE2, never backtracks
        checks.append(lambda v: pattern.search(str(v)) is not None)
    if test.glob is not None:
        glob = re.compile(fnmatch.translate(test.glob), re.IGNORECASE)
        checks.append(lambda v: glob.match(str(v)) is not None)
    if test.domain_list is not None:
        list_name = test.domain_list
        listed: dict[str, bool] = {}  # domains repeat (gmail.com): remember the answers

        def in_list(value: Any) -> bool:
            domain = _domain_of_text(value) if type(value) is str else _domain_of(value)
            found = listed.get(domain)
            if found is None:
                if len(listed) >= MEMO_SIZE:
                    listed.clear()
                found = listed[domain] = lists.contains(list_name, domain)
            return found

        if _domain_only(test):  # the common case (`email` on a list), in one call

            def on_list(value: Any) -> bool:
                if type(value) is str:
                    return bool(value.strip()) and in_list(value)
                return not _missing(value) and in_list(value)

            return on_list
        checks.append(in_list)
    wants_missing = test.exists is False
    if wants_missing or not checks:

        def presence(value: Any) -> bool:
            return _missing(value) is wants_missing

        return presence
    if len(checks) == 1:  # the common case, without the loop
        (check,) = checks

        def single(value: Any) -> bool:
            return not _missing(value) and check(value)

        return single

    def every(value: Any) -> bool:
        return not _missing(value) and all(check(value) for check in checks)

    return every


def _missing(value: Any) -> bool:
    """No value: absent, None, an empty or blank string, an empty list."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | dict) and not value


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
        key = _domain_of_text(value) if self.by_domain else value
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


def _domain_only(test: Test) -> bool:
    """True when `test` is a domain-list test and nothing else (`exists: true` aside)."""
    given = {name for name in Test.model_fields if getattr(test, name) is not None}
    return test.domain_list is not None and test.exists is not False and given <= DOMAIN_TEST


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
        internal=_listed(model.domains.internal),
        competitors=_listed(model.domains.competitors),
        personal=domains.PERSONAL | _listed(model.domains.personal),
        education=_listed(model.domains.education),
        disposable=domains.DISPOSABLE | _listed(model.domains.disposable),
        target_accounts=_listed(model.domains.target_accounts),
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
            by_domain=_domain_only(a),
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
    )


def _always(_: Any) -> bool:
    return True
