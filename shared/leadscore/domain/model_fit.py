"""Who the lead is: fit criteria graded A-D, negative criteria and spam signals."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, ValidatorFunctionWrapHandler, field_validator, model_validator

from leadscore.domain.model_base import FitPoints, Label, Penalty, Points, Strict, Test
from leadscore.domain.model_errors import InvalidSection, checked, duplicates, raw


class Criterion(Test):
    """One fit criterion: first matching criterion of a category gives its points (0-100)."""

    name: str = Field(min_length=1, max_length=64)
    field: str | None = Field(default=None, description="profile field; default: the category's")
    points: FitPoints
    label: Label | None = None


class FitCategory(Strict):
    name: str = Field(min_length=1, max_length=64)
    weight: float = Field(gt=0, le=100, description="share of the fit score, in percent")
    field: str | None = None
    criteria: list[Criterion] = Field(min_length=1, max_length=50)
    default_points: FitPoints = 0

    @model_validator(mode="after")
    def _every_criterion_has_a_field(self) -> Self:
        problems = [(("criteria", *at), why) for at, why in duplicates(self.criteria)]
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
        problems = duplicates(value)
        weights = [_number(raw(c, "weight")) for c in value] if isinstance(value, list) else []
        if weights and None not in weights:  # a weight that is no number has its own problem
            total = sum(w for w in weights if w is not None)
            if abs(total - 100) > 0.01:
                message = f"category weights sum to {total:g} %, they must sum to 100 %"
                problems.append(((), message))
        return checked(value, handler, problems)


class Adjustment(Test):
    """A negative or disqualifying profile criterion (competitor, student, out of area, ...)."""

    name: str = Field(min_length=1, max_length=64)
    field: str
    points: Penalty
    flag: str | None = Field(default=None, max_length=32, description="flag shown on the lead")
    disqualify: bool = False
    label: Label | None = None


class Spam(Strict):
    """Spam signals on form data; a spam lead is flagged and gets `penalty` fit points."""

    penalty: Penalty = -100
    lowercase_names: bool = True
    keyboard_run: int | None = Field(default=4, ge=3, le=10, description="adjacent keys; null=off")
    disposable_domains: bool = True
    disqualify: bool = False


def _number(value: Any) -> float | None:
    """A weight as written, as a number; None where it is none (true is no weight)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
