"""The answers of the API, for its OpenAPI document: each route's statuses and their schemas.

They describe; the routes answer. Each status listed for a route is one its code (or, deployed,
API Gateway in front of it) can give, every refusal in the one `Problem` shape of
`problems.py`; `tests/integration/test_api_responses.py` drives the handler and checks that
each answer is listed for its route and matches the schema. Only
`python -m leadscore.api.openapi` and the tests import this module, never the Lambda.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.models import OpenAPI, Response, Schema
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from leadscore.adapters.webhooks.payload import MAX_BODY_BYTES as WEBHOOK_BYTES
from leadscore.api.bodies import COMPONENTS
from leadscore.api.deps import MAX_BODY_BYTES
from leadscore.api.events import MAX_EVENTS
from leadscore.api.forms import MAX_FORM_BYTES
from leadscore.api.problems import PROBLEM_TYPE

# Powertools' components for the 422 its own validation would answer; the routes validate
# their input themselves, so no answer ever has these shapes.
POWERTOOLS_COMPONENTS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")

Points = Annotated[float, Field(description="points, to two decimals")]
Percent = Annotated[float, Field(ge=0, le=100)]
Grade = Literal["A", "B", "C", "D"]
Level = Annotated[int, Field(ge=1, le=4, description="1 = most engaged")]
Rating = Annotated[str, Field(pattern=r"^[A-D][1-4]$", examples=["A1", "C3"])]
Count = Annotated[int, Field(ge=0)]
Outcome = Literal["accepted", "rejected", "won", "lost"]  # leads.OUTCOMES


# ---------------------------------------------------------------- refusals


class FieldError(BaseModel):
    """What is wrong with one field of the request."""

    field: str = Field(
        description="its path in the body (`[3].email`, `fit.categories[2].weight`); "
        "empty for the body itself",
        examples=["[3].email"],
    )
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details: every refusal and fault, as `application/problem+json`.

    API Gateway's own refusals (deployed) add `request_id`.
    """

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["about:blank"])
    title: str = Field(description="the status's name", examples=["Unprocessable Content"])
    status: int = Field(ge=400, le=599, description="the HTTP status, repeated")
    detail: str = Field(examples=["1 of 2 events are not valid"])
    errors: list[FieldError] = Field(
        default_factory=list,
        min_length=1,
        description="validation failures only (absent otherwise): every problem found, at once",
    )


# ---------------------------------------------------------------- successes


class Health(BaseModel):
    status: Literal["ok"]


class EventsAccepted(BaseModel):
    """The events are queued for scoring (an id already seen is counted once)."""

    accepted: int = Field(ge=1, le=MAX_EVENTS)
    event_ids: list[str] = Field(
        description="in the order posted: each event's id or, without one, the id made from "
        "its content"
    )


class FormAccepted(BaseModel):
    """The submission is queued for scoring (or, from a bot, dropped: the answer is the same)."""

    status: Literal["accepted"]
    event_id: str


class Reason(BaseModel):
    """A rule's share of a score."""

    rule: str = Field(examples=["fit.job_title", "engagement.pricing_page", "decay"])
    points: Points
    count: Count = Field(description="how many events of that rule counted")


class Scores(BaseModel):
    """What a lead's and an account's scores for one model have in common."""

    model: str
    model_version: int = Field(ge=0)
    score: Percent
    fit: Percent
    engagement: Percent
    grade: Grade
    engagement_level: Level
    rating: Rating


class LeadScore(Scores):
    """A lead's scores for one model."""

    status: Literal["open", "mql"]
    mql_since: datetime | None
    sla_due_at: datetime | None
    last_activity_at: datetime | None
    reasons: list[Reason] = Field(description="largest effect first; they add up to the score")


class Lead(BaseModel):
    """A lead's profile and its current scores, one per model."""

    email: str
    profile: dict[str, Any] | None
    account: str | None = Field(description="its company domain (none for free mail)")
    flags: list[str] = Field(examples=[["spam", "disqualified"]])
    feedback: Outcome | None = Field(description="the last sales outcome recorded")
    scores: list[LeadScore]


class RuleChange(BaseModel):
    rule: str
    points: Points


class ScoreChange(BaseModel):
    """One change of a lead's score: an event, a profile update, decay or a rescore."""

    kind: Literal["event", "profile", "decay", "rescore"]
    event_id: str | None
    event_type: str | None
    at: datetime
    points: Points
    rule: str | None = Field(description="the engagement rule the event matched")
    limited: bool = Field(description="that rule's limit was already reached: 0 points")
    rules: list[RuleChange]


