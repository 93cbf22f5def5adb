"""The request bodies of the API as pydantic models, for its OpenAPI document.

They describe; the routes validate. Each route reads its body itself (after the API key,
within its size limit) and the domain code checks it, so that a refusal keeps its status
(413 above 500 events, 400 for a body that is no JSON) and its problem+json errors keep
their paths (`[3].email`, `fit.categories[2].weight`). Powertools' `Body()` validation would
answer 422 with pydantic's paths and messages, before the key check. Only
`python -m leadscore.api.openapi` and the tests import this module, never the Lambda.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.models import (
    OpenAPI,
    Operation,
    PathItem,
    RequestBody,
    Schema,
)
from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.json_schema import models_json_schema

from leadscore.api.deps import MAX_BODY_BYTES
from leadscore.api.events import MAX_EVENTS
from leadscore.api.forms import MAX_CUSTOM_FIELDS, MAX_FORM_BYTES
from leadscore.domain.events import CANONICAL_TYPES
from leadscore.domain.model import ScoringModel

COMPONENTS = "#/components/schemas/"
# What `normalize_email` accepts: a local part, the last "@", a domain with a dot; no
# whitespace inside, any around.
EMAIL_PATTERN = r"^\s*\S+@[^\s@]*\.[^\s@]*\s*$"
Email = Annotated[
    str,
    Field(
        pattern=EMAIL_PATTERN,
        max_length=254,
        description="the lead's address; compared without case and surrounding spaces",
        examples=["jane.doe@acme-corp.com"],
    ),
]
NotBlank = Annotated[str, Field(pattern=r"\S")]
# The epoch seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
EpochSeconds = Annotated[float, Field(ge=-62_135_596_800, le=253_402_300_799)]
FormValue = str | float | bool | None


class Event(BaseModel):
    """One behaviour event from the user's own systems; other keys are ignored."""

    model_config = ConfigDict(extra="allow")

    id: NotBlank | None = Field(
        default=None,
        description="makes delivery idempotent: the same id is never counted twice "
        "(without one, the event's content is its id)",
    )
    email: Email
    type: NotBlank = Field(
        description="a canonical type, or another one (scored only where a model has a rule "
        "for it)",
        examples=sorted(CANONICAL_TYPES),
    )
    occurred_at: datetime | EpochSeconds | None = Field(
        default=None,
        description="ISO-8601 (UTC without an offset) or epoch seconds; default: when received",
    )
    product: str | None = Field(default=None, description="the product line it concerns")
    properties: dict[str, Any] | None = Field(
        default=None, description="what a model's rules test: url, campaign, ..."
    )
    profile: dict[str, Any] | None = Field(
        default=None, description="what the event tells about the lead: company, job_title, ..."
    )


class Events(RootModel[Event | Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS)]]):
    """One event or a list of them (more than the most per request: 413)."""


class FormSubmission(BaseModel):
    """A website form: JSON, or the same fields urlencoded (a plain HTML form; values as text).

    Other fields are kept as custom attributes (the first 20 that are not empty); `utm_*`
    fields are kept as the form's context.
    """

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, FormValue] = Field(init=False)

    email: Email
    first_name: FormValue = None
    last_name: FormValue = None
    company: FormValue = None
    job_title: FormValue = None
    industry: FormValue = None
    company_size: FormValue = Field(
        default=None,
        description="employees: a number or a range such as 51-200",
        examples=["51-200", 12, "1,000+"],
    )
    annual_revenue: FormValue = None
    country: FormValue = Field(
        default=None, description="a name or an ISO 3166 code", examples=["Germany", "US"]
    )
    phone: FormValue = None
    website: FormValue = None
    form: FormValue = Field(
        default=None,
        description="which form",
        examples=["demo-request", "contact-us", "newsletter", "whitepaper"],
    )
    page_url: FormValue = None
    product: FormValue = None
    gotcha: FormValue = Field(
        default=None,
        alias="_gotcha",
        description="a honeypot: when it is filled, the answer is as for success and nothing "
        "is scored",
    )
    redirect: str | None = Field(
        default=None,
        alias="_redirect",
        description="urlencoded posts: answer 303 to this URL when its origin is on the allow-list",
    )


