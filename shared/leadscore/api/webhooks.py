"""`POST /v1/webhooks/{provider}`: email and form platforms' native requests become events."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from leadscore.adapters.webhooks import Delivery, WebhookRequest, handle
from leadscore.adapters.webhooks.payload import MAX_BODY_BYTES
from leadscore.api.bodies import WEBHOOK, takes
from leadscore.api.deps import Dependencies, is_text, new_router, raw_body
from leadscore.api.problems import Problem
from leadscore.domain.events import EventError, canonical_event
from leadscore.domain.messages import Entry

logger = Logger(child=True)
LIMITED = frozenset({"id", "type", "product", "properties", "profile"})  # no value in reason


def routes(deps: Dependencies) -> Router:
    router = new_router()

    @router.route("/v1/webhooks/<provider>", method=["GET", "HEAD", "POST"])
    @takes(WEBHOOK)
    def webhook(provider: str) -> Response[bytes]:
        event = router.current_event
        query = dict(event.query_string_parameters or {})
        host = next((v for k, v in (event.headers or {}).items() if k.lower() == "host"), "")
        # The public URL the platform signed: with the stage (`/prod/v1/...`) when deployed.
        path = (event.raw_event.get("requestContext") or {}).get("path") or event.path
        url = f"https://{host}{path}" + (f"?{urlencode(query)}" if query else "")
        request = WebhookRequest(
            provider=provider,
            method=event.http_method,
            headers=dict(event.headers or {}),
            body=raw_body(router, MAX_BODY_BYTES),
            query=query,
            url=url,
        )
        now = deps.clock()
        # Its errors (UnknownProvider, WebhookAuthError, WebhookFormatError) are mapped in app.py.
        result = handle(request, deps.secrets, now, fetch_certificate=deps.fetch_certificate)
        entries = []
        for document in result.events:
            if not is_text(document):  # an unpaired surrogate: no queue would take it
                continue
            # A form's hidden visitor id: not part of the event, the entry links it to the lead.
            visitor = document.pop("visitor", None)
            try:
                # the provider is its source: a form platform's is untrusted (contract §3)
                email, lead_event = canonical_event({**document, "source": provider}, now)
                entries.append(Entry(email, lead_event, visitor))
            except EventError as error:
                # Over a limit: this event alone is left out (the platform would only send it
                # again), the rest is taken. The log names what, never whose or the value.
                field = error.field.split(".")[0].split("[")[0]
                logger.warning(
                    "webhook event skipped",
                    provider=provider[:40],
                    field=field,
                    reason=error.message if field in LIMITED else "not usable",
                )
        delivery = result.delivery
        if delivery is not None:
            take_once(deps, provider, delivery, now)
        try:
            if result.confirm_url:
                deps.confirm_subscription(result.confirm_url)
            if entries:
                deps.queue.send(entries, now)
        except Exception:
            # Not taken after all: the platform's retry, with the same id, must be taken.
            if delivery is not None:
                deps.replays.forget(provider, delivery.id, seconds(delivery.until))
            raise
        answer = result.response
        return Response(
            status_code=answer.status, content_type=answer.content_type, body=answer.body
        )

    return router


def take_once(deps: Dependencies, provider: str, delivery: Delivery, now: datetime) -> None:
    """Record the signed delivery id; a second use while its signature is valid is refused,
    whatever the body says (Mailgun signs none of it)."""
    if not deps.replays.first_use(provider, delivery.id, seconds(delivery.until), seconds(now)):
        logger.warning("webhook replay refused", provider=provider)
        raise Problem(
            delivery.refusal,
            f"{provider}: this signed delivery was already taken; a replay is refused and "
            "nothing is stored",
        )


def seconds(moment: datetime) -> int:
    return int(moment.timestamp())
