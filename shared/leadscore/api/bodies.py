"""The request bodies of the API: each a pydantic model, which both validates and documents it.

A route reads its body through its `RequestBody` after its own checks (the API key), so
that a refusal keeps its status: 413 over the size limit, 400 for a body that is no JSON,
422 with every problem at its path in `errors` (`[3].email`, `fit.categories[2].weight`).
`@takes(BODY)` on the route is what the OpenAPI document describes the body from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    RootModel,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic.config import JsonDict, JsonValue
from pydantic_core import PydanticCustomError

from leadscore.adapters.webhooks.payload import MAX_BODY_BYTES as WEBHOOK_BYTES
from leadscore.api.deps import MAX_BODY_BYTES, json_body
from leadscore.api.problems import Problem
from leadscore.domain.emails import EmailError, normalize_email
from leadscore.domain.events import (
    CANONICAL_TYPES,
    MAX_ID_BYTES,
    MAX_NAME_CHARS,
    MAX_PROFILE_BYTES,
    MAX_PROFILE_FIELDS,
    MAX_PROFILE_LIST,
    MAX_PROFILE_TEXT,
    MAX_PROPERTIES,
    MAX_PROPERTIES_BYTES,
    MAX_PROPERTY_TEXT,
    EventError,
    parse_time,
)
from leadscore.domain.model import ScoringModel
from leadscore.domain.visitors import VISITOR_ID

MAX_EVENTS = 500
MAX_FORM_BYTES = 64_000
MAX_CUSTOM_FIELDS = 20
# What the email rule (domain/emails.py) accepts, for the document: it is the rule that checks.
EMAIL_PATTERN = (
    r'^\s*[^\s@<>,;"\x00-\x1f\x7f]+@[^\s@<>,;".\x00-\x1f\x7f]{1,63}'
    r'(?:\.[^\s@<>,;".\x00-\x1f\x7f]{1,63})+\s*$'
)
# The epoch seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
EpochSeconds = Annotated[float, Field(ge=-62_135_596_800, le=253_402_300_799)]
# Pydantic's messages, but where they name our classes.
MESSAGES = {"model_type": "must be a JSON object", "dict_type": "must be a JSON object"}


def _refusal(message: str) -> PydanticCustomError:
    return PydanticCustomError("invalid", "{message}", {"message": message})


def _email(value: str) -> str:
    try:
        return normalize_email(value)
    except EmailError as error:
        raise _refusal(str(error)) from None


def _not_blank(text: str) -> str:
    if not text.strip():
        raise _refusal("must not be blank")
    return text


def _moment(value: Any) -> datetime:
    try:
        return parse_time(value)
    except EventError as error:
        raise _refusal(str(error).split(": ", 1)[-1]) from None
    except (OverflowError, OSError, ValueError):
        raise _refusal("out of range") from None


def _form_text(value: Any) -> str:
    """A JSON form value as an HTML form sends it: text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str | int | float):
        return str(value)
    raise _refusal("must be a string or a number")


Email = Annotated[
    str,
    AfterValidator(_email),
    Field(
        description="the lead's address; compared without case and surrounding spaces",
        examples=["jane.doe@acme-corp.com"],
        json_schema_extra={"pattern": EMAIL_PATTERN, "maxLength": 254},
    ),
]
NotBlank = Annotated[str, AfterValidator(_not_blank), Field(json_schema_extra={"pattern": r"\S"})]
Moment = Annotated[
    datetime, PlainValidator(_moment, json_schema_input_type=datetime | EpochSeconds)
]
FormValue = Annotated[
    str, PlainValidator(_form_text, json_schema_input_type=str | float | bool | None)
]
Outcome = Literal["accepted", "rejected", "won", "lost"]


# What the document says of the limits; the rules themselves are domain/events.py's, checked
# on every way in (`canonical_event`) with their own messages.
NAMES: JsonDict = {"maxLength": MAX_NAME_CHARS}
PROFILE_TEXT: JsonDict = {"type": "string", "maxLength": MAX_PROFILE_TEXT}
PROFILE_SCALARS: list[JsonValue] = [
    PROFILE_TEXT,
    {"type": "number"},
    {"type": "boolean"},
    {"type": "null"},
]
EventId = Annotated[
    str,
    AfterValidator(_not_blank),
    WithJsonSchema({"type": "string", "pattern": r"\S", "maxLength": MAX_ID_BYTES}),
]
Product = Annotated[str, WithJsonSchema({"type": "string", **NAMES})]
Properties = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "maxProperties": MAX_PROPERTIES, "propertyNames": NAMES}),
]
Profile = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_PROFILE_FIELDS,
            "propertyNames": NAMES,
            "additionalProperties": {
                "anyOf": [
                    *PROFILE_SCALARS,
                    {
                        "type": "array",
                        "items": {"anyOf": PROFILE_SCALARS},
                        "maxItems": MAX_PROFILE_LIST,
                    },
                ]
            },
        }
    ),
]


