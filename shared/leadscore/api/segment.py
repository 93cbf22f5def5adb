"""`POST /v1/sources/segment`: Segment and RudderStack calls (one, or `{"batch": [...]}`),
with an `ingest` key as the HTTP Basic user, as their HTTP APIs authenticate."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ConfigDict, Field, RootModel

from leadscore.api.bodies import RequestBody, event_errors, takes
from leadscore.api.deps import Dependencies, configured, new_router, parse_json, raw_body
from leadscore.api.forms import known_profile
from leadscore.api.problems import Problem, json_response
from leadscore.domain.events import EventError
from leadscore.domain.messages import Entry
from leadscore.domain.segment import call_entries

# Segment's HTTP API limits: 32 KB a call, 500 KB a batch.
MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024


class SegmentCall(BaseModel):
    """One call of the Segment spec; other keys are ignored."""

    model_config = ConfigDict(extra="allow")

    type: Literal["track", "page", "screen", "identify", "alias", "group"]
    messageId: str = Field(description="makes delivery idempotent: event id segment-<messageId>")
    timestamp: str | None = Field(default=None, description="ISO-8601; else originalTimestamp")
    userId: str | None = Field(default=None, description="the lead when it is an email")
    anonymousId: str | None = Field(
        default=None, description="the visitor, when it is one (16-64 of A-Za-z0-9_-)"
    )
    event: str | None = Field(default=None, description="track: the name, mapped to a type")
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = Field(default=None, description="identify, group")
    context: dict[str, Any] | None = Field(default=None, description="page.url, traits.email")
    previousId: str | None = Field(default=None, description="alias: the visitor it was")


class SegmentBatch(BaseModel):
    """Several calls; `context` applies to the calls without their own."""

    model_config = ConfigDict(extra="allow")

    batch: list[SegmentCall]
    context: dict[str, Any] | None = None


class SegmentBody(RootModel[SegmentCall | SegmentBatch]):
    """One call, or a batch of them."""


SEGMENT = RequestBody(
    SegmentBody,
    MAX_BATCH_BYTES,
    'one call of the Segment spec (at most 32 KB) or {{"batch": [...]}} ({limit}); a '
    "batch's valid calls are queued even when others are refused",
)


def calls_of(document: Any) -> tuple[list[Any], str]:
    """The calls of a body and the prefix naming each in errors ("batch[3]" or "")."""
    if isinstance(document, dict) and "batch" in document:
        calls = document["batch"]
        if not isinstance(calls, list):
            raise Problem(
                422, "the request is not valid", [{"field": "batch", "message": "must be a list"}]
            )
        context = document.get("context")
        if isinstance(context, dict):
            calls = [
                c | {"context": context} if isinstance(c, dict) and "context" not in c else c
                for c in calls
            ]
        return calls, "batch"
    if len(json.dumps(document, separators=(",", ":")).encode()) > MAX_CALL_BYTES:
        raise Problem(413, f"a call is at most {MAX_CALL_BYTES:,} bytes")
    return [document], ""


def routes(deps: Dependencies) -> Router:
    router = new_router()

    @router.post("/v1/sources/segment")
    @takes(SEGMENT)
    def post_segment() -> Response[str]:
        now = deps.clock()
        table = configured(deps.segment_events, "the Segment source")
        calls, prefix = calls_of(parse_json(raw_body(router, MAX_BATCH_BYTES)))
        entries, errors = _entries(calls, prefix, now, table, deps.segment_trusted)
        if entries:
            deps.queue.send(entries, now)
        if errors:
            detail = (
                f"{len(errors)} of {len(calls)} calls are not valid (named in errors); "
                "the others are queued"
            )
            raise Problem(422, detail, [e for found in errors for e in found])
        return json_response(200, {"success": True})

    return router


def _entries(
    calls: list[Any], prefix: str, now: datetime, table: Mapping[str, str], trusted: bool
) -> tuple[list[Entry], list[list[dict[str, str]]]]:
    """Every valid call's entries, and each invalid call's errors."""
    entries: list[Entry] = []
    errors: list[list[dict[str, str]]] = []
    for index, call in enumerate(calls):
        at = f"{prefix}[{index}]" if prefix else ""
        try:
            if prefix and len(json.dumps(call, separators=(",", ":")).encode()) > MAX_CALL_BYTES:
                raise EventError("", f"a call is at most {MAX_CALL_BYTES:,} bytes")
            entries += call_entries(call, now, table, known_profile, trusted)
        except EventError as error:
            errors.append(event_errors(error, at))
    return entries, errors
