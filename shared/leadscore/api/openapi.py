"""The OpenAPI document generated from the routes: `python -m leadscore.api.openapi`."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from leadscore.adapters.webhooks import EnvironmentSecrets
from leadscore.api.app import build
from leadscore.api.deps import Dependencies
from leadscore.domain.events import Event


class _NoQueue:
    def send(self, entries: list[tuple[str, Event]], received_at: datetime) -> int:
        raise RuntimeError("the OpenAPI document needs no queue")


def document() -> str:
    app = build(Dependencies(queue=_NoQueue(), secrets=EnvironmentSecrets({})))
    schema: Any = app.get_openapi_json_schema(
        title="LeadScore API", version="1", description="B2B lead scoring: events in, scores out."
    )
    return str(schema) + "\n"


if __name__ == "__main__":
    sys.stdout.write(document())
