"""`/v1/leads/{email}`: scores, their history, erasure and sales feedback."""

from __future__ import annotations

from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from leadscore.api.bodies import FEEDBACK, takes
from leadscore.api.deps import Dependencies, new_router
from leadscore.api.problems import invalid, json_response
from leadscore.domain.emails import EmailError, normalize_email
from leadscore.services import leads


def _email(value: str) -> str:
    """The path's address in canonical form (API Gateway may pass it percent-encoded)."""
    try:
        return normalize_email(unquote(value))
    except EmailError:
        raise invalid("email", "not a valid email address") from None


def routes(deps: Dependencies) -> Router:
    router = new_router()

    @router.get("/v1/leads/<email>")
    def get_lead(email: str) -> Response[str]:
        address = _email(email)  # a refusal before the models' read
        lead = leads.lead_view(deps.store, deps.models.current(), address, deps.clock())
        return json_response(200, lead)

    @router.get("/v1/leads/<email>/history")
    def get_history(email: str) -> Response[str]:
        return json_response(200, leads.lead_history(deps.store, _email(email)))

    @router.delete("/v1/leads/<email>")
    def erase_lead(email: str) -> Response[str]:
        address = _email(email)
        leads.erase_lead(deps.store, deps.models.current(), deps.publisher, address, deps.clock())
        return Response(status_code=204, body="")

    @router.post("/v1/leads/<email>/feedback")
    @takes(FEEDBACK)
    def post_feedback(email: str) -> Response[str]:
        address = _email(email)
        feedback = FEEDBACK.read(router)
        leads.record_feedback(
            deps.store,
            address,
            feedback.outcome,
            feedback.model,
            feedback.note,
            deps.clock(),
            feedback.owner,
        )
        return json_response(202, {"status": "recorded", "outcome": feedback.outcome})

    return router