class ModelHistory(BaseModel):
    model: str
    points: Points = Field(description="the sum of the changes: the current score")
    changes: list[ScoreChange] = Field(description="oldest first")


class LeadHistory(BaseModel):
    """Every change of a lead's scores, with the rule behind it."""

    email: str
    history: list[ModelHistory]


class FeedbackRecorded(BaseModel):
    status: Literal["recorded"]
    outcome: Outcome


class AccountPerson(BaseModel):
    """One person's contribution to the account's score."""

    email: str | None = Field(description="none when the person was erased a moment ago")
    name: str | None
    job_title: Any
    company: Any
    points: Points
    parts: dict[str, Points]
    engaged: bool
    counted: bool
    role: str | None
    fit: Percent
    engagement: Percent


class AccountScore(Scores):
    """An account's scores for one model."""

    status: Literal["open", "mqa"]
    mqa_since: datetime | None
    engaged_people: Count
    roles: list[str]
    parts: dict[str, Points]
    people: list[AccountPerson] = Field(description="they add up to the score")


class AccountScores(BaseModel):
    account: str = Field(examples=["acme.com"])
    scores: list[AccountScore]


class ModelEntry(BaseModel):
    id: str
    version: int = Field(ge=1, description="the current version")
    published_at: int = Field(description="epoch seconds")


class ModelList(BaseModel):
    models: list[ModelEntry]


class ModelPublished(BaseModel):
    id: str
    version: int = Field(ge=1, description="the version just published")


JobStatus = Literal["queued", "running", "completed", "incomplete"]


class RescoreStarted(BaseModel):
    """The job is queued; its progress is at `progress_url`."""

    job_id: str
    model: str
    model_version: int = Field(ge=1)
    dry_run: bool
    notify: bool
    status: Literal["queued"]
    starts_at: datetime = Field(description="once every scorer uses this version")
    progress_url: str = Field(examples=["/v1/models/default/rescore/0193..."])


class ScoreSnapshot(BaseModel):
    score: Percent
    rating: Rating
    status: Literal["open", "mql"]


class RescoredLead(BaseModel):
    email: str | None = Field(description="none when the lead was erased since")
    before: ScoreSnapshot
    after: ScoreSnapshot


class Chunks(BaseModel):
    listed: Count
    done: Count


class RescoreProgress(BaseModel):
    """A rescore job's status, counters and a sample of the leads it changed."""

    job_id: str
    model: str
    model_version: int = Field(ge=1)
    dry_run: bool
    notify: bool
    status: JobStatus = Field(
        description="`incomplete`: some steps failed, until they are redriven from the DLQ"
    )
    at: datetime = Field(description="the moment every lead is rescored as of")
    starts_at: datetime
    created_at: datetime
    finished_at: datetime | None
    leads_total: Count = Field(description="the leads listed so far")
    listing_complete: bool
    leads_done: Count
    changed: Count
    rating_changes: Count
    new_mqls: Count
    lost_mqls: Count
    failures: Count
    notifications: Count
    chunks: Chunks
    failed_chunks: Count
    failed_pages: Count
    sample: list[RescoredLead] = Field(max_length=20)


# ---------------------------------------------------------------- the routes' answers


@dataclass(frozen=True)
class Answer:
    """One status of a route: what it means, the model of its body (None: no body; a str: a
    component already in the document) and the headers it sets."""

    description: str
    body: type[BaseModel] | str | None = None
    media_type: str = "application/json"
    headers: tuple[str, ...] = ()


HEADERS = {
    "Location": "where the new resource or the redirect target is",
    "Access-Control-Allow-Origin": "the request's Origin, when it is on the allow-list",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600 (seconds)",
    "Retry-After": "seconds to wait (throttling; not sent when the daily quota is used up)",
    "WWW-Authenticate": "the scheme the platform must use (Basic), when it has one",
}


def refused(description: str, *headers: str) -> Answer:
    return Answer(description, Problem, PROBLEM_TYPE, headers)


CORS = ("Access-Control-Allow-Origin",)
NOT_JSON = "the body is not JSON (or not valid base64, or it holds an unpaired surrogate)"
NO_KEY = refused("no x-api-key header, or not a valid one")
NO_ROUTE = "no such route: a path segment holds a character the router does not take"
INVALID_EMAIL = refused("the email in the path is not an email address")


def too_large(limit: int) -> Answer:
    return refused(f"the body is larger than {limit:,} bytes")


