"""The scoring-model document: what a marketing team writes in `models/*.yaml`, validated.

A model has explicit *fit* criteria (who the lead is) graded A-D, implicit *engagement*
rules (what the lead does) levelled 1-4, negative and spam criteria, inactivity decay,
and the thresholds that turn a score into a sales alert. `parse_model` rejects a model
with every problem listed at once, each with its path in the document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

RATINGS = tuple(f"{grade}{level}" for grade in "ABCD" for level in (1, 2, 3, 4))
DOMAIN_LISTS = ("personal", "education", "disposable", "competitors", "internal")
Points = Annotated[float, Field(ge=-1000, le=1000)]
FitPoints = Annotated[float, Field(ge=-100, le=100)]
Penalty = Annotated[float, Field(ge=-1000, le=0)]  # negative criteria and spam take points away
Location = tuple[str | int, ...]


class InvalidSection(ValueError):
    """Several problems found by one check, each at a location inside the checked section."""

    def __init__(self, problems: list[tuple[Location, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(message for _, message in problems))


def _duplicates(items: Any) -> list[tuple[Location, str]]:
    """Every repeat of a name in a list, at its own path: `[4].name`."""
    seen: set[str] = set()
    problems: list[tuple[Location, str]] = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        name = _raw(item, "name")
        if isinstance(name, str):
            if name in seen:
                problems.append(((index, "name"), f"name {name!r} is used twice"))
            seen.add(name)
    return problems


def _raw(item: Any, key: str) -> Any:
    """A key of a list item, whether it is still the document's mapping or already a model."""
    return item.get(key) if isinstance(item, Mapping) else getattr(item, key, None)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _problems_of(error: ValidationError) -> list[tuple[Location, str]]:
    """Pydantic's errors as (location, message), each `InvalidSection` expanded to its problems."""
    problems: list[tuple[Location, str]] = []
    for detail in error.errors():
        location = tuple(detail["loc"])
        found = detail.get("ctx", {}).get("error")
        if isinstance(found, InvalidSection):
            problems += [(location + inner, message) for inner, message in found.problems]
        else:
            problems.append((location, detail["msg"].removeprefix("Value error, ")))
    return problems


def _checked(
    value: Any, handler: ValidatorFunctionWrapHandler, problems: list[tuple[Location, str]]
) -> Any:
    """Validate a list's items and report their problems together with the list's own ones.

    A list-wide check (unique names, weights summing to 100) runs on the document as written,
    so that it is reported even when some item has a problem of its own.
    """
    try:
        validated = handler(value)
    except ValidationError as error:
        raise InvalidSection(_problems_of(error) + problems) from None
    if problems:
        raise InvalidSection(problems)
    return validated


