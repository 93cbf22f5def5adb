"""`POST /v1/events`: behaviour events from the user's own systems."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import ValidationError

from leadscore.api.bodies import EVENTS, MAX_EVENTS, EventBody, event_errors, field_errors, takes
from leadscore.api.deps import Dependencies, new_router
from leadscore.api.problems import Problem, invalid, json_response
from leadscore.domain.events import EventError, canonical_event
from leadscore.domain.messages import Entry


def routes(deps: Dependencies) -> Router:
    router = new_router()

    @router.post("/v1/events")
    @takes(EVENTS)
    def post_events() -> Response[str]:
        document = EVENTS.json(router)
        documents = document if isinstance(document, list) else [document]
        if not documents:
            raise invalid("", "at least one event is required")
        if len(documents) > MAX_EVENTS:
            raise Problem(413, f"at most {MAX_EVENTS} events per request")
        now = deps.clock()
        errors: list[dict[str, str]] = []
        invalid_events = 0
        entries = []
        for index, item in enumerate(documents):
            at = f"[{index}]" if isinstance(document, list) else ""
            try:
                body = EventBody.model_validate(item)
                # The limits (domain/events.py) are checked here too: one rule, every way in.
                email, event = canonical_event(item, now)
                # its visitor, if named: your systems link (or move) it to the lead
                entries.append(Entry(email, event, body.visitor))
            except ValidationError as error:
                invalid_events += 1
                errors += field_errors(error, at)
            except EventError as error:
                invalid_events += 1
                errors += event_errors(error, at)
        if errors:
            detail = f"{invalid_events} of {len(documents)} events are not valid"
            raise Problem(422, detail, errors)
        deps.queue.send(entries, now)
        return json_response(
            202, {"accepted": len(entries), "event_ids": [entry[1].id for entry in entries]}
        )

    return router
