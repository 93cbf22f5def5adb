"""`GET /v1/health`: the API answers."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from leadscore.api.deps import Dependencies, new_router


def routes(deps: Dependencies) -> Router:
    router = new_router()

    @router.get("/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return router
