"""How the scores of a company's people roll up into one account score: the model's section."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from leadscore.domain.model_base import Strict
from leadscore.domain.model_engagement import Levels
from leadscore.domain.model_errors import InvalidSection
from leadscore.domain.model_fit import Grades


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
