"""The answers of the API, for its OpenAPI document: each route's statuses and their schemas.

Each status listed for a route is one its code (or, deployed, API Gateway in front of it) can
give, every refusal in the one shape of `problems.py`; `tests/integration/test_api_responses.py`
drives the handler and checks each answer against its route's list and schema. The schemas
themselves are api/schemas.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel

from leadscore.api.bodies import (
    EVENTS,
    FORM,
    MAX_EVENTS,
    MAX_MODEL_DOCUMENT,
    MAX_PREVIEW_DRAFT,
    RequestBody,
)
from leadscore.api.collect import COLLECT, MAX_COLLECT_EVENTS
from leadscore.api.problems import PROBLEM_TYPE
from leadscore.api.schemas import (
    AccountList,
    AccountScores,
    DraftValidation,
    EventsAccepted,
    FeedbackRecorded,
    FormAccepted,
    FormToken,
    Health,
    Lead,
    LeadHistory,
    LeadList,
    ModelList,
    ModelPublished,
    NotificationLog,
    ProblemDetails,
    RescoreProgress,
    RescoreStarted,
    SegmentAccepted,
    TrialScores,
)
from leadscore.api.scopes import SCOPES
from leadscore.api.segment import MAX_BATCH_BYTES, MAX_CALL_BYTES
from leadscore.domain.model import ScoringModel

# ---------------------------------------------------------------- the routes' answers


@dataclass(frozen=True)
class Answer:
    """An answer: what it means, the model of its body (None: no body), the headers it sets."""

    description: str
    body: type[BaseModel] | None = None
    media_type: str = "application/json"
    headers: tuple[str, ...] = ()


def refusal(description: str, *headers: str) -> Answer:
    return Answer(description, ProblemDetails, PROBLEM_TYPE, headers)


def too_large(limit: int) -> str:
    return f"the body is larger than {limit:,} bytes"


HEADERS = {
    "Location": "where the new resource or the redirect target is",
    "Access-Control-Allow-Origin": "the request's Origin, when it is on the allow-list",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600 (seconds)",
    "Retry-After": "seconds to wait",
    "WWW-Authenticate": "the scheme the platform must use (Basic), when it has one",
    "Vary": "Origin",
    "ETag": "the snippet's version, for If-None-Match",
    "Cache-Control": "public, max-age=300: browsers keep the snippet 5 minutes",
}
CORS = ("Access-Control-Allow-Origin",)
# Every answer of these routes (but 429 and 500) carries these headers.
ROUTE_HEADERS = {
    ("post", "/v1/forms"): CORS,
    ("get", "/v1/forms/token"): CORS,
    ("post", "/v1/collect"): CORS,
}
NO_KEY = "no x-api-key header, or not a valid one (unknown or revoked)"
NO_SCOPE = "the API key lacks the route's scope (`{scope}`; an `admin` key has every scope)"
NOT_JSON = "the body is not JSON (or not valid base64, or it holds an unpaired surrogate)"
MISCONFIGURED = "the site keys (TrackingSites) cannot be read: nothing is queued"
NO_ROUTE = "no such route: a path segment holds a character the router does not take"
# What a route with this path parameter refuses (unless the route says otherwise).
PARAMETERS = {
    "email": {422: "the email in the path is not an email address"},
    "domain": {422: "the domain in the path is not a domain"},
    "provider": {404: "no webhook platform with this name"},
}
NO_LEAD = "no lead with this email (unknown or erased)"
NO_MODEL = "no model with this id"
BAD_CURSOR = (
    "the cursor is not one this API gave, was changed, is over an hour old, or belongs to a "
    "list with other parameters"
)
# Every route can answer these: the throttles and per-address limits (deployed), and a fault.
EVERY_ROUTE = {
    429: refusal(
        "too many requests: the route's throttle, or (public routes) this address's limit "
        "(deployed: answered by API Gateway or its web ACL)",
        "Retry-After",
    ),
    500: refusal("a fault of ours (a bug, AWS unavailable), never of the request; try later"),
}
WEBHOOK_PROBE: dict[int, Answer | str] = {
    200: Answer(
        "a platform's probe of the URL (mailchimp, unisender_go: GET and HEAD; every "
        "platform: HEAD)",
        None,
        "text/plain",
    ),
    400: "the platform does not probe with this method, or the body is not base64",
}
# Each route's own answers; a text is a refusal, in problem+json. What the route does adds
# the rest (see `answers`): 401 without the key, 400 and 413 for a body, 404 and 422 for a
# path parameter.
ROUTES: dict[tuple[str, str], dict[int, Answer | str]] = {
    ("get", "/v1/health"): {200: Answer("the API answers", Health)},
    ("post", "/v1/events"): {
        202: Answer("queued for scoring", EventsAccepted),
        413: f"{too_large(EVENTS.limit)}, or holds more than {MAX_EVENTS} events",
        422: "an event is not valid (every one is named in `errors`: `[3].email`); none is queued",
    },
    ("post", "/v1/forms"): {
        202: Answer("queued for scoring", FormAccepted),
        303: Answer(
            "a urlencoded post whose `_redirect` is on the allow-list: go there",
            headers=("Location",),
        ),
        400: f"{NOT_JSON}, or the urlencoded form cannot be read",
        415: "neither " + " nor ".join(FORM.media_types),
        422: "the email is missing or not an address, or a JSON field is no string, number or "
        "boolean",
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
        403: "the origin is not on the allow-list (or there is none)",
    },
    ("get", "/v1/forms/token"): {
        200: Answer("a new form token", FormToken),
        404: "form tokens are not set up (no form-token secret)",
    },
    ("get", "/v1/t.js"): {
        200: Answer(
            "the tracking snippet", None, "application/javascript", ("ETag", "Cache-Control")
        ),
        304: Answer("not modified since the If-None-Match ETag", headers=("ETag",)),
        503: "the snippet is not built here (make tracker)",
    },
    ("post", "/v1/collect"): {
        204: Answer(
            "taken; from a bot (user agent, prefetch, webdriver) dropped with the same answer, "
            "as is an identify while forms need a form token or CAPTCHA",
            headers=("Vary",),
        ),
        400: NOT_JSON,
        403: "the site key is unknown, or the Origin is not one of its origins (without an "
        "Origin, or `null`: an event has no url)",
        415: "neither " + " nor ".join(COLLECT.media_types),
        422: f"an event is not valid (each named in `errors`: `events[2].url`), or more than "
        f"{MAX_COLLECT_EVENTS} events; none is queued",
        503: MISCONFIGURED,
    },
    ("options", "/v1/collect"): {
        204: Answer(
            "a CORS preflight from an origin of a tracked site",
            headers=(
                *CORS,
                "Vary",
                "Access-Control-Allow-Methods",
                "Access-Control-Allow-Headers",
                "Access-Control-Max-Age",
            ),
        ),
        403: "the origin is none of a tracked site's (or there is none)",
        503: MISCONFIGURED,
    },
    ("post", "/v1/sources/segment"): {
        200: Answer(
            "every call queued (one naming neither a lead nor a visitor: skipped)", SegmentAccepted
        ),
        401: "no key: HTTP Basic with an ingest key as the user (or x-api-key), not both",
        413: f"{too_large(MAX_BATCH_BYTES)}, or a single call larger than {MAX_CALL_BYTES:,} bytes",
        422: "a call is not valid (each named in `errors`: `batch[3].messageId`); the batch's "
        "other calls are queued",
        503: "the event-name table (SegmentEvents) cannot be read: nothing is queued",
    },
    ("get", "/v1/webhooks/{provider}"): WEBHOOK_PROBE,
    ("head", "/v1/webhooks/{provider}"): WEBHOOK_PROBE,
    ("post", "/v1/webhooks/{provider}"): {
        200: Answer("verified and taken: the answer the platform expects", None, "text/plain"),
        400: "the payload is not the platform's format, or not readable",
        401: refusal(
            "the signature, token or credentials do not check, or the signed delivery id "
            "(resend, ses) was already taken; nothing is stored",
            "WWW-Authenticate",
        ),
        406: "a Mailgun delivery already taken (its token replayed): refused so that Mailgun "
        "stops retrying; nothing is stored",
        502: "an Amazon SNS subscription (ses) could not be confirmed; SNS retries",
    },
    ("get", "/v1/leads"): {
        200: Answer("a page of the model's leads, in the order asked", LeadList),
        400: BAD_CURSOR,
        422: "a parameter is not valid (each is named in `errors`), or `model` is missing while "
        "several models exist, or names none",
    },
    ("get", "/v1/accounts"): {
        200: Answer("a page of the model's accounts, by score", AccountList),
        400: BAD_CURSOR,
        422: "a parameter is not valid, or `model` is missing while several models score "
        "accounts, or names none that does",
    },
    ("get", "/v1/notifications"): {
        200: Answer(
            "a page of the notifications of the last 30 days, newest first", NotificationLog
        ),
        400: "the cursor is not one this API gave, was changed, or is over an hour old",
        422: "a parameter is not valid (each is named in `errors`)",
    },
    ("get", "/v1/leads/{email}"): {
        200: Answer("the lead's profile and scores", Lead),
        404: NO_LEAD,
    },
    ("get", "/v1/leads/{email}/history"): {
        200: Answer("every change of the lead's scores, per model; they add up", LeadHistory),
        404: NO_LEAD,
    },
    ("delete", "/v1/leads/{email}"): {
        204: Answer("erased, with everything stored about the lead (also when it was unknown)"),
        503: "the lead is erased but its account is busy: repeat the request",
    },
    ("post", "/v1/leads/{email}/feedback"): {
        202: Answer("recorded", FeedbackRecorded),
        404: NO_LEAD,
        409: "the lead changed while recording feedback: try again",
        422: "the email in the path, the outcome, the model or the note is not valid",
    },
    ("get", "/v1/accounts/{domain}"): {
        200: Answer("the account's scores and its people's contributions", AccountScores),
        404: "no account with this domain (unknown, or a personal or education domain)",
    },
    ("get", "/v1/models"): {200: Answer("every model and its current version", ModelList)},
    ("get", "/v1/models/{model_id}"): {
        200: Answer("the current version of the model, as published", ScoringModel),
        404: NO_MODEL,
    },
    ("put", "/v1/models/{model_id}"): {
        200: Answer("published as a new version", ModelPublished, headers=("Location",)),
        409: "another version was published at the same moment: try again",
        422: "the model is not valid (every problem at its path in `errors`; sent as YAML, at "
        "its line and column too, and text that is not YAML is one problem at the parser's "
        "place), or its id is not the path's, or it is over "
        f"{MAX_MODEL_DOCUMENT:,} bytes as JSON",
    },
    ("post", "/v1/models/{model_id}/rescore"): {
        202: Answer("the job is queued", RescoreStarted, headers=("Location",)),
        404: NO_MODEL,
        409: "a rescore job of this model is still running (its URL in `detail`)",
        422: "an option is unknown or not a boolean",
        503: "rescoring is not configured (RESCORE_QUEUE_URL)",
    },
    ("post", "/v1/models/{model_id}/validate"): {
        200: Answer("the draft's problems, each at its path, line and column", DraftValidation),
        400: "the body is sent as JSON but is not JSON",
        415: "the body is neither YAML (application/yaml, text/yaml) nor JSON",
    },
    ("post", "/v1/models/{model_id}/try"): {
        200: Answer("the lead's scores by the current version and by the draft", TrialScores),
        404: NO_LEAD,
        422: "the draft is not valid (every problem at its path, line and column in `errors`), "
        "or the email is not",
    },
    ("post", "/v1/models/{model_id}/preview"): {
        202: Answer("the dry run of the draft is queued", RescoreStarted, headers=("Location",)),
        404: NO_MODEL,
        409: "a rescore job of this model is still running (its URL in `detail`)",
        422: "the draft is not valid (every problem at its path, line and column in `errors`), "
        f"or it is over {MAX_PREVIEW_DRAFT:,} bytes as JSON (a preview's job keeps it)",
        503: "rescoring is not configured (RESCORE_QUEUE_URL)",
    },
    ("get", "/v1/models/{model_id}/rescore/{job_id}"): {
        200: Answer("the job's progress", RescoreProgress),
        404: "no rescore job with this id for this model",
    },
}


def answers(method: str, path: str, body: RequestBody[Any] | None) -> dict[int, Answer]:
    """Every status a route answers: for what it does, its own, and every route's.

    What it does: it needs an API key with a scope (401, 403), it reads a body (413; 400 if
    JSON), it has path parameters (their refusals; 404 for a segment the router refuses). Its
    own text for a status replaces the one for what it does.
    """
    scope = SCOPES[method, path]
    does: dict[int, Answer | str] = (
        {} if scope is None else {401: NO_KEY, 403: NO_SCOPE.format(scope=scope)}
    )
    if body:
        does[413] = too_large(body.limit)
        does |= {400: NOT_JSON} if body.model else {}
    for parameter in re.findall(r"\{(\w+)\}", path):
        does |= PARAMETERS.get(parameter, {})
    own = does | ROUTES[method, path]
    if "{" in path:  # a path segment the router refuses matches no route
        own[404] = f"{own[404]}; or {NO_ROUTE}" if 404 in own else NO_ROUTE
    headers = ROUTE_HEADERS.get((method, path), ())
    given = {
        status: replace(answer, headers=(*answer.headers, *headers))
        if isinstance(answer, Answer)
        else refusal(answer, *headers)
        for status, answer in own.items()
    }
    return dict(sorted((EVERY_ROUTE | given).items()))