class Strict(BaseModel):
    """Base for every section: unknown keys are mistakes, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Test(Strict):
    """Tests on one value (a profile field or an event property); all given tests must pass.

    Text comparisons ignore case. `min`/`max` are inclusive, `below` is exclusive.
    """

    equals: str | float | bool | None = None
    in_: list[str | float] | None = Field(default=None, alias="in")
    not_in: list[str | float] | None = None
    min: float | None = None
    max: float | None = None
    below: float | None = None
    words: list[str] | None = None
    regex: str | None = None
    glob: str | None = None
    domain_list: (
        Literal["personal", "education", "disposable", "competitors", "internal"] | None
    ) = None
    exists: bool | None = None

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"invalid regular expression: {error}") from None
        return pattern

    @field_validator("words")
    @classmethod
    def _words_not_blank(cls, words: list[str] | None) -> list[str] | None:
        if words is not None and (not words or any(not w.strip() for w in words)):
            raise ValueError("words must be a non-empty list of non-blank words")
        return words

    @model_validator(mode="after")
    def _has_a_test(self) -> Self:
        problems: list[tuple[Location, str]] = []
        if not self.model_fields_set & TEST_KEYS:
            problems.append(
                (
                    (),
                    "needs at least one test (equals, in, not_in, min, max, below, words, "
                    "regex, glob, domain_list, exists)",
                )
            )
        if self.max is not None and self.below is not None:
            problems.append((("below",), "use either max (inclusive) or below (exclusive)"))
        low, high = self.min, self.max if self.max is not None else self.below
        if low is not None and high is not None and low > high:
            problems.append((("min",), f"min ({low:g}) is above the upper bound ({high:g})"))
        if problems:
            raise InvalidSection(problems)
        return self


TEST_KEYS = frozenset(
    {"equals", "in_", "not_in", "min", "max", "below", "words", "regex", "glob", "domain_list",
     "exists"}
)  # fmt: skip


class Criterion(Test):
    """One fit criterion: first matching criterion of a category gives its points (0-100)."""

    name: str = Field(min_length=1, max_length=64)
    field: str | None = Field(default=None, description="profile field; default: the category's")
    points: FitPoints


class FitCategory(Strict):
    name: str = Field(min_length=1, max_length=64)
    weight: float = Field(gt=0, le=100, description="share of the fit score, in percent")
    field: str | None = None
    criteria: list[Criterion] = Field(min_length=1, max_length=50)
    default_points: FitPoints = 0

    @model_validator(mode="after")
    def _every_criterion_has_a_field(self) -> Self:
        problems = [(("criteria", *at), why) for at, why in _duplicates(self.criteria)]
        if self.field is None:
            problems += [
                (("criteria", index, "field"), "needs a field (or set the category's field)")
                for index, criterion in enumerate(self.criteria)
                if criterion.field is None
            ]
        if problems:
            raise InvalidSection(problems)
        return self


class Grades(Strict):
    """Minimum fit score for each grade; below C is D."""

    A: float = Field(default=75, ge=0, le=100)
    B: float = Field(default=50, ge=0, le=100)
    C: float = Field(default=25, ge=0, le=100)

    @model_validator(mode="after")
    def _descending(self) -> Self:
        if not self.A > self.B > self.C:
            raise ValueError("grade thresholds must descend: A > B > C")
        return self


class CompletionBonus(Strict):
    """Fit points for each optional form field the lead filled in."""

    fields: list[str] = Field(min_length=1)
    points: Points


class Fit(Strict):
    categories: list[FitCategory] = Field(min_length=1, max_length=32)
    grades: Grades = Grades()
    base: Points = Field(default=0, description="fit points before any criterion")
    completion_bonus: CompletionBonus | None = None

    @field_validator("categories", mode="wrap")
    @classmethod
    def _weights_sum_to_100(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        problems = _duplicates(value)
        weights = [_number(_raw(c, "weight")) for c in value] if isinstance(value, list) else []
        if weights and None not in weights:  # a weight that is no number has its own problem
            total = sum(w for w in weights if w is not None)
            if abs(total - 100) > 0.01:
                message = f"category weights sum to {total:g} %, they must sum to 100 %"
                problems.append(((), message))
        return _checked(value, handler, problems)


class Adjustment(Test):
    """A negative or disqualifying profile criterion (competitor, student, out of area, ...)."""

    name: str = Field(min_length=1, max_length=64)
    field: str
    points: Penalty
    flag: str | None = Field(default=None, max_length=32, description="flag shown on the lead")
    disqualify: bool = False


class Spam(Strict):
    """Spam signals on form data; a spam lead is flagged and gets `penalty` fit points."""

    penalty: Penalty = -100
    lowercase_names: bool = True
    keyboard_run: int | None = Field(default=4, ge=3, le=10, description="adjacent keys; null=off")
    disposable_domains: bool = True
    disqualify: bool = False


class Limit(Strict):
    """At most `count` scored events per rule (and per `key` property value), `per` window."""

    count: int = Field(ge=1, le=50)
    per: Literal["ever", "day", "week"] = "ever"
    key: str | None = Field(default=None, description="event property, e.g. campaign or url")


class EngagementRule(Strict):
    name: str = Field(min_length=1, max_length=64)
    event: str | list[str] = Field(description="canonical event type(s)")

    @field_validator("event")
    @classmethod
    def _event_types(cls, event: str | list[str]) -> str | list[str]:
        kinds = [event] if isinstance(event, str) else event
        if not kinds or any(not kind.strip() for kind in kinds):
            raise ValueError("name one event type or a non-empty list of them")
        return event

    where: dict[str, Test] = Field(default_factory=dict, description="event property tests")
    points: Points
    limit: Limit | None = None
    group: str | None = None


class RecencyStep(Strict):
    """Actions at most `within_days` old when scored keep `weight` of their points."""

    within_days: float = Field(gt=0)
    weight: float = Field(ge=0, le=1)


class Group(Strict):
    cap: float = Field(gt=0, description="most engagement points the group's rules can give")


class Levels(Strict):
    """Minimum engagement score for levels 1-3 (1 = most engaged); below is level 4."""

    @model_validator(mode="before")
    @classmethod
    def _text_keys(cls, data: Any) -> Any:
        # YAML reads `1: 75` with a number as key: accept it as "1".
        if isinstance(data, Mapping):
            return {str(key): value for key, value in data.items()}
        return data

    level_1: float = Field(default=75, alias="1", ge=0, le=100)
    level_2: float = Field(default=50, alias="2", ge=0, le=100)
    level_3: float = Field(default=25, alias="3", ge=0, le=100)

    @model_validator(mode="after")
    def _descending(self) -> Self:
        if not self.level_1 > self.level_2 > self.level_3:
            raise ValueError("level thresholds must descend: 1 > 2 > 3")
        return self


class Engagement(Strict):
    # `groups` comes first: the rules' check reads it.
    groups: dict[str, Group] = Field(default_factory=dict)
    rules: list[EngagementRule] = Field(min_length=1, max_length=200)
    recency: list[RecencyStep] = Field(default_factory=list)
    older_weight: float = Field(default=1.0, ge=0, le=1, description="beyond the last step")
    levels: Levels = Levels()

    @field_validator("rules", mode="wrap")
    @classmethod
    def _consistent_rules(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        problems = _duplicates(value)
        groups = info.data.get("groups")
        if groups is not None and isinstance(value, list):  # None: groups have their own problems
            for index, rule in enumerate(value):
                group = _raw(rule, "group")
                if isinstance(group, str) and group not in groups:
                    problems.append(((index, "group"), f"group {group!r} is not defined in groups"))
        return _checked(value, handler, problems)

    @field_validator("recency")
    @classmethod
    def _increasing(cls, recency: list[RecencyStep]) -> list[RecencyStep]:
        problems: list[tuple[Location, str]] = [
            ((index, "within_days"), "recency steps must have increasing within_days")
            for index in range(1, len(recency))
            if recency[index].within_days <= recency[index - 1].within_days
        ]
        if problems:
            raise InvalidSection(problems)
        return recency


class Decay(Strict):
    """After `grace_days` without activity engagement shrinks, never below `floor` points."""

    grace_days: float = Field(default=30, ge=0)
    period_days: float = Field(default=7, gt=0)
    percent: float | None = Field(default=None, gt=0, le=100, description="lost per period")
    half_life_days: float | None = Field(default=None, gt=0)
    floor: float = Field(default=0, ge=0, le=100)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.percent is None) == (self.half_life_days is None):
            raise ValueError("set exactly one of percent (per period) or half_life_days")
        return self


class Weights(Strict):
    fit: float = Field(default=50, ge=0, le=100)
    engagement: float = Field(default=50, ge=0, le=100)

    @model_validator(mode="after")
    def _sum(self) -> Self:
        if abs(self.fit + self.engagement - 100) > 0.01:
            raise ValueError(f"fit and engagement weights sum to {self.fit + self.engagement:g}")
        return self


class Thresholds(Strict):
    mql: float = Field(default=60, gt=0, le=100)
    reset: float = Field(default=45, ge=0, le=100, description="falling below it cools an MQL")

    @model_validator(mode="after")
    def _reset_below_mql(self) -> Self:
        if self.reset >= self.mql:
            raise InvalidSection(
                [(("reset",), f"reset ({self.reset:g}) must be below mql ({self.mql:g})")]
            )
        return self


class Scope(Strict):
    """Which events count for this model (one model per product line)."""

    products: list[str] = Field(min_length=1)
    include_unscoped: bool = Field(default=True, description="count events without a product")


class DomainLists(Strict):
    """Email domains per list; personal, education and disposable extend built-in lists."""

    internal: list[str] = Field(default_factory=list)
    competitors: list[str] = Field(default_factory=list)
    personal: list[str] = Field(default_factory=list)
    education: list[str] = Field(default_factory=list)
    disposable: list[str] = Field(default_factory=list)

    @field_validator("*")
    @classmethod
    def _lowercase(cls, domains: list[str]) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in domains]


DEFAULT_SLA_HOURS: dict[str, float] = {"A1": 24, "B1": 24, "A2": 48, "A3": 48, "B2": 48, "B3": 48}


class AccountWeights(Strict):
    """Share of the account score (percent) of each part; they sum to 100."""

    fit: float = Field(default=25, ge=0, le=100, description="best fit among its people")
    engagement: float = Field(default=35, ge=0, le=100, description="capped engagement, summed")
    people: float = Field(default=25, ge=0, le=100, description="number of engaged people")
    roles: float = Field(default=15, ge=0, le=100, description="distinct roles among them")

    @model_validator(mode="after")
    def _sum(self) -> Self:
        total = self.fit + self.engagement + self.people + self.roles
        if abs(total - 100) > 0.01:
            raise ValueError(f"account weights sum to {total:g}, they must sum to 100")
        return self


class AccountThresholds(Strict):
    mqa: float = Field(default=60, gt=0, le=100)
    reset: float = Field(default=45, ge=0, le=100, description="falling below it cools an MQA")

    @model_validator(mode="after")
    def _reset_below_mqa(self) -> Self:
        if self.reset >= self.mqa:
            raise InvalidSection(
                [(("reset",), f"reset ({self.reset:g}) must be below mqa ({self.mqa:g})")]
            )
        return self


class Account(Strict):
    """How the scores of a company's people roll up into one account score (0-100).

    An account is the company domain of its people's emails (never a personal, education
    or disposable domain). A person counts unless disqualified or flagged with one of
    `ignore_flags`; a counted person is *engaged* from `engaged_min` engagement points.
    """

    engagement_cap: float = Field(
        default=50, gt=0, le=100, description="most engagement points one person adds"
    )
    engagement_full: float = Field(
        default=150, gt=0, le=10_000, description="summed engagement giving the full part"
    )
    engaged_min: float = Field(default=25, ge=0, le=100)
    people_full: int = Field(default=3, ge=1, le=50, description="engaged people for the full part")
    roles_full: int = Field(default=3, ge=1, le=50, description="distinct roles for the full part")
    role_category: str | None = Field(
        default="role", description="fit category whose matching criterion is a person's role"
    )
    ignore_flags: list[str] = Field(default_factory=lambda: ["non_buyer"])
    max_people: int = Field(default=20, ge=1, le=100, description="people kept per account")
    weights: AccountWeights = AccountWeights()
    grades: Grades = Grades()
    levels: Levels = Levels()
    thresholds: AccountThresholds = AccountThresholds()


class ScoringModel(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str = Field(min_length=1, max_length=120)
    description: str = ""
    version: int | None = Field(default=None, ge=1, description="set when published")
    scope: Scope | None = None
    domains: DomainLists = DomainLists()
    fit: Fit
    negative: list[Adjustment] = Field(default_factory=list, max_length=100)
    spam: Spam | None = Spam()
    engagement: Engagement
    decay: Decay | None = None
    weights: Weights = Weights()
    thresholds: Thresholds = Thresholds()
    sla_hours: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SLA_HOURS))
    account: Account | None = None

    @model_validator(mode="after")
    def _account_role_category(self) -> Self:
        category = None if self.account is None else self.account.role_category
        if category is not None and category not in {c.name for c in self.fit.categories}:
            raise InvalidSection(
                [(("account", "role_category"), f"fit has no category named {category!r}")]
            )
        return self

    @field_validator("sla_hours")
    @classmethod
    def _known_ratings(cls, sla: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(sla) - set(RATINGS))
        if unknown:
            raise ValueError(f"unknown ratings {unknown}: use A1..D4")
        if any(hours <= 0 for hours in sla.values()):
            raise ValueError("SLA hours must be positive")
        return sla

    @field_validator("negative", mode="wrap")
    @classmethod
    def _unique_names(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return _checked(value, handler, _duplicates(value))


class ModelError(ValueError):
    """A model that cannot be used, with every problem and its path in the document."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        lines = "; ".join(f"{p['path'] or '(model)'}: {p['message']}" for p in problems)
        super().__init__(f"invalid scoring model: {lines}")


