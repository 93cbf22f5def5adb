"""The OpenAPI document generated from the routes: `python -m leadscore.api.openapi`."""

from __future__ import annotations

import sys
from datetime import datetime

from aws_lambda_powertools.event_handler.openapi.compat import model_json

from leadscore.adapters.webhooks import EnvironmentSecrets
from leadscore.api import bodies, responses
from leadscore.api.app import build
from leadscore.api.deps import Dependencies
from leadscore.domain.events import Event


class _NoQueue:
    def send(self, entries: list[tuple[str, Event]], received_at: datetime) -> int:
        raise RuntimeError("the OpenAPI document needs no queue")


def document() -> str:
    app = build(Dependencies(queue=_NoQueue(), secrets=EnvironmentSecrets({})))
    schema = app.get_openapi_schema(
        title="LeadScore API", version="1", description="B2B lead scoring: events in, scores out."
    )
    # Powertools documents the bodies it validates and a 200 with its own 422; our routes
    # validate their bodies themselves and answer their own statuses, in problem+json.
    bodies.describe(schema)
    responses.describe(schema)
    return str(model_json(schema, by_alias=True, exclude_none=True, indent=2)) + "\n"


if __name__ == "__main__":
    sys.stdout.write(document())
