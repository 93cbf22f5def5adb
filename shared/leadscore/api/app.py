"""The API resolvers: route modules, each route's key scope, every error once as problem+json.

Two functions share these routers: the public one (health, forms, webhooks: no key, a role
that can only enqueue and read the webhook secrets) and the keyed one (events, leads,
accounts, models: behind the API key authorizer).
"""

from __future__ import annotations

import functools
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from leadscore.adapters.api_keys import ApiKeys
from leadscore.adapters.dynamo_replays import DynamoReplays
from leadscore.adapters.dynamo_rescore_jobs import DynamoRescoreJobs
from leadscore.adapters.list_cursor_key import SECRET as LIST_CURSOR_SECRET
from leadscore.adapters.list_cursor_key import ListCursorKey
from leadscore.adapters.model_store import CachedModels, DynamoModelCatalog
from leadscore.adapters.queue import ScoringQueue
from leadscore.adapters.sns import SnsPublisher
from leadscore.adapters.webhooks import (
    EnvironmentSecrets,
    Secrets,
    UnknownProvider,
    WebhookAuthError,
    WebhookFormatError,
)
from leadscore.adapters.webhooks.auth import FirstOf, SsmSecrets
from leadscore.api import accounts, events, forms, health, leads, lists, models, webhooks
from leadscore.api.deps import Dependencies, authorize
from leadscore.api.form_checks import FormChecks
from leadscore.api.problems import Problem, problem_response
from leadscore.api.scopes import SCOPES
from leadscore.domain.events import EventError
from leadscore.services.account_view import AccountNotFound
from leadscore.services.leads import ErasedAccountBusy, LeadNotFound
from leadscore.services.store import LeadStore, ListUnavailable, WriteConflict
from leadscore.settings import Settings

logger = Logger(child=True)


def https_get(url: str, limit: int = 65_536) -> bytes:
    """One GET of an https URL (the webhook adapter has already checked it is Amazon SNS's)."""
    if urlsplit(url).scheme != "https":
        raise ValueError("only https URLs are fetched")
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (https only)
            return bytes(answer.read(limit))
    except OSError as error:  # a ValueError makes the webhook adapter refuse the request
        raise ValueError(f"could not fetch {urlsplit(url).hostname}") from error


@functools.lru_cache(maxsize=16)
def fetch_certificate(url: str) -> bytes:
    """SNS signing certificates, fetched once per container."""
    return https_get(url)


def confirm_subscription(url: str) -> None:
    """Confirm an Amazon SNS subscription (SES event webhooks) by GETting its SubscribeURL."""
    try:
        https_get(url)
    except ValueError:
        # SNS retries a confirmation that was not acknowledged; nothing is stored meanwhile.
        raise Problem(
            502, "the SNS subscription could not be confirmed; it will be retried"
        ) from None


def webhook_secrets(variables: Mapping[str, str], ssm_path: str = "") -> Secrets:
    """Environment variables, then (deployed) SSM parameters under LEADSCORE_WEBHOOK_SSM_PATH."""
    from_environment = EnvironmentSecrets(variables)
    path = ssm_path.strip()
    return FirstOf(from_environment, SsmSecrets(path)) if path else from_environment


def public_dependencies(config: Settings, sqs: object) -> Dependencies:
    """The public routes': the scoring queue and the webhook secrets, nothing else."""
    origins = config.cors_origins
    return Dependencies(
        queue=ScoringQueue(sqs, config.queue_url),
        secrets=webhook_secrets(config.webhook_secrets, config.webhook_ssm_path),
        cors_origins=frozenset(o.strip().rstrip("/") for o in origins.split(",") if o.strip()),
        confirm_subscription=confirm_subscription,
        fetch_certificate=fetch_certificate,
        form_checks=FormChecks.from_settings(config),
        replays=DynamoReplays(),  # PutItem on REPLAY#* keys of the leads table, nothing else
    )


