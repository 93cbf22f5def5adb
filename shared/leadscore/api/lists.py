"""`GET /v1/leads` and `GET /v1/accounts`: the sales lists (contract §3 "Lists")."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadscore.api.bodies import field_errors
from leadscore.api.deps import Dependencies, new_router
from leadscore.api.problems import Problem, json_response
from leadscore.api.queries import takes_query
from leadscore.domain.times import epoch
from leadscore.services import lists
from leadscore.services.profiles import owner_value
from leadscore.services.store import AccountSort, LeadSort, ListFilters

RATING = re.compile(r"^[A-D][1-4]$")
INVALID = "the list's query is not valid"


class ListParameters(BaseModel):
    """What both lists take: every parameter is optional."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] | None = Field(
        default=None, description="the model listed; required when several models exist"
    )
    rating: tuple[Annotated[str, Field(pattern=RATING.pattern)], ...] = Field(
        default=(), max_length=16, description="any of these ratings, e.g. A1,A2,B1"
    )
    grade: Literal["A", "B", "C", "D"] | None = None
    limit: int = Field(default=50, ge=1, le=200, description="rows per page")
    cursor: Annotated[str, Field(max_length=lists.MAX_CURSOR_CHARS)] | None = Field(
        default=None, description="the previous page's next_cursor, with the same parameters"
    )

    @field_validator("rating", mode="before")
    @classmethod
    def _ratings(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        ratings = tuple(part.strip().upper() for part in value.split(",") if part.strip())
        if not all(RATING.match(r) for r in ratings):
            raise ValueError("ratings are A1 to D4, separated by commas")
        return ratings


class LeadListParameters(ListParameters):
    status: Literal["open", "mql"] | None = None
    owner: Annotated[str, Field(min_length=1, max_length=254)] | None = Field(
        default=None, description="the leads of this owner (a salesperson's email)"
    )
    sort: LeadSort = Field(
        default="-score", description="sla_due_at: soonest follow-up deadline first, overdue first"
    )


class AccountListParameters(ListParameters):
    status: Literal["open", "mqa"] | None = None
    sort: AccountSort = "-score"


Parameters = TypeVar("Parameters", bound=ListParameters)


def _parameters(router: Router, model: type[Parameters]) -> Parameters:
    given = router.current_event.query_string_parameters or {}
    try:
        return model.model_validate(given)
    except ValidationError as error:
        raise Problem(422, INVALID, field_errors(error)) from None


def _query(kind: str, parameters: ListParameters, owner: str | None = None) -> lists.ListQuery:
    status = getattr(parameters, "status", None)
    filters = ListFilters(status, parameters.rating, parameters.grade, owner)
    sort = str(getattr(parameters, "sort", "-score"))
    return lists.ListQuery(
        kind, parameters.model, sort, filters, parameters.limit, parameters.cursor
    )


def routes(deps: Dependencies) -> Router:
    router = new_router()

    @router.get("/v1/leads")
    @takes_query(LeadListParameters)
    def list_leads() -> Response[str]:
        parameters = _parameters(router, LeadListParameters)
        owner = None if parameters.owner is None else str(owner_value(parameters.owner))
        query = _query("leads", parameters, owner)
        page = _answer(deps, query)
        return json_response(200, page)

    @router.get("/v1/accounts")
    @takes_query(AccountListParameters)
    def list_accounts() -> Response[str]:
        query = _query("accounts", _parameters(router, AccountListParameters))
        return json_response(200, _answer(deps, query))

    return router


def _answer(deps: Dependencies, query: lists.ListQuery) -> dict[str, Any]:
    """The page, or the problem: 400 for a cursor not ours, 422 for a model it cannot list."""
    lister = lists.lead_list if query.kind == "leads" else lists.account_list
    try:
        return lister(
            deps.store, deps.models.current(), query, deps.list_cursor_key(), epoch(deps.clock())
        )
    except lists.CursorRefused as error:
        raise Problem(400, str(error)) from None
    except lists.ModelRefused as error:
        refused = {"field": error.field, "message": str(error), "allowed": error.allowed}
        raise Problem(422, INVALID, [refused]) from None