# Every route can answer these: API Gateway's throttles and quota (deployed), and a fault.
EVERY_ROUTE = {
    429: refused(
        "too many requests: the route's throttle or the API key's daily quota (deployed: "
        "answered by API Gateway)",
        "Retry-After",
    ),
    500: refused("a fault of ours (a bug, AWS unavailable), never of the request; try later"),
}
WEBHOOK_PROBE = {
    200: Answer(
        "a platform's probe of the URL (mailchimp, unisender_go: GET and HEAD; every "
        "platform: HEAD)",
        None,
        "text/plain",
    ),
    400: refused("the platform does not probe with this method, or the body is not base64"),
    404: refused("no webhook platform with this name"),
    413: too_large(WEBHOOK_BYTES),
}
ROUTES: dict[tuple[str, str], dict[int, Answer]] = {
    ("get", "/v1/health"): {200: Answer("the API answers", Health)},
    ("post", "/v1/events"): {
        202: Answer("queued for scoring", EventsAccepted),
        400: refused(NOT_JSON),
        401: NO_KEY,
        413: refused(
            f"the body is larger than {MAX_BODY_BYTES:,} bytes, or holds more than "
            f"{MAX_EVENTS} events"
        ),
        422: refused(
            "an event is not valid (every one is named in `errors`: `[3].email`); none is queued"
        ),
    },
    ("post", "/v1/forms"): {
        202: Answer("queued for scoring", FormAccepted, headers=CORS),
        303: Answer(
            "a urlencoded post whose `_redirect` is on the allow-list: go there",
            headers=("Location", *CORS),
        ),
        400: refused(f"{NOT_JSON}, or the urlencoded form cannot be read", *CORS),
        413: refused(f"the body is larger than {MAX_FORM_BYTES:,} bytes", *CORS),
        415: refused("neither application/json nor application/x-www-form-urlencoded", *CORS),
        422: refused(
            "the email is missing or not an address, or a JSON field is no string, "
            "number or boolean",
            *CORS,
        ),
    },
    ("options", "/v1/forms"): {
        204: Answer(
            "a CORS preflight from an origin on the allow-list",
            headers=(
                *CORS,
                "Access-Control-Allow-Methods",
                "Access-Control-Allow-Headers",
                "Access-Control-Max-Age",
            ),
        ),
        403: refused("the origin is not on the allow-list (or there is none)"),
    },
    ("get", "/v1/webhooks/{provider}"): WEBHOOK_PROBE,
    ("head", "/v1/webhooks/{provider}"): WEBHOOK_PROBE,
    ("post", "/v1/webhooks/{provider}"): {
        200: Answer("verified and taken: the answer the platform expects", None, "text/plain"),
        400: refused("the payload is not the platform's format, or not readable"),
        401: refused(
            "the signature, token or credentials do not check; nothing is stored",
            "WWW-Authenticate",
        ),
        404: refused("no webhook platform with this name"),
        413: too_large(WEBHOOK_BYTES),
        502: refused("an Amazon SNS subscription (ses) could not be confirmed; SNS retries"),
    },
    ("get", "/v1/leads/{email}"): {
        200: Answer("the lead's profile and scores", Lead),
        401: NO_KEY,
        404: refused(f"no lead with this email (unknown or erased); or {NO_ROUTE}"),
        422: INVALID_EMAIL,
    },
    ("get", "/v1/leads/{email}/history"): {
        200: Answer("every change of the lead's scores, per model; they add up", LeadHistory),
        401: NO_KEY,
        404: refused(f"no lead with this email (unknown or erased); or {NO_ROUTE}"),
        422: INVALID_EMAIL,
    },
    ("delete", "/v1/leads/{email}"): {
        204: Answer("erased, with everything stored about the lead (also when it was unknown)"),
        401: NO_KEY,
        404: refused(NO_ROUTE),
        422: INVALID_EMAIL,
        503: refused("the lead is erased but its account is busy: repeat the request"),
    },
    ("post", "/v1/leads/{email}/feedback"): {
        202: Answer("recorded", FeedbackRecorded),
        400: refused(NOT_JSON),
        401: NO_KEY,
        404: refused(f"no lead with this email (unknown or erased); or {NO_ROUTE}"),
        409: refused("the lead changed while recording feedback: try again"),
        413: too_large(10_000),
        422: refused("the email in the path, the outcome, the model or the note is not valid"),
    },
    ("get", "/v1/accounts/{domain}"): {
        200: Answer("the account's scores and its people's contributions", AccountScores),
        401: NO_KEY,
        404: refused(
            "no account with this domain (unknown, or a personal or education "
            f"domain); or {NO_ROUTE}"
        ),
        422: refused("the domain in the path is not a domain"),
    },
    ("get", "/v1/models"): {
        200: Answer("every model and its current version", ModelList),
        401: NO_KEY,
    },
    ("get", "/v1/models/{model_id}"): {
        200: Answer("the current version of the model, as published", "ScoringModel"),
        401: NO_KEY,
        404: refused(f"no model with this id; or {NO_ROUTE}"),
    },
    ("put", "/v1/models/{model_id}"): {
        200: Answer("published as a new version", ModelPublished, headers=("Location",)),
        400: refused(NOT_JSON),
        401: NO_KEY,
        404: refused(NO_ROUTE),
        409: refused("another version was published at the same moment: try again"),
        413: too_large(400_000),
        422: refused(
            "the model is not valid (every problem at its path in `errors`), or its "
            "id is not the path's"
        ),
    },
    ("post", "/v1/models/{model_id}/rescore"): {
        202: Answer("the job is queued", RescoreStarted, headers=("Location",)),
        400: refused(NOT_JSON),
        401: NO_KEY,
        404: refused(f"no model with this id; or {NO_ROUTE}"),
        409: refused("a rescore job of this model is still running (its URL in `detail`)"),
        413: too_large(10_000),
        422: refused("an option is unknown or not a boolean"),
        503: refused("rescoring is not configured (RESCORE_QUEUE_URL)"),
    },
    ("get", "/v1/models/{model_id}/rescore/{job_id}"): {
        200: Answer("the job's progress", RescoreProgress),
        401: NO_KEY,
        404: refused(f"no rescore job with this id for this model; or {NO_ROUTE}"),
    },
}


