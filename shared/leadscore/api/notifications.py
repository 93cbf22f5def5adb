"""`GET /v1/notifications`: the recent notifications and their delivery state (the console's
alerts page)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadscore.api.bodies import field_errors
from leadscore.api.deps import Dependencies, new_router
from leadscore.api.problems import Problem, json_response
from leadscore.api.queries import takes_query
from leadscore.domain.times import epoch
from leadscore.services import lists
from leadscore.services.notification_log import recent_notifications


class NotificationParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: int = Field(default=50, ge=1, le=200, description="notifications per page")
    cursor: Annotated[str, Field(max_length=lists.MAX_CURSOR_CHARS)] | None = Field(
        default=None, description="the previous page's next_cursor"
    )


def routes(deps: Dependencies) -> Router:
    router = new_router()

    @router.get("/v1/notifications")
    @takes_query(NotificationParameters)
    def list_notifications() -> Response[str]:
        given = router.current_event.query_string_parameters or {}
        try:
            parameters = NotificationParameters.model_validate(given)
        except ValidationError as error:
            raise Problem(422, "the query is not valid", field_errors(error)) from None
        try:
            page = recent_notifications(
                deps.store,
                parameters.limit,
                parameters.cursor,
                deps.list_cursor_key(),
                epoch(deps.clock()),
            )
        except lists.CursorRefused as error:
            raise Problem(400, str(error)) from None
        return json_response(200, page)

    return router
