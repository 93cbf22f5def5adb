"""What the routes need from outside: queue, lead store, models, publisher, keys, clock."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.api_gateway import Router

from leadscore.adapters.api_keys import ApiKey, allows, presented_key
from leadscore.adapters.webhooks import Secrets
from leadscore.api.form_checks import FormChecks
from leadscore.api.problems import Problem
from leadscore.domain import strict_json
from leadscore.domain.events import Event
from leadscore.domain.messages import Entry
from leadscore.domain.notifications import Publisher
from leadscore.domain.segment import event_table
from leadscore.domain.sites import Sites
from leadscore.domain.strict_json import NotStrictJSON

if TYPE_CHECKING:  # the ports the keyed routes use: the public function never loads them
    from leadscore.services.replays import ReplayGuard
    from leadscore.services.rescore import ModelCatalog
    from leadscore.services.rescore_jobs import RescoreJobStore
    from leadscore.services.scoring import ModelSource
    from leadscore.services.store import LeadStore

logger = Logger(child=True)
MAX_BODY_BYTES = 1_000_000
# A surrogate escape (\ud800-\udfff) or a UTF-8-encoded surrogate, which json.loads reads.
SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


class Queue(Protocol):
    def send(self, entries: Sequence[tuple[str, Event] | Entry], received_at: datetime) -> int: ...


class KeyVerifier(Protocol):
    def verify(self, key: str) -> ApiKey | None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _no_confirm(url: str) -> None:
    raise RuntimeError("no subscription confirmer configured")


def _no_cursor_key() -> bytes:
    raise RuntimeError("no list cursor key configured")


class _Missing:
    """A dependency the resolver was built without (to describe it): any use of it fails."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise RuntimeError(f"no {self._name} configured")


@dataclass(frozen=True)
class Misconfigured:
    """A setting that could not be read: the routes needing it answer 503, the others work."""

    variable: str
    error: str


T = TypeVar("T")


def read_setting(variable: str, parse: Callable[[str], T], raw: str) -> T | Misconfigured:
    """The setting as `parse` reads it, or Misconfigured when it raises ValueError."""
    try:
        return parse(raw)
    except ValueError as error:
        return Misconfigured(variable, str(error))


def configured(setting: T | Misconfigured, what: str) -> T:
    """The setting, or a 503 saying `what` is misconfigured (the reason is logged, not told)."""
    if isinstance(setting, Misconfigured):
        logger.error(f"{what} is misconfigured", setting=setting.variable, error=setting.error)
        raise Problem(503, f"{what} is misconfigured")
    return setting


@dataclass
class Dependencies:
    queue: Queue
    secrets: Secrets = field(default_factory=lambda: _Missing("webhook secrets"))
    store: LeadStore = field(default_factory=lambda: _Missing("lead store"))
    rescore_jobs: RescoreJobStore = field(default_factory=lambda: _Missing("rescore job store"))
    models: ModelSource = field(default_factory=lambda: _Missing("current models"))
    catalog: ModelCatalog = field(default_factory=lambda: _Missing("model catalog"))
    publisher: Publisher = field(default_factory=lambda: _Missing("sales topic"))
    # The keyed routes' keys, when no authorizer checked them (tests, a route deployed without
    # it): `api_key`, a single key with every scope, then the key table's `api_keys`.
    api_key: str | None = None
    api_keys: KeyVerifier | None = None
    cors_origins: frozenset[str] = frozenset()
    clock: Callable[[], datetime] = _utc_now
    confirm_subscription: Callable[[str], None] = _no_confirm
    fetch_certificate: Callable[[str], bytes] | None = None
    replays: ReplayGuard = field(default_factory=lambda: _Missing("webhook replay guard"))
    form_checks: FormChecks = field(default_factory=FormChecks)  # off: none configured
    list_cursor_key: Callable[[], bytes] = _no_cursor_key  # signs the lists' cursors
    # Website tracking's site keys (none: /v1/collect refuses every site) and the Segment
    # source's event names; either may be Misconfigured: its route answers 503.
    tracking_sites: Sites | Misconfigured = field(default_factory=Sites)
    segment_events: Mapping[str, str] | Misconfigured = field(default_factory=event_table)
    segment_trusted: bool = True  # false: its calls may come from browsers (untrusted)


def new_router() -> Router:
    return Router()  # type: ignore[no-untyped-call]  # Powertools leaves __init__ untyped


def header(router: Router, name: str) -> str | None:
    headers: Mapping[str, str] = router.current_event.headers or {}
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


NO_KEY = "a valid x-api-key header is required"


def granted_scopes(event: Mapping[str, Any], deps: Dependencies) -> tuple[str, ...] | None:
    """The scopes of the request's key, or None without a valid one.

    Deployed, the authorizer has verified the key and API Gateway passes its scopes in the
    request context (only API Gateway writes it). Otherwise the header is verified here, as the
    authorizer does: the configured single key (`LEADSCORE_API_KEY`, every scope: the tests'
    compatibility path), then the key table.
    """
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    if isinstance(context.get("scopes"), str):
        return tuple(context["scopes"].split())
    key = presented_key(event.get("headers") or {}) or ""
    if deps.api_key and hmac.compare_digest(key.encode("utf-8", "replace"), deps.api_key.encode()):
        return ("admin",)
    record = deps.api_keys.verify(key) if key and deps.api_keys else None
    return record.scopes if record else None


def authorize(event: Mapping[str, Any], deps: Dependencies, needed: str) -> None:
    """401 without a valid key, 403 when the key lacks the route's scope."""
    scopes = granted_scopes(event, deps)
    if scopes is None:
        raise Problem(401, NO_KEY)
    if not allows(scopes, needed):
        raise Problem(403, f"this API key lacks the {needed!r} scope this route needs")


def raw_body(router: Router, limit: int = MAX_BODY_BYTES) -> bytes:
    event = router.current_event
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise Problem(400, "the body is not valid base64") from None
    else:
        data = body.encode("utf-8", "surrogatepass")
    if len(data) > limit:
        raise Problem(413, f"the body is larger than {limit} bytes")
    return data


def parse_json(data: bytes) -> Any:
    """JSON text, refused (400) when it cannot be read, holds NaN, an infinity or a number
    beyond a float (strict JSON), or an unpaired surrogate.

    An unpaired surrogate is no text (I-JSON, RFC 7493, forbids it): no UTF-8 encoder, ours
    or the queue's or DynamoDB's, would take it further.
    """
    try:
        document = strict_json.loads(data)
    except NotStrictJSON as error:
        raise Problem(400, f"the body is not valid JSON: {error}") from None
    except (ValueError, RecursionError):
        raise Problem(400, "the body is not valid JSON") from None
    if SURROGATE.search(data) and not is_text(document):
        raise Problem(400, "the body is not valid JSON: it holds an unpaired surrogate")
    return document


def is_text(document: Any) -> bool:
    """Whether every string in a JSON document can be encoded as UTF-8."""
    try:
        json.dumps(document, ensure_ascii=False, default=str).encode()
    except (UnicodeEncodeError, RecursionError):
        return False
    return True


def json_body(router: Router, limit: int = MAX_BODY_BYTES) -> Any:
    return parse_json(raw_body(router, limit))
