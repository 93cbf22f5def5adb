"""`GET /v1/t.js` (the tracking snippet) and `POST /v1/collect` (what it sends): website
behaviour of anonymous visitors, checked against the site key's origins (contract §3)."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadscore.api.bodies import RequestBody, event_errors, field_errors, takes
from leadscore.api.cors import answer_preflight, cors_headers
from leadscore.api.deps import (
    Dependencies,
    configured,
    header,
    new_router,
    parse_json,
    raw_body,
)
from leadscore.api.form_checks import FormChecks
from leadscore.api.forms import known_profile
from leadscore.api.problems import Problem
from leadscore.domain.bots import bot_reason
from leadscore.domain.events import (
    MAX_PROPERTY_TEXT,
    EventError,
    canonical_event,
    checked_event,
)
from leadscore.domain.messages import FUTURE_SKEW, Entry
from leadscore.domain.segment import TYPE_NAME
from leadscore.domain.sites import SITE_KEY, Sites, origin_of
from leadscore.domain.visitors import VISITOR_ID

logger = Logger(child=True)
SOURCE = "snippet"  # untrusted: typed by the public (contract §3)
MAX_COLLECT_BYTES = 16_384
MAX_COLLECT_EVENTS = 20
MAX_TITLE = 300  # characters of a page title kept
# An event dated further back than this (a client clock days behind, a beacon retried days
# later) is dated at its arrival: it happened, but not when it says.
PAST_SKEW = timedelta(days=1)
# Email events come from the email platforms, never from a page.
RESERVED_PREFIX = "email_"
# Browsers keep the snippet 5 minutes: a new version reaches every visitor that soon after a
# deploy, and a revisit after that costs a 304 without body (ETag).
SNIPPET_CACHE = "public, max-age=300"
SNIPPET_PATH = Path(__file__).parent / "static" / "t.js"
MEDIA_TYPES = ("text/plain", "application/json")
TRACKING = "tracking"  # what is misconfigured when the site keys cannot be read
FOREIGN_ORIGIN = "this origin is not one of the site's"

ClientId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
EventType = Annotated[str, Field(pattern=f"^{TYPE_NAME.pattern}$")]
PageUrl = Annotated[str, Field(max_length=MAX_PROPERTY_TEXT)]


class TrackedEvent(BaseModel):
    """One event of a page: a page view, an identify, or a tracked type."""

    model_config = ConfigDict(extra="ignore", strict=True)

    id: ClientId = Field(description="random per event, kept across retries: counted once")
    type: EventType = Field(
        description="page_view, identify, or another type in snake case (email_* are refused: "
        "they come from the email platforms)",
        examples=["page_view", "identify", "demo_request", "video_played"],
    )
    at: float | None = Field(
        default=None,
        ge=0,
        le=253_402_300_799_000,
        description="epoch milliseconds; more than 5 minutes ahead or a day behind: the arrival",
    )
    url: PageUrl | None = Field(
        default=None, description="the page (required for page_view): on one of the site's origins"
    )
    referrer: PageUrl | None = None
    title: Annotated[str, Field(max_length=2_000)] | None = Field(
        default=None, description=f"kept to its first {MAX_TITLE} characters"
    )
    properties: dict[str, Any] | None = Field(default=None, description="what rules may test")
    email: str | None = Field(
        default=None,
        description="identify: the lead's email (the visitor is not linked: only a form post or "
        "an authenticated identify links it)",
    )
    traits: dict[str, Any] | None = Field(
        default=None, description="identify: known profile fields (first_name, company, ...)"
    )


class CollectBody(BaseModel):
    """What the snippet sends (as text/plain, so that no CORS preflight is needed)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    site: Annotated[str, Field(pattern=f"^{SITE_KEY.pattern}$")] = Field(description="the site key")
    visitor: Annotated[str, Field(pattern=f"^{VISITOR_ID.pattern}$")] = Field(
        description="the visitor id of the first-party cookie ls_vid"
    )
    events: list[TrackedEvent] = Field(min_length=1, max_length=MAX_COLLECT_EVENTS)
    webdriver: bool = Field(default=False, description="navigator.webdriver: true drops it all")


COLLECT = RequestBody(
    CollectBody,
    MAX_COLLECT_BYTES,
    f"{{limit}}, at most {MAX_COLLECT_EVENTS} events",
    media_types=MEDIA_TYPES,
)


@dataclass(frozen=True)
class Snippet:
    text: str
    etag: str


class SnippetFile:
    """The built snippet, read once per container (not cached while it is missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._found: Snippet | None = None
        self._lock = threading.Lock()

    def read(self) -> Snippet | None:
        if self._found is None:
            with self._lock:
                try:
                    text = self.path.read_text(encoding="utf-8")
                except OSError:
                    return None
                digest = hashlib.sha256(text.encode()).hexdigest()[:32]
                self._found = Snippet(text, f'"{digest}"')
        return self._found


SNIPPET = SnippetFile(SNIPPET_PATH)


def dated(at: float | None, received_at: datetime) -> datetime:
    """The event's time from epoch ms, or its arrival when it is not plausible."""
    if at is None:
        return received_at
    moment = datetime.fromtimestamp(at / 1000, received_at.tzinfo)
    if received_at - PAST_SKEW <= moment <= received_at + FUTURE_SKEW:
        return moment
    return received_at


def without_addresses(url: str) -> str:
    """The URL without its query parameters holding an email address (an `@` once decoded, as
    a campaign link's `?email=ann%40acme.example`), kept as sent otherwise: an anonymous
    visitor's pages are kept 90 days, and erasing the lead would not find them."""
    before_fragment, hash_mark, fragment = url.partition("#")
    path, question, query = before_fragment.partition("?")
    if not question:
        return url
    kept = "&".join(part for part in query.split("&") if "@" not in unquote_plus(part))
    return path + (question + kept if kept else "") + hash_mark + fragment


