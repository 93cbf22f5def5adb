"""The OpenAPI document generated from the routes: `python -m leadscore.api.openapi`.

Powertools lists the resolver's routes; each route's request body comes from its handler's
`@takes` (bodies.py), its query parameters from `@takes_query` (queries.py) and its answers
from responses.py, so the routes are listed by the code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.compat import model_json
from aws_lambda_powertools.event_handler.openapi.models import (
    OpenAPI,
    Operation,
    Parameter,
    RequestBody,
    Response,
    Schema,
)
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from leadscore.adapters.webhooks import EnvironmentSecrets
from leadscore.api import responses
from leadscore.api.app import build
from leadscore.api.bodies import body_of
from leadscore.api.deps import Dependencies
from leadscore.api.queries import query_of
from leadscore.domain.events import Event
from leadscore.domain.messages import Entry

COMPONENTS = "#/components/schemas/"
# Methods whose routes must each say what body they take.
WITH_BODY = ("post", "put", "patch")
Mode = Literal["validation", "serialization"]


class _NoQueue:
    def send(self, entries: Sequence[tuple[str, Event] | Entry], received_at: datetime) -> int:
        raise RuntimeError("the OpenAPI document needs no queue")


def resolver(api_key: str | None = None) -> APIGatewayRestResolver:
    """The API's resolver with nothing behind it (no AWS): to list and describe its routes."""
    return build(Dependencies(queue=_NoQueue(), secrets=EnvironmentSecrets({}), api_key=api_key))


def operations(app: APIGatewayRestResolver) -> dict[tuple[str, str], Callable[..., Any]]:
    """(method, path) -> handler, for every route of the resolver."""
    # Powertools keeps its routes in these lists, and reads them the same way for its document.
    return {
        (route.method.lower(), route.openapi_path): route.func
        for route in app._static_routes + app._dynamic_routes
    }


def describe(document: OpenAPI, routes: dict[tuple[str, str], Callable[..., Any]]) -> None:
    """Each route's request body and answers, and their models as the only components."""
    if unlisted := sorted(set(routes) ^ set(responses.ROUTES)):
        raise LookupError(f"routes and responses.ROUTES differ: {unlisted}")
    # A probe (GET, HEAD) may read a body too: it has its answers (413), not a request body.
    read = {route: body_of(handler) for route, handler in routes.items()}
    answers = {route: responses.answers(*route, body) for route, body in read.items()}
    bodies = {route: body for route, body in read.items() if route[0] in WITH_BODY}
    if undescribed := sorted(route for route, body in bodies.items() if not body):
        raise LookupError(f"routes whose request body is not described by @takes: {undescribed}")
    # A model both taken and answered (a scoring model) is described as it is taken.
    modes: dict[type[BaseModel], Mode] = {
        answer.body: "serialization"
        for route in answers.values()
        for answer in route.values()
        if answer.body
    }
    modes |= {body.model: "validation" for body in bodies.values() if body and body.model}
    ordered = sorted(modes.items(), key=lambda item: item[0].__name__)
    found, definitions = models_json_schema(ordered, ref_template=COMPONENTS + "{model}")
    refs = {model: found[model, mode] for model, mode in ordered}
    if document.components is None or document.paths is None:
        raise LookupError("Powertools generated no document")
    # Powertools' own components describe its validation errors, which no route answers.
    schemas = definitions.get("$defs", {})
    document.components.schemas = {
        name: Schema.model_validate(schemas[name]) for name in sorted(schemas)
    }
    for (method, path), given in answers.items():
        operation: Operation = getattr(document.paths[path], method)
        if body := bodies.get((method, path)):
            operation.requestBody = RequestBody.model_validate(
                {
                    "description": body.description,
                    "required": body.required,
                    "content": {
                        media: {"schema": refs[body.model] if body.model else {}}
                        for media in body.media_types
                    },
                }
            )
        operation.responses = {status: _response(answer, refs) for status, answer in given.items()}
        if query := query_of(routes[method, path]):
            operation.parameters = [*(operation.parameters or []), *query_parameters(query)]


def query_parameters(model: type[BaseModel]) -> list[Parameter]:
    """The model's fields as query parameters; a list is one comma-separated value."""
    schema = model.model_json_schema(mode="validation")
    if "$defs" in schema:
        raise LookupError(f"{model.__name__}: a query parameter is a value or a list of values")
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema["properties"].items():
        value = _given(field)
        document: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if description := value.pop("description", None):
            document["description"] = description
        value.pop("title", None)
        if value.get("type") == "array":
            document |= {"style": "form", "explode": False}  # rating=A1,A2
        parameters.append(Parameter.model_validate({**document, "schema": value}))
    return parameters


def _given(field: dict[str, Any]) -> dict[str, Any]:
    """A field's schema when it is given: a query parameter is absent, never null."""
    branches = [b for b in field.get("anyOf", ()) if b != {"type": "null"}]
    if len(branches) != 1:
        return dict(field)
    rest = {k: v for k, v in field.items() if k != "anyOf" and (k, v) != ("default", None)}
    return {**branches[0], **rest}


def _response(answer: responses.Answer, refs: dict[type[BaseModel], Any]) -> Response:
    document: dict[str, Any] = {"description": answer.description}
    if answer.headers:
        document["headers"] = {
            name: {"description": responses.HEADERS[name], "schema": {"type": "string"}}
            for name in answer.headers
        }
    if answer.body:
        document["content"] = {answer.media_type: {"schema": refs[answer.body]}}
    elif answer.media_type != "application/json":  # text whose content is the platform's
        document["content"] = {answer.media_type: {"schema": {"type": "string"}}}
    return Response.model_validate(document)


def document() -> str:
    app = resolver()
    schema = app.get_openapi_schema(
        title="LeadScore API", version="1", description="B2B lead scoring: events in, scores out."
    )
    describe(schema, operations(app))
    return str(model_json(schema, by_alias=True, exclude_none=True, indent=2)) + "\n"


if __name__ == "__main__":
    sys.stdout.write(document())
