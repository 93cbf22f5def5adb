"""Provider webhooks in, canonical events out: verify the platform's request, then translate it.

Pure Python: no AWS call and no network I/O (the one download SNS verification needs is done
by a function the caller passes in). Usage:

    result = handle(WebhookRequest("sendgrid", "POST", headers, body, query, url), secrets, now)
    # result.events -> POST /v1/events documents; result.response -> what to answer

Secret names and what happens without them: see `auth`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from .auth import EnvironmentSecrets, authenticate, env_name
from .interface import (
    CertificateFetcher,
    Delivery,
    Headers,
    IgnoredEvent,
    Secrets,
    UnknownProvider,
    WebhookAuthError,
    WebhookError,
    WebhookFormatError,
    WebhookRequest,
    WebhookResponse,
    WebhookResult,
)
from .payload import MAX_BODY_BYTES, canonical
from .providers import PROVIDERS

# What a bug in a parser can raise on a payload it did not expect; it is still the payload's
# fault, so it becomes a 400 instead of a 500.
PAYLOAD_FAULTS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
    UnicodeError,
)


def handle(
    request: WebhookRequest,
    secrets: Secrets,
    now: datetime,
    *,
    fetch_certificate: CertificateFetcher | None = None,
) -> WebhookResult:
    """Verify and translate one platform request.

    Raises UnknownProvider (404), WebhookAuthError (401: store nothing) or
    WebhookFormatError (400), and nothing else whatever the request holds. The result's
    `delivery` is the signed delivery id the caller must take only once (see `Delivery`).
    `fetch_certificate` is only needed for Amazon SES with SNS signature checks.
    """
    provider = PROVIDERS.get(request.provider)
    if provider is None:
        raise UnknownProvider(f"no webhook provider named {request.provider[:40]!r}")
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    method = request.method.upper()
    if method in provider.handshake_methods:
        return WebhookResult(events=[], ignored=[])
    if method != "POST":
        raise WebhookFormatError(f"{provider.name}: {method[:10]} is not accepted, only POST")
    if len(request.body) > MAX_BODY_BYTES:
        raise WebhookFormatError(f"{provider.name}: the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        delivery = authenticate(request, secrets, now, provider.verify, fetch_certificate)
    except PAYLOAD_FAULTS:
        raise WebhookAuthError(f"{provider.name}: the signature could not be checked") from None
    try:
        parsed = provider.parse(request, now)
        events, ignored = canonical(provider.name, parsed.events, now)
    except PAYLOAD_FAULTS:
        raise WebhookFormatError(f"{provider.name}: the payload is not understood") from None
    return WebhookResult(
        events=events, ignored=ignored, confirm_url=parsed.confirm_url, delivery=delivery
    )


__all__ = [
    "PROVIDERS",
    "CertificateFetcher",
    "Delivery",
    "EnvironmentSecrets",
    "Headers",
    "IgnoredEvent",
    "Secrets",
    "UnknownProvider",
    "WebhookAuthError",
    "WebhookError",
    "WebhookFormatError",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookResult",
    "env_name",
    "handle",
]
