"""The scoring-model document: what a marketing team writes in `models/*.yaml`, validated.

A model has explicit *fit* criteria (who the lead is, `model_fit.py`) graded A-D, implicit
*engagement* rules (what the lead does, `model_engagement.py`) levelled 1-4, negative and spam
criteria, inactivity decay, an optional account roll-up (`model_account.py`), and the
thresholds that turn a score into a sales alert. `parse_model` rejects a model with every
problem listed at once, each with its path in the document (`model_errors.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import (
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from leadscore.domain.model_account import Account
from leadscore.domain.model_base import Strict
from leadscore.domain.model_engagement import Decay, Engagement
from leadscore.domain.model_errors import InvalidSection, ModelError, checked, duplicates
from leadscore.domain.model_fit import Adjustment, Fit, Spam
from leadscore.domain.model_routing import RoutingRule, check_routing

# parse_model's callers catch its ModelError from here.
__all__ = ["ModelError", "ScoringModel", "parse_model"]

RATINGS = tuple(f"{grade}{level}" for grade in "ABCD" for level in (1, 2, 3, 4))
DEFAULT_SLA_HOURS: dict[str, float] = {"A1": 24, "B1": 24, "A2": 48, "A3": 48, "B2": 48, "B3": 48}


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
    target_accounts: list[str] = Field(default_factory=list, description="named accounts")

    @field_validator("*")
    @classmethod
    def _lowercase(cls, domains: list[str]) -> list[str]:
        return [d.strip().lower().lstrip("@") for d in domains]


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
    routing: list[RoutingRule] = Field(default_factory=list, max_length=100)

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
        return checked(value, handler, duplicates(value))

    @field_validator("routing", mode="wrap")
    @classmethod
    def _reachable_routes(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return check_routing(value, handler)


def parse_model(document: Mapping[str, Any]) -> ScoringModel:
    """Validate a model document; raise ModelError listing every problem with its path."""
    if not isinstance(document, Mapping):
        raise ModelError([{"path": "", "message": "a model must be a mapping (YAML or JSON)"}])
    try:
        return ScoringModel.model_validate(document)
    except ValidationError as error:
        raise ModelError.of(error) from None
