"""Who follows a lead up: the model's routing rules, first match wins (`domain/routing.py`)."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, ValidatorFunctionWrapHandler, field_validator, model_validator

from leadscore.domain.emails import EmailError, normalize_email
from leadscore.domain.model_base import Strict, Test
from leadscore.domain.model_errors import InvalidSection, checked, duplicates, raw

MAX_TEAM = 100


class Condition(Test):
    """The test a lead's profile field must pass for its rule to apply."""

    field: str = Field(min_length=1, max_length=64, description="profile field, or email_domain")


def _salesperson(value: str) -> str:
    try:
        return normalize_email(value)
    except EmailError as error:
        raise ValueError(str(error)) from None


class RoutingRule(Strict):
    """One rule: when its condition holds (or always, without `when`), the lead goes to
    `owner`, or to one member of `team` (spread evenly by the lead)."""

    name: str = Field(min_length=1, max_length=64)
    when: Condition | None = None
    owner: str | None = None
    team: list[str] | None = Field(default=None, min_length=1, max_length=MAX_TEAM)

    @field_validator("owner")
    @classmethod
    def _owner_is_an_email(cls, owner: str | None) -> str | None:
        return None if owner is None else _salesperson(owner)

    @field_validator("team")
    @classmethod
    def _team_of_emails(cls, team: list[str] | None) -> list[str] | None:
        if team is None:
            return None
        problems: list[tuple[tuple[str | int, ...], str]] = []
        members: list[str] = []
        for index, member in enumerate(team):
            try:
                email = _salesperson(member)
            except ValueError as error:
                problems.append(((index,), str(error)))
                continue
            if email in members:  # twice the leads for one person
                problems.append(((index,), f"{email} is in the team twice"))
            members.append(email)
        if problems:
            raise InvalidSection(problems)
        return members

    @model_validator(mode="after")
    def _owner_or_team(self) -> Self:
        if (self.owner is None) == (self.team is None):
            raise ValueError("give either owner (one salesperson) or team (a list of them)")
        return self


def check_routing(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Unique names, and no rule after one without `when` (it could never apply)."""
    problems = duplicates(value)
    rules = value if isinstance(value, list) else []
    for index, rule in enumerate(rules[:-1]):
        if isinstance(rule, dict | Strict) and raw(rule, "when") is None:
            problems.append(
                (
                    (index + 1,),
                    f"never applies: rule [{index}] has no `when`, so it takes every lead",
                )
            )
            break
    return checked(value, handler, problems)