class EventBody(BaseModel):
    """One behaviour event from the user's own systems; other keys are ignored.

    An event over a size limit (see each field) is refused, naming the field."""

    model_config = ConfigDict(extra="allow", strict=True)

    id: EventId | None = Field(
        default=None,
        description="makes delivery idempotent: the same id is never counted twice "
        f"(without one, the event's content is its id); at most {MAX_ID_BYTES} bytes of UTF-8",
    )
    email: Email
    type: NotBlank = Field(
        json_schema_extra=NAMES,
        description="a canonical type, or another one (scored only where a model has a rule "
        "for it)",
        examples=sorted(CANONICAL_TYPES),
    )
    occurred_at: Moment | None = Field(
        default=None,
        description="ISO-8601 (UTC without an offset) or epoch seconds; default: when received",
    )
    product: Product | None = Field(default=None, description="the product line it concerns")
    # An empty value of another type (`[]`, as PHP encodes an empty array) counts as none.
    properties: Annotated[Properties | None, BeforeValidator(lambda value: value or None)] = Field(
        default=None,
        description="what a model's rules test: url, campaign, ... Any JSON; a string at "
        f"most {MAX_PROPERTY_TEXT:,} characters, the whole at most {MAX_PROPERTIES_BYTES:,} "
        "bytes of JSON",
    )
    profile: Profile | None = Field(
        default=None,
        description="what the event tells about the lead: company, job_title, ...; the whole "
        f"at most {MAX_PROFILE_BYTES:,} bytes of JSON",
    )
    visitor: Annotated[str, Field(pattern=f"^{VISITOR_ID.pattern}$")] | None = Field(
        default=None,
        description="the website visitor (the tracking snippet's `ls_vid` cookie) the lead is: "
        "it is linked to the lead and its page views are credited, and a visitor another lead "
        "has moves to this one (your systems are a trusted source)",
    )


class EventsBody(
    RootModel[EventBody | Annotated[list[EventBody], Field(min_length=1, max_length=MAX_EVENTS)]]
):
    """One event or a list of them (more than the most per request: 413)."""


class FormSubmission(BaseModel):
    """A website form: JSON, or the same fields urlencoded (a plain HTML form; values as text).

    Other fields are kept as custom attributes (the first 20 that are not empty); `utm_*`
    fields are kept as the form's context.
    """

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, FormValue] = Field(init=False)

    email: Email
    first_name: FormValue | None = None
    last_name: FormValue | None = None
    company: FormValue | None = None
    job_title: FormValue | None = None
    industry: FormValue | None = None
    company_size: FormValue | None = Field(
        default=None,
        description="employees: a number or a range such as 51-200",
        examples=["51-200", 12, "1,000+"],
    )
    annual_revenue: FormValue | None = None
    country: FormValue | None = Field(
        default=None, description="a name or an ISO 3166 code", examples=["Germany", "US"]
    )
    phone: FormValue | None = None
    website: FormValue | None = None
    form: FormValue | None = Field(
        default=None,
        description="which form",
        examples=["demo-request", "contact-us", "newsletter", "whitepaper"],
    )
    page_url: FormValue | None = None
    product: FormValue | None = None
    gotcha: FormValue | None = Field(
        default=None,
        alias="_gotcha",
        description="a honeypot: when it is filled, the answer is as for success and nothing "
        "is scored",
    )
    visitor: FormValue | None = Field(
        default=None,
        alias="_visitor",
        description="the tracking snippet's visitor id (it adds the field): the lead is linked "
        "to the visitor and credited its page views; ignored when it is not one",
    )
    redirect: FormValue | None = Field(
        default=None,
        alias="_redirect",
        description="urlencoded posts: answer 303 to this URL when its origin is on the allow-list",
    )


class Feedback(BaseModel):
    """A sales outcome for a lead; other keys are ignored."""

    model_config = ConfigDict(extra="allow", strict=True)

    outcome: Outcome
    model: str | None = Field(default=None, max_length=100, description="the model it concerns")
    note: str | None = Field(default=None, max_length=2_000)
    owner: Email | None = Field(
        default=None, description="the salesperson who follows the lead up (an email)"
    )


class RescoreOptions(BaseModel):
    """How to rescore every lead; an empty body (or `null`) takes the defaults."""

    model_config = ConfigDict(extra="forbid", strict=True)

    dry_run: bool = Field(default=False, description="report what would change, change nothing")
    notify: bool = Field(default=False, description="notify sales of the leads that become MQL")


class ModelDraft(BaseModel):
    """A scoring-model draft: YAML text (the editor's) or the document as a JSON object."""

    model_config = ConfigDict(extra="forbid", strict=True)

    document: str | dict[str, Any] = Field(
        description="the draft (models/*.yaml as text, or as a JSON object); its `id`, when "
        "given, must be the path's"
    )


class DraftTrial(ModelDraft):
    """A draft to score one lead with."""

    email: Email = Field(description="the lead to score")


