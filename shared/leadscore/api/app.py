"""The keyed function's API (events, leads, accounts, lists, models: behind the API key
authorizer) and the whole API's resolver (the OpenAPI document, the tests); the public
function's is api/public.py."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from leadscore.adapters.api_keys import ApiKeys
from leadscore.adapters.dynamo_rescore_jobs import DynamoRescoreJobs
from leadscore.adapters.list_cursor_key import SECRET as LIST_CURSOR_SECRET
from leadscore.adapters.list_cursor_key import ListCursorKey
from leadscore.adapters.model_store import CachedModels, DynamoModelCatalog
from leadscore.adapters.queue import ScoringQueue
from leadscore.adapters.sns import SnsPublisher
from leadscore.adapters.webhooks import EnvironmentSecrets
from leadscore.api import (
    accounts,
    collect,
    events,
    forms,
    health,
    leads,
    lists,
    models,
    notifications,
    segment,
    webhooks,
)
from leadscore.api.deps import Dependencies, read_setting
from leadscore.api.problems import problem_response
from leadscore.api.resolver import ErrorHandlers, RouteModule
from leadscore.api.resolver import build as build_resolver
from leadscore.domain.segment import event_table
from leadscore.services.account_view import AccountNotFound
from leadscore.services.leads import ErasedAccountBusy, LeadNotFound
from leadscore.services.store import LeadStore, ListUnavailable, WriteConflict
from leadscore.settings import Settings


def keyed_dependencies(
    config: Settings, sqs: object, sns: object, dynamodb: object, store: LeadStore
) -> Dependencies:
    """The keyed routes': leads, models, rescoring, the sales topic, the key table, the Segment
    source's table (one that cannot be read makes its route answer 503, not every route fail)."""
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
        segment_events=read_setting("LEADSCORE_SEGMENT_EVENTS", event_table, config.segment_events),
        segment_trusted=config.segment_trusted,
    )


KEYED_ROUTES: tuple[RouteModule, ...] = (
    events.routes,
    leads.routes,
    accounts.routes,
    lists.routes,
    models.routes,
    segment.routes,
    notifications.routes,
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
    collect.routes,
    segment.routes,
    notifications.routes,
)


def _unknown(error: LeadNotFound | AccountNotFound) -> Response[str]:
    return problem_response(404, str(error))


def _busy(error: ErasedAccountBusy | ListUnavailable) -> Response[str]:
    return problem_response(503, str(error))


def _write_conflict(error: WriteConflict) -> Response[str]:
    return problem_response(409, "the lead changed while recording feedback; try again")


# The keyed services' errors (the generic ones are api/resolver.py's).
KEYED_ERRORS: ErrorHandlers = {
    LeadNotFound: _unknown,
    AccountNotFound: _unknown,
    ErasedAccountBusy: _busy,
    ListUnavailable: _busy,
    WriteConflict: _write_conflict,
}


def build(
    deps: Dependencies, modules: tuple[RouteModule, ...] = ALL_ROUTES
) -> APIGatewayRestResolver:
    """A resolver of these route modules (by default every route) with every error mapped."""
    return build_resolver(deps, modules, KEYED_ERRORS)