# Pydantic names the branch of a union (`str | list[str]`) in an error's location.
UNION_BRANCHES = frozenset({"str", "int", "float", "bool", "none", "list[str]"})


def _path(location: Location) -> str:
    """('fit', 'categories', 2, 'weight') -> 'fit.categories[2].weight'."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in UNION_BRANCHES or "[" in part:
            continue
        else:
            name = "in" if part == "in_" else part
            path += f".{name}" if path else name
    return path


def _either(messages: list[str]) -> str:
    """One message per path: a union's branches read "should be a valid string or a number"."""
    first, *others = dict.fromkeys(messages)
    return " or ".join([first, *(m.removeprefix("Input should be ") for m in others)])


def parse_model(document: Mapping[str, Any]) -> ScoringModel:
    """Validate a model document; raise ModelError listing every problem with its path."""
    if not isinstance(document, Mapping):
        raise ModelError([{"path": "", "message": "a model must be a mapping (YAML or JSON)"}])
    try:
        return ScoringModel.model_validate(document)
    except ValidationError as error:
        problems: dict[str, list[str]] = {}  # path -> messages, in the document's order
        for location, message in _problems_of(error):
            problems.setdefault(_path(location), []).append(message)
        raise ModelError(
            [{"path": path, "message": _either(messages)} for path, messages in problems.items()]
        ) from None