def keyed_dependencies(
    config: Settings, sqs: object, sns: object, dynamodb: object, store: LeadStore
) -> Dependencies:
    """The keyed routes': leads, models, rescoring, the sales topic, the key table."""
    return Dependencies(
        queue=ScoringQueue(sqs, config.queue_url),
        store=store,
        rescore_jobs=DynamoRescoreJobs(),
        # Read at every request: a model just published applies to the next one.
        models=CachedModels(ttl=0),
        catalog=DynamoModelCatalog(),
        publisher=SnsPublisher(sns, config.topic_arn),
        api_key=config.api_key,
        api_keys=ApiKeys(dynamodb, config.table_name),
        list_cursor_key=ListCursorKey(
            dynamodb,
            config.table_name,
            EnvironmentSecrets(config.webhook_secrets).get(LIST_CURSOR_SECRET),
        ),
    )


RouteModule = Callable[[Dependencies], Router]
PUBLIC_ROUTES: tuple[RouteModule, ...] = (health.routes, forms.routes, webhooks.routes)
KEYED_ROUTES: tuple[RouteModule, ...] = (
    events.routes,
    leads.routes,
    accounts.routes,
    lists.routes,
    models.routes,
)


# Every route, for the OpenAPI document (in the order it has always listed them).
ALL_ROUTES: tuple[RouteModule, ...] = (
    accounts.routes,
    events.routes,
    health.routes,
    forms.routes,
    leads.routes,
    lists.routes,
    models.routes,
    webhooks.routes,
)


def build(
    deps: Dependencies, modules: tuple[RouteModule, ...] = ALL_ROUTES
) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)
    for routes in modules:
        app.include_router(routes(deps))

    # A route missing from the scopes table fails the cold start, never serves without a key.
    registered = {
        (r.method.lower(), r.openapi_path) for r in app._static_routes + app._dynamic_routes
    }
    if unlisted := sorted(registered - set(SCOPES)):
        raise LookupError(f"routes without a scope in leadscore/api/scopes.py: {unlisted}")

    def check_scope(app: APIGatewayRestResolver, next_middleware: Any) -> Any:
        """Each route's scope (scopes.py) against the request's key, before its handler."""
        route = app.context["_route"]
        # Not a route of ours: Powertools' own "no such route" answer (404).
        needed = SCOPES.get((route.method.lower(), route.openapi_path))
        if needed is not None:
            authorize(app.current_event.raw_event, deps, needed)
        return next_middleware(app)

    app.use([check_scope])

    def problem(error: Problem) -> Response[str]:
        return problem_response(error.status, error.detail, error.errors, error.headers)

    def invalid_event(error: EventError) -> Response[str]:
        message = str(error).split(": ", 1)[-1]
        return problem_response(
            422, "the event is not valid", [{"field": error.field, "message": message}]
        )

    def invalid_request(error: RequestValidationError) -> Response[str]:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg"))}
            for e in error.errors()
        ]
        return problem_response(422, "the request is not valid", errors)

    def webhook_auth(error: WebhookAuthError) -> Response[str]:
        challenge = {"WWW-Authenticate": error.challenge} if error.challenge else {}
        return problem_response(401, str(error), headers=challenge)

    def webhook_format(error: WebhookFormatError) -> Response[str]:
        return problem_response(400, str(error))

    def webhook_provider(error: UnknownProvider) -> Response[str]:
        return problem_response(404, str(error))

    def not_found(error: NotFoundError) -> Response[str]:
        return problem_response(404, "no such route")

    def unknown(error: LeadNotFound | AccountNotFound) -> Response[str]:
        return problem_response(404, str(error))

    def busy(error: ErasedAccountBusy | ListUnavailable) -> Response[str]:
        return problem_response(503, str(error))

    def write_conflict(error: WriteConflict) -> Response[str]:
        return problem_response(409, "the lead changed while recording feedback; try again")

    def server_fault(error: Exception) -> Response[str]:
        # A fault of ours (a bug, AWS unavailable): logged in full, answered without details.
        logger.exception("request failed")
        return problem_response(500, "the request could not be processed; try again later")

    handlers: dict[type[Exception], Any] = {
        Problem: problem,
        EventError: invalid_event,
        RequestValidationError: invalid_request,
        WebhookAuthError: webhook_auth,
        WebhookFormatError: webhook_format,
        UnknownProvider: webhook_provider,
        NotFoundError: not_found,
        LeadNotFound: unknown,
        AccountNotFound: unknown,
        ErasedAccountBusy: busy,
        ListUnavailable: busy,
        WriteConflict: write_conflict,
        Exception: server_fault,
    }
    for error_type, handler in handlers.items():
        app.exception_handler(error_type)(handler)

    return app
