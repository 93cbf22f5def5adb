"""`GET /v1/health` and `POST /v1/events`: behaviour events from the user's own systems."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from leadscore.api.deps import Dependencies, json_body, new_router, require_api_key
from leadscore.api.problems import Problem, invalid, json_response
from leadscore.domain.events import EventError, canonical_event

MAX_EVENTS = 500


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
