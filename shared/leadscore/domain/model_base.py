"""The parts every model section is built from: a strict base, point ranges and value tests."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from leadscore.domain.model_errors import InvalidSection, Location
from leadscore.domain.regexes import MAX_PATTERN_CHARS, linear_regex

Points = Annotated[float, Field(ge=-1000, le=1000)]
FitPoints = Annotated[float, Field(ge=-100, le=100)]
Penalty = Annotated[float, Field(ge=-1000, le=0)]  # negative criteria and spam take points away
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _readable(label: str) -> str:
    if not label.strip() or _CONTROL.search(label):
        raise ValueError("a label is text on one line, not blank")
    return label.strip()


# A rule's reason in the model's own words, shown instead of the one made (domain/explain.py).
Label = Annotated[
    str,
    Field(max_length=120, description="the reason in words, e.g. Visited the pricing page"),
    AfterValidator(_readable),
]


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
        Literal["personal", "education", "disposable", "competitors", "internal", "target_accounts"]
        | None
    ) = None
    exists: bool | None = None

    @field_validator("regex")
    @classmethod
    def _regex_runs_in_linear_time(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            linear_regex(pattern)  # or RegexRefused, a ValueError saying why it cannot run
        return pattern

    @field_validator("glob")
    @classmethod
    def _glob_bounded(cls, pattern: str | None) -> str | None:
        if pattern is not None and len(pattern) > MAX_PATTERN_CHARS:
            raise ValueError(f"a glob has at most {MAX_PATTERN_CHARS} characters")
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