def field_errors(error: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Pydantic's errors as the problem's `errors`: each at its path in the body (`[3].email`)."""
    found = []
    for detail in error.errors():
        path = prefix
        for part in detail["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
        found.append({"field": path[:100], "message": MESSAGES.get(detail["type"], detail["msg"])})
    return found


def event_errors(error: EventError, prefix: str = "") -> list[dict[str, str]]:
    """An EventError as the problem's `errors`, at its path in the body (`[3].properties.url`)."""
    path = f"{prefix}.{error.field}" if prefix and error.field else prefix or error.field
    return [{"field": path[:100], "message": error.message}]


B = TypeVar("B", bound=BaseModel)
Handler = TypeVar("Handler", bound=Callable[..., Any])
JSON = ("application/json",)
INVALID = "the request is not valid"


@dataclass(frozen=True)
class RequestBody(Generic[B]):
    """A route's body: its model (None: any content), size limit and media types."""

    model: type[B] | None
    limit: int
    about: str = "{limit}"  # its description; `{limit}` stands for "at most N bytes"
    invalid: str = INVALID  # the detail of its 422
    media_types: tuple[str, ...] = JSON
    required: bool = True

    @property
    def description(self) -> str:
        return self.about.format(limit=f"at most {self.limit:,} bytes")

    def json(self, router: Router) -> Any:
        """The body as JSON, within the limit (413) and readable (400); an empty optional: None."""
        body = router.current_event.body
        if not self.required and not (body and body.strip()):
            return None
        return json_body(router, self.limit)

    def validate(self, document: Any) -> B:
        """The body as its model, or a 422 naming every problem."""
        if self.model is None:
            raise TypeError("a body of any content has no model to validate it with")
        if document is None and not self.required:
            return self.model()
        try:
            return self.model.model_validate(document)
        except ValidationError as error:
            raise Problem(422, self.invalid, field_errors(error)) from None

    def read(self, router: Router) -> B:
        return self.validate(self.json(router))


def takes(body: RequestBody[Any]) -> Callable[[Handler], Handler]:
    """Mark a route's handler with the body it reads, for the OpenAPI document."""

    def mark(handler: Handler) -> Handler:
        handler.request_body = body  # type: ignore[attr-defined]
        return handler

    return mark


def body_of(handler: Callable[..., Any]) -> RequestBody[Any] | None:
    found: RequestBody[Any] | None = getattr(handler, "request_body", None)
    return found


EVENTS = RequestBody(EventsBody, MAX_BODY_BYTES)
FORM = RequestBody(
    FormSubmission,
    MAX_FORM_BYTES,
    f"{{limit}} and 200 fields; custom fields beyond {MAX_CUSTOM_FIELDS} are dropped",
    media_types=("application/json", "application/x-www-form-urlencoded"),
)
WEBHOOK: RequestBody[BaseModel] = RequestBody(
    None,
    WEBHOOK_BYTES,
    "the platform's own request, unchanged (its format, its signature)",
    media_types=("*/*",),
)
FEEDBACK = RequestBody(Feedback, 10_000)
# A published model's document as JSON, the most its catalog and version items hold (DynamoDB
# holds 400 KB an item)
MAX_MODEL_DOCUMENT = 350_000
MODEL = RequestBody(
    ScoringModel,
    400_000,
    "a scoring model, {limit}: as JSON (models/*.yaml as JSON; its id must be the path's), or "
    "as YAML text (application/yaml, text/yaml: read as `/validate` reads a draft, YAML 1.1; "
    "its id may be left out). Every problem is answered at once, each at its path in the "
    "document (and, sent as YAML, at its line and column).",
    media_types=("application/json", "application/yaml", "text/yaml"),
)
RESCORE = RequestBody(
    RescoreOptions, 10_000, invalid="the rescore options are not valid", required=False
)
MODEL_DRAFT_BYTES = 400_000
# A preview's job item holds its draft (as JSON) beside its samples, tallies and MQL leads
# (tests/integration/test_preview_job_size.py): DynamoDB holds 400 KB an item
MAX_PREVIEW_DRAFT = 150_000
DRAFT_TEXT: RequestBody[BaseModel] = RequestBody(
    None,
    MODEL_DRAFT_BYTES,
    "a scoring-model draft: YAML text (application/yaml, text/yaml) or the document as JSON "
    "(application/json), {limit}; its `id`, when given, must be the path's",
    media_types=("application/yaml", "text/yaml", "application/json"),
)
DRAFT = RequestBody(
    ModelDraft,
    MODEL_DRAFT_BYTES + 10_000,
    "a scoring-model draft, {limit}",
    "the draft is not valid",
)
DRAFT_TRIAL = RequestBody(
    DraftTrial,
    MODEL_DRAFT_BYTES + 10_000,
    "a scoring-model draft and the lead to score with it, {limit}",
    "the draft or the email is not valid",
)


FORM_FIELDS = TypeAdapter(dict[str, FormValue])


def form_fields(document: Any) -> dict[str, str]:
    """A JSON form's fields as text, as an HTML form would send them (422: not a form)."""
    try:
        return FORM_FIELDS.validate_python(document)
    except ValidationError as error:
        raise Problem(422, INVALID, field_errors(error)) from None
