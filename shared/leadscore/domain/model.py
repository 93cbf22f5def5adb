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
    field_validator,
    model_validator,
)

RATINGS = tuple(f"{grade}{level}" for grade in "ABCD" for level in (1, 2, 3, 4))
DOMAIN_LISTS = ("personal", "education", "disposable", "competitors", "internal")
Points = Annotated[float, Field(ge=-1000, le=1000)]


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
    domain_list: Literal["personal", "education", "disposable", "competitors", "internal"] | None = (
        None
    )
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
        if not self.model_fields_set - {"field", "name", "points", "flag", "disqualify"}:
            raise ValueError(
                "needs at least one test (equals, in, not_in, min, max, below, words, "
                "regex, glob, domain_list, exists)"
            )
        if self.max is not None and self.below is not None:
            raise ValueError("use either max (inclusive) or below (exclusive), not both")
        return self


class Criterion(Test):
    """One fit criterion: first matching criterion of a category gives its points (0-100)."""

    name: str = Field(min_length=1, max_length=64)
    field: str | None = Field(default=None, description="profile field; default: the category's")
    points: Points


class FitCategory(Strict):
    name: str = Field(min_length=1, max_length=64)
    weight: float = Field(gt=0, le=100, description="share of the fit score, in percent")
    field: str | None = None
    criteria: list[Criterion] = Field(min_length=1)
    default_points: Points = 0

    @model_validator(mode="after")
    def _every_criterion_has_a_field(self) -> Self:
        if self.field is None:
            missing = [c.name for c in self.criteria if c.field is None]
            if missing:
                raise ValueError(f"criteria {missing} need a field (or set the category's)")
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

    @model_validator(mode="after")
    def _weights_sum_to_100(self) -> Self:
        total = sum(c.weight for c in self.categories)
        if abs(total - 100) > 0.01:
            raise ValueError(f"category weights sum to {total:g} %, they must sum to 100 %")
        names = [c.name for c in self.categories]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"category names must be unique: {duplicates}")
        return self


class Adjustment(Test):
    """A negative or disqualifying profile criterion (competitor, student, out of area, ...)."""

    name: str = Field(min_length=1, max_length=64)
    field: str
    points: Points = Field(le=0)
    flag: str | None = Field(default=None, max_length=32, description="flag shown on the lead")
    disqualify: bool = False


class Spam(Strict):
    """Spam signals on form data; a spam lead is flagged and gets `penalty` fit points."""

    penalty: Points = Field(default=-100, le=0)
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

    level_1: float = Field(default=75, alias="1", ge=0, le=100)
    level_2: float = Field(default=50, alias="2", ge=0, le=100)
    level_3: float = Field(default=25, alias="3", ge=0, le=100)

    @model_validator(mode="after")
    def _descending(self) -> Self:
        if not self.level_1 > self.level_2 > self.level_3:
            raise ValueError("level thresholds must descend: 1 > 2 > 3")
        return self


class Engagement(Strict):
    rules: list[EngagementRule] = Field(min_length=1, max_length=200)
    groups: dict[str, Group] = Field(default_factory=dict)
    recency: list[RecencyStep] = Field(default_factory=list)
    older_weight: float = Field(default=1.0, ge=0, le=1, description="beyond the last step")
    levels: Levels = Levels()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = []
        names = [r.name for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problems.append(f"rule names must be unique: {duplicates}")
        undefined = sorted({r.group for r in self.rules if r.group and r.group not in self.groups})
        if undefined:
            problems.append(f"rules name undefined groups {undefined}: define them in groups")
        days = [step.within_days for step in self.recency]
        if days != sorted(set(days)):
            problems.append("recency steps must have increasing within_days")
        if problems:
            raise ValueError("; ".join(problems))
        return self


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
            raise ValueError(f"reset ({self.reset:g}) must be below mql ({self.mql:g})")
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


DEFAULT_SLA_HOURS = {"A1": 24, "B1": 24, "A2": 48, "A3": 48, "B2": 48, "B3": 48}


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

    @field_validator("sla_hours")
    @classmethod
    def _known_ratings(cls, sla: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(sla) - set(RATINGS))
        if unknown:
            raise ValueError(f"unknown ratings {unknown}: use A1..D4")
        if any(hours <= 0 for hours in sla.values()):
            raise ValueError("SLA hours must be positive")
        return sla

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [a.name for a in self.negative]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"negative criterion names must be unique: {duplicates}")
        return self


class ModelError(ValueError):
    """A model that cannot be used, with every problem and its path in the document."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        lines = "; ".join(f"{p['path'] or '(model)'}: {p['message']}" for p in problems)
        super().__init__(f"invalid scoring model: {lines}")


def _path(location: tuple[int | str, ...]) -> str:
    """('fit', 'categories', 2, 'weight') -> 'fit.categories[2].weight'."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "in_":
            path += ".in"
        else:
            path += f".{part}" if path else str(part)
    return path


def parse_model(document: Mapping[str, Any]) -> ScoringModel:
    """Validate a model document; raise ModelError listing every problem with its path."""
    if not isinstance(document, Mapping):
        raise ModelError([{"path": "", "message": "a model must be a mapping (YAML or JSON)"}])
    try:
        return ScoringModel.model_validate(document)
    except ValidationError as error:
        problems = [
            {"path": _path(tuple(e["loc"])), "message": e["msg"].removeprefix("Value error, ")}
            for e in error.errors()
        ]
        raise ModelError(problems) from None
