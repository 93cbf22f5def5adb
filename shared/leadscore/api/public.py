"""The public function's API: health, website forms, platform webhooks, website tracking (no
key). It imports none of the keyed routes or their services: a smaller cold start, less code
facing the internet."""

from __future__ import annotations

import functools
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from leadscore.adapters.dynamo_replays import DynamoReplays
from leadscore.adapters.queue import ScoringQueue
from leadscore.adapters.webhooks import EnvironmentSecrets, Secrets
from leadscore.adapters.webhooks.auth import FirstOf, SsmSecrets
from leadscore.api import collect, forms, health, webhooks
from leadscore.api.deps import Dependencies, read_setting
from leadscore.api.form_checks import FormChecks
from leadscore.api.problems import Problem
from leadscore.api.resolver import RouteModule
from leadscore.api.resolver import build as build_resolver
from leadscore.domain.sites import Sites
from leadscore.settings import Settings

PUBLIC_ROUTES: tuple[RouteModule, ...] = (
    health.routes,
    forms.routes,
    webhooks.routes,
    collect.routes,
)


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
    """The public routes': the scoring queue, the webhook secrets and the site keys (site keys
    that cannot be read make /v1/collect answer 503, not the whole function fail)."""
    origins = config.cors_origins
    return Dependencies(
        queue=ScoringQueue(sqs, config.queue_url),
        secrets=webhook_secrets(config.webhook_secrets, config.webhook_ssm_path),
        cors_origins=frozenset(o.strip().rstrip("/") for o in origins.split(",") if o.strip()),
        confirm_subscription=confirm_subscription,
        fetch_certificate=fetch_certificate,
        form_checks=FormChecks.from_settings(config),
        replays=DynamoReplays(),  # PutItem on REPLAY#* keys of the leads table, nothing else
        tracking_sites=read_setting("LEADSCORE_TRACKING_SITES", Sites.parse, config.tracking_sites),
    )


def build(deps: Dependencies) -> APIGatewayRestResolver:
    """The public routes' resolver."""
    return build_resolver(deps, PUBLIC_ROUTES)
