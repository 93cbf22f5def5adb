"""What the lead does: engagement rules levelled 1-4, their recency and inactivity decay."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import (
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from leadscore.domain.model_base import Label, Points, Strict, Test
from leadscore.domain.model_errors import InvalidSection, Location, checked, duplicates, raw


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
    label: Label | None = None


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
    machine: Literal["ignore", "count"] = Field(
        default="ignore",
        description="machine opens and scanner clicks (domain/machine.py): ignore gives them no"
        " points and shows why in the history; count scores them as a person's",
    )

    @field_validator("rules", mode="wrap")
    @classmethod
    def _consistent_rules(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        problems = duplicates(value)
        groups = info.data.get("groups")
        if groups is not None and isinstance(value, list):  # None: groups have their own problems
            for index, rule in enumerate(value):
                group = raw(rule, "group")
                if isinstance(group, str) and group not in groups:
                    problems.append(((index, "group"), f"group {group!r} is not defined in groups"))
        return checked(value, handler, problems)

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