def entry(
    event: TrackedEvent, visitor: str, origins: frozenset[str], received_at: datetime
) -> Entry:
    """One event of the page as a queue entry; EventError names its field.

    An identify names the lead but not the visitor: anyone can type an email address on a
    page, so only a form post (`_visitor`) or an authenticated identify links a visitor."""
    if event.type.startswith(RESERVED_PREFIX):
        raise EventError("type", "email events come from the email platforms, not a page")
    if event.type == "page_view" and event.url is None:
        raise EventError("url", "a page view needs its url")
    if event.url is not None and origin_of(event.url) not in origins:
        raise EventError("url", "not a page of this site's origins")
    properties = dict(event.properties or {})
    page = {
        "url": without_addresses(event.url or ""),
        "referrer": without_addresses(event.referrer or ""),
        "title": (event.title or "")[:MAX_TITLE],
    }
    properties |= {name: value for name, value in page.items() if value}
    document: dict[str, Any] = {
        "id": f"web-{event.id}",
        "type": event.type,
        "occurred_at": dated(event.at, received_at),
        "properties": properties,
        "source": SOURCE,
    }
    if event.type != "identify":
        return Entry(None, checked_event(document, received_at), visitor)
    document["profile"] = known_profile(event.traits or {}) or None
    return Entry(*canonical_event({**document, "email": event.email}, received_at))


def identify_refusal(checks: FormChecks) -> str | None:
    """Why an identify is dropped as a bot's: the form posts' checks are on, and an identify
    cannot carry their form token or CAPTCHA answer (None: they are off)."""
    if checks.min_fill > timedelta(0):
        return "identify without the form token forms need"
    if checks.captcha is not None:
        return "identify without the CAPTCHA answer forms need"
    return None


def routes(deps: Dependencies) -> Router:
    router = new_router()

    def allowed(origin: str) -> bool:
        """Whether a page of this origin is one of any tracked site (a preflight names none)."""
        sites = deps.tracking_sites
        return isinstance(sites, Sites) and sites.any_allows(origin)

    @router.get("/v1/t.js")
    def tracker() -> Response[str]:
        snippet = SNIPPET.read()
        if snippet is None:
            raise Problem(503, "the tracking snippet is not built here: run `make tracker`")
        headers = {"ETag": snippet.etag, "Cache-Control": SNIPPET_CACHE}
        if snippet.etag in (header(router, "if-none-match") or ""):
            return Response(status_code=304, body="", headers=headers)
        headers |= {
            "X-Content-Type-Options": "nosniff",
            # Loadable by pages that isolate themselves (Cross-Origin-Embedder-Policy).
            "Cross-Origin-Resource-Policy": "cross-origin",
        }
        return Response(
            status_code=200,
            content_type="application/javascript; charset=utf-8",
            body=snippet.text,
            headers=headers,
        )

    @router.route("/v1/collect", method="OPTIONS")
    def preflight() -> Response[str]:
        configured(deps.tracking_sites, TRACKING)
        refusal = "this origin is not one of a tracked site's"
        return answer_preflight(header(router, "origin"), allowed, refusal)

    @router.post("/v1/collect")
    @takes(COLLECT)
    def collect() -> Response[str]:
        origin, now = header(router, "origin"), deps.clock()
        try:
            sites = configured(deps.tracking_sites, TRACKING)
            collected = _collect(router, deps, sites, origin, now)
        except Problem as problem:
            problem.headers = cors_headers(origin, allowed)
            raise
        if collected:
            deps.queue.send(collected, now)
        return Response(status_code=204, body="", headers=cors_headers(origin, allowed))

    return router


def _collect(
    router: Router, deps: Dependencies, sites: Sites, origin: str | None, now: datetime
) -> list[Entry]:
    """The request's entries: none from a bot; Problem when it is refused."""
    kind = (header(router, "content-type") or "").split(";")[0].strip().lower()
    if kind not in (*MEDIA_TYPES, ""):
        raise Problem(415, "send text/plain or application/json")
    document = parse_json(raw_body(router, MAX_COLLECT_BYTES))
    site = document.get("site") if isinstance(document, dict) else None
    if not isinstance(site, str) or site not in sites.origins:
        raise Problem(403, "unknown site key")
    # The Origin keeps other sites' pages out; it proves nothing (any program sends its own).
    # A page with `Referrer-Policy: no-referrer` sends the snippet's beacon (no-cors) with
    # `Origin: null`, some clients send none: then each event's url, which must be on the
    # site's origins (checked below), says which page sent it.
    unsaid = origin is None or origin == "null"
    if not unsaid and not sites.allows(site, origin):
        raise Problem(403, FOREIGN_ORIGIN)
    reason = bot_reason(router.current_event.headers or {})
    if reason is None and document.get("webdriver") is True:
        reason = "webdriver"
    if reason is not None:
        logger.info("collect dropped: not a person", reason=reason)
        return []
    try:
        body = CollectBody.model_validate(document)
    except ValidationError as error:
        raise Problem(422, "the request is not valid", field_errors(error)) from None
    if unsaid and any(event.url is None for event in body.events):
        raise Problem(403, FOREIGN_ORIGIN)
    refusal = identify_refusal(deps.form_checks)
    entries, errors = [], []
    for index, event in enumerate(body.events):
        if event.type == "identify" and refusal:  # answered as a person is, as bots are
            logger.info("collect dropped: not a person", reason=refusal)
            continue
        try:
            entries.append(entry(event, body.visitor, sites.origins[site], now))
        except EventError as error:
            errors += event_errors(error, f"events[{index}]")
    if errors:
        raise Problem(422, "the request is not valid", errors)
    return entries