def answers(method: str, path: str) -> dict[int, Answer]:
    """Every status a route answers, the ones every route can give included."""
    return dict(sorted({**ROUTES[method, path], **EVERY_ROUTE}.items()))


def _models() -> list[type[BaseModel]]:
    found = {
        answer.body
        for route in (*ROUTES.values(), EVERY_ROUTE)
        for answer in route.values()
        if isinstance(answer.body, type)
    }
    return sorted(found, key=lambda model: model.__name__)


def _response(answer: Answer, refs: dict[Any, Any]) -> Response:
    document: dict[str, Any] = {"description": answer.description}
    if answer.headers:
        document["headers"] = {
            name: {"description": HEADERS[name], "schema": {"type": "string"}}
            for name in answer.headers
        }
    if isinstance(answer.body, type):
        document["content"] = {answer.media_type: {"schema": refs[answer.body, "serialization"]}}
    elif isinstance(answer.body, str):
        document["content"] = {answer.media_type: {"schema": {"$ref": COMPONENTS + answer.body}}}
    elif answer.media_type != "application/json":  # text whose content is the platform's
        document["content"] = {answer.media_type: {"schema": {"type": "string"}}}
    return Response.model_validate(document)


def describe(document: OpenAPI) -> None:
    """Replace Powertools' responses (200, and a 422 no route answers) with each route's."""
    taken = {
        (method, path): operation
        for path, item in (document.paths or {}).items()
        for method in ("get", "put", "post", "delete", "options", "head", "patch", "trace")
        if (operation := getattr(item, method)) is not None
    }
    if unknown := sorted(set(ROUTES) - set(taken)):
        raise LookupError(f"responses described for routes that do not exist: {unknown}")
    if undescribed := sorted(set(taken) - set(ROUTES)):
        raise LookupError(f"routes whose responses are not described: {undescribed}")
    if document.components is None or document.components.schemas is None:
        raise LookupError("Powertools generated no components")
    refs, definitions = models_json_schema(
        [(model, "serialization") for model in _models()], ref_template=COMPONENTS + "{model}"
    )
    schemas = {
        name: schema
        for name, schema in document.components.schemas.items()
        if name not in POWERTOOLS_COMPONENTS
    }
    answered = definitions.get("$defs", {})
    if clash := sorted(set(answered) & set(schemas)):
        raise LookupError(f"response models named as other components: {clash}")
    named = {a.body for route in ROUTES.values() for a in route.values() if isinstance(a.body, str)}
    if missing := sorted(named - set(schemas)):
        raise LookupError(f"responses refer to components that do not exist: {missing}")
    merged = {**schemas, **answered}
    document.components.schemas = {
        name: Schema.model_validate(merged[name]) for name in sorted(merged)
    }
    for (method, path), operation in taken.items():
        operation.responses = {
            status: _response(answer, refs) for status, answer in answers(method, path).items()
        }
    text = document.model_dump_json(by_alias=True, exclude_none=True)
    if left := [name for name in POWERTOOLS_COMPONENTS if f'"{COMPONENTS}{name}"' in text]:
        raise LookupError(f"the document still refers to Powertools' components: {left}")
