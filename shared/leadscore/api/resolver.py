"""One resolver from route modules: each route's key scope checked before its handler, and
every error once as problem+json. The public and the keyed function each build theirs
(api/public.py, api/app.py), so that the public one imports none of the keyed routes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from leadscore.adapters.webhooks import UnknownProvider, WebhookAuthError, WebhookFormatError
from leadscore.api.deps import Dependencies, authorize
from leadscore.api.problems import Problem, problem_response
from leadscore.api.scopes import SCOPES
from leadscore.domain.events import EventError

logger = Logger(child=True)
RouteModule = Callable[[Dependencies], Router]
ErrorHandlers = Mapping[type[Exception], Callable[[Any], Response[str]]]


def build(
    deps: Dependencies, modules: tuple[RouteModule, ...], errors: ErrorHandlers | None = None
) -> APIGatewayRestResolver:
    """The resolver of these route modules; `errors` maps the errors of their services."""
    app = APIGatewayRestResolver(enable_validation=True)
    for routes in modules:
        app.include_router(routes(deps))

    # A route missing from the scopes table fails the cold start, never serves without a key.
    registered = {
        (r.method.lower(), r.openapi_path) for r in app._static_routes + app._dynamic_routes
    }
    if unlisted := sorted(registered - set(SCOPES)):
        raise LookupError(f"routes without a scope in leadscore/api/scopes.py: {unlisted}")

    def check_scope(app: APIGatewayRestResolver, next_middleware: Any) -> Any:
        """Each route's scope (scopes.py) against the request's key, before its handler."""
        route = app.context["_route"]
        # Not a route of ours: Powertools' own "no such route" answer (404).
        needed = SCOPES.get((route.method.lower(), route.openapi_path))
        if needed is not None:
            authorize(app.current_event.raw_event, deps, needed)
        return next_middleware(app)

    app.use([check_scope])

    def problem(error: Problem) -> Response[str]:
        return problem_response(error.status, error.detail, error.errors, error.headers)

    def invalid_event(error: EventError) -> Response[str]:
        message = str(error).split(": ", 1)[-1]
        return problem_response(
            422, "the event is not valid", [{"field": error.field, "message": message}]
        )

    def invalid_request(error: RequestValidationError) -> Response[str]:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg"))}
            for e in error.errors()
        ]
        return problem_response(422, "the request is not valid", errors)

    def webhook_auth(error: WebhookAuthError) -> Response[str]:
        challenge = {"WWW-Authenticate": error.challenge} if error.challenge else {}
        return problem_response(401, str(error), headers=challenge)

    def webhook_format(error: WebhookFormatError) -> Response[str]:
        return problem_response(400, str(error))

    def webhook_provider(error: UnknownProvider) -> Response[str]:
        return problem_response(404, str(error))

    def not_found(error: NotFoundError) -> Response[str]:
        return problem_response(404, "no such route")

    def server_fault(error: Exception) -> Response[str]:
        # A fault of ours (a bug, AWS unavailable): logged in full, answered without details.
        logger.exception("request failed")
        return problem_response(500, "the request could not be processed; try again later")

    handlers: dict[type[Exception], Any] = {
        Problem: problem,
        EventError: invalid_event,
        RequestValidationError: invalid_request,
        WebhookAuthError: webhook_auth,
        WebhookFormatError: webhook_format,
        UnknownProvider: webhook_provider,
        NotFoundError: not_found,
        **(errors or {}),
        Exception: server_fault,
    }
    for error_type, handler in handlers.items():
        app.exception_handler(error_type)(handler)

    return app
