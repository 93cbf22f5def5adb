"""HubSpot CRM webhooks: batches of object events (ids only, no email), signed v1, v2 or v3.

Nothing here is scored: a HubSpot contact creation carries no address. Send HubSpot form
submissions to `POST /v1/forms` or `/v1/events` from a HubSpot workflow instead (a website
visitor id travels there as the form's `_visitor` field; a property change here names no lead
to link it to).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from urllib.parse import unquote

from ..auth import Credentials, check_fresh, same
from ..interface import WebhookAuthError, WebhookFormatError, WebhookRequest
from ..payload import NativeEvent, Parsed, any_time, load_json, objects, text
from .base import Provider

# v3 signs the URI with these characters decoded (HubSpot "Validating requests").
V3_DECODED = ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B")


def verify(request: WebhookRequest, credentials: Credentials, now: datetime) -> None:
    """v3 when present (HMAC with a signed timestamp), else the older v1/v2 SHA-256 hashes."""
    secret = credentials.key.encode()
    v3 = request.headers.get("x-hubspot-signature-v3")
    if v3:
        timestamp = request.headers.get("x-hubspot-request-timestamp", "")
        check_fresh("hubspot", timestamp, now)
        uri = credentials.public_url
        for encoded in V3_DECODED:
            uri = uri.replace(encoded, unquote(encoded)).replace(encoded.lower(), unquote(encoded))
        signed = (request.method.upper() + uri).encode() + request.body + timestamp.encode()
        expected = base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest())
        if not same(v3.strip(), expected):
            raise WebhookAuthError("hubspot: the v3 signature does not match")
        return
    signature = request.headers.get("x-hubspot-signature")
    version = request.headers.get("x-hubspot-signature-version", "v1").lower()
    if not signature:
        raise WebhookAuthError("hubspot: the request carries no signature")
    if version == "v2":
        signed = secret + (request.method.upper() + credentials.public_url).encode() + request.body
    else:
        signed = secret + request.body
    # v1/v2 sign no timestamp: a captured request could be replayed (event ids dedupe it).
    if not same(signature.strip().lower(), hashlib.sha256(signed).hexdigest()):
        raise WebhookAuthError("hubspot: the signature does not match")


def parse(request: WebhookRequest, now: datetime) -> Parsed:
    batch = load_json(request.body, "hubspot")
    if not isinstance(batch, list):
        raise WebhookFormatError("hubspot: expected a JSON array of events")
    events = [
        NativeEvent(
            native_event=text(item.get("subscriptionType")) or "unknown",
            kind=None,
            email=None,
            occurred_at=any_time(item.get("occurredAt")),
            provider_event_id=text(item.get("eventId")),
            why="HubSpot CRM events carry object ids, not an email address",
        )
        for item in objects(batch)
    ]
    return Parsed(events)


PROVIDER = Provider("hubspot", parse, verify)