class Feedback(BaseModel):
    """A sales outcome for a lead; other keys are ignored."""

    model_config = ConfigDict(extra="allow")

    outcome: Literal["accepted", "rejected", "won", "lost"]
    model: str | None = Field(default=None, max_length=100, description="the model it concerns")
    note: str | None = Field(default=None, max_length=2_000)


class RescoreOptions(BaseModel):
    """How to rescore every lead; an empty body (or `null`) takes the defaults."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(default=False, description="report what would change, change nothing")
    notify: bool = Field(default=False, description="notify sales of the leads that become MQL")


@dataclass(frozen=True)
class Body:
    """A route's request body: its model (None: any content) and the media types it comes in."""

    model: type[BaseModel] | None
    media_types: tuple[str, ...]
    description: str
    required: bool = True


JSON = ("application/json",)
BODIES: dict[tuple[str, str], Body] = {
    ("post", "/v1/events"): Body(Events, JSON, f"at most {MAX_BODY_BYTES:,} bytes"),
    ("post", "/v1/forms"): Body(
        FormSubmission,
        ("application/json", "application/x-www-form-urlencoded"),
        f"at most {MAX_FORM_BYTES:,} bytes and 200 fields; custom fields beyond "
        f"{MAX_CUSTOM_FIELDS} are dropped",
    ),
    ("post", "/v1/webhooks/{provider}"): Body(
        None, ("*/*",), "the platform's own request, unchanged (its format, its signature)"
    ),
    ("post", "/v1/leads/{email}/feedback"): Body(Feedback, JSON, "at most 10,000 bytes"),
    ("put", "/v1/models/{model_id}"): Body(
        ScoringModel,
        JSON,
        "a scoring model (models/*.yaml as JSON), at most 400,000 bytes; its id must be the "
        "path's. "
        "Every problem is answered at once, each at its path in the document.",
    ),
    ("post", "/v1/models/{model_id}/rescore"): Body(
        RescoreOptions, JSON, "at most 10,000 bytes", required=False
    ),
}
# Methods whose routes must each say what body they take.
WITH_BODY = ("post", "put", "patch")


def _operations(paths: dict[str, PathItem]) -> Iterable[tuple[str, str, Operation]]:
    for path, item in paths.items():
        for method in WITH_BODY:
            operation = getattr(item, method)
            if operation is not None:
                yield method, path, operation


def describe(document: OpenAPI) -> None:
    """Add each route's request body, and its models to the components, to `document`."""
    paths = document.paths or {}
    taken = {(method, path) for method, path, _ in _operations(paths)}
    if unknown := sorted(set(BODIES) - taken):
        raise LookupError(f"request bodies described for routes that do not exist: {unknown}")
    if undescribed := sorted(taken - set(BODIES)):
        raise LookupError(f"routes whose request body is not described: {undescribed}")
    models = sorted({b.model for b in BODIES.values() if b.model}, key=lambda m: m.__name__)
    refs, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template=COMPONENTS + "{model}"
    )
    schemas = definitions.get("$defs", {})
    if document.components is None or document.components.schemas is None:
        raise LookupError("Powertools generated no components")
    if clash := sorted(set(schemas) & set(document.components.schemas)):
        raise LookupError(f"body models named as Powertools' own components: {clash}")
    merged = {**document.components.schemas, **schemas}
    document.components.schemas = {
        name: Schema.model_validate(merged[name]) for name in sorted(merged)
    }
    for method, path, operation in _operations(paths):
        body = BODIES[method, path]
        schema = refs[body.model, "validation"] if body.model else {}
        operation.requestBody = RequestBody.model_validate(
            {
                "description": body.description,
                "required": body.required,
                "content": {media: {"schema": schema} for media in body.media_types},
            }
        )
