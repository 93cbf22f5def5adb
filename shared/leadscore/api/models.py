"""`/v1/models`: list, read and publish scoring model versions."""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from leadscore.adapters import model_store
from leadscore.api.deps import Dependencies, json_body, new_router, require_api_key
from leadscore.api.problems import Problem, invalid, json_response
from leadscore.domain.model import ModelError, parse_model


def routes(deps: Dependencies) -> Router:
    router = new_router()

    @router.get("/v1/models")
    def list_models() -> Response[str]:
        require_api_key(router, deps)
        models = [
            {
                "id": item.model_id,
                "version": int(item.current_version),
                "published_at": int(item.published_at),
            }
            for item in model_store.catalog()
        ]
        return json_response(200, {"models": models})

    @router.get("/v1/models/<model_id>")
    def get_model(model_id: str) -> Response[str]:
        require_api_key(router, deps)
        entry = next((m for m in model_store.catalog() if m.model_id == model_id), None)
        if entry is None:
            raise Problem(404, "no model with this id")
        return json_response(200, entry.document)

    @router.put("/v1/models/<model_id>")
    def put_model(model_id: str) -> Response[str]:
        require_api_key(router, deps)
        document = json_body(router, 400_000)
        if not isinstance(document, Mapping):
            raise invalid("", "a model must be a JSON object")
        try:
            model = parse_model(document)
        except ModelError as error:
            raise Problem(
                422,
                f"the model has {len(error.problems)} problems",
                [{"field": p["path"], "message": p["message"]} for p in error.problems],
            ) from None
        if model.id != model_id:
            raise invalid("id", f"must match the id in the path ({model_id[:100]!r})")
        try:
            published = model_store.publish(model, deps.clock())
        except model_store.PublishConflict:
            raise Problem(409, "the model was published by someone else; try again") from None
        return json_response(
            200,
            {"id": published.id, "version": published.version},
            {"Location": f"/v1/models/{published.id}"},
        )

    return router
