"""`GET /v1/health` and `POST /v1/events`: behaviour events from the user's own systems."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from leadscore.api.deps import Dependencies, json_body, new_router, require_api_key
from leadscore.api.problems import Problem, invalid, json_response
from leadscore.domain.events import Event, EventError, event_from_dict
from leadscore.services.messages import normalize_email

MAX_EVENTS = 500


def canonical_event(document: Any, received_at: Any) -> tuple[str, Event]:
    """One `POST /v1/events` document -> (normalised email, Event); EventError names the field."""
    if not isinstance(document, Mapping):
        raise EventError("", "an event must be a JSON object")
    email = normalize_email(document.get("email"))
    # The email is normalised first so a retried post with other casing gets the same id.
    try:
        return email, event_from_dict({**document, "email": email}, received_at)
    except EventError:
        raise
    except (OverflowError, OSError, ValueError):
        raise EventError("occurred_at", "out of range") from None


def routes(deps: Dependencies) -> Router:
    router = new_router()

    @router.get("/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.post("/v1/events")
    def post_events() -> Response[str]:
        require_api_key(router, deps)
        document = json_body(router)
        documents = document if isinstance(document, list) else [document]
        if not documents:
            raise invalid("", "at least one event is required")
        if len(documents) > MAX_EVENTS:
            raise Problem(413, f"at most {MAX_EVENTS} events per request")
        now = deps.clock()
        entries, errors = [], []
        for index, item in enumerate(documents):
            prefix = f"[{index}]" if isinstance(document, list) else ""
            try:
                entries.append(canonical_event(item, now))
            except EventError as error:
                field = ".".join(part for part in (prefix, error.field) if part)
                errors.append({"field": field, "message": str(error).split(": ", 1)[-1]})
        if errors:
            raise Problem(422, f"{len(errors)} of {len(documents)} events are not valid", errors)
        deps.queue.send(entries, now)
        return json_response(
            202, {"accepted": len(entries), "event_ids": [event.id for _, event in entries]}
        )

    return router
