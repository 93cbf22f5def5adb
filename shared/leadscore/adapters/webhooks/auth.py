"""Who may post a webhook: a signature, HTTP Basic, a bearer or a URL token.

Design: docs/design/webhook-auth.md.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from .interface import CertificateFetcher, Delivery, Secrets, WebhookAuthError, WebhookRequest
from .payload import epoch_time

# How far a signed timestamp may be from now (either way) before the request counts as a replay.
REPLAY_WINDOW = timedelta(minutes=5)
BASIC_CHALLENGE = 'Basic realm="leadscore webhooks", charset="UTF-8"'


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a platform's signature check needs besides the request."""

    key: str
    public_url: str
    fetch_certificate: CertificateFetcher | None = None


# Raises WebhookAuthError; returns the delivery id the signature covers, if it covers one.
SignatureCheck = Callable[[WebhookRequest, Credentials, datetime], Delivery | None]


class EnvironmentSecrets:
    """Secrets from environment variables: `basic:sendgrid` is LEADSCORE_WEBHOOK_BASIC_SENDGRID."""

    def __init__(self, environ: Mapping[str, str], prefix: str = "LEADSCORE_WEBHOOK_") -> None:
        self._environ = environ
        self._prefix = prefix

    def get(self, name: str, /) -> str | None:
        return self._environ.get(env_name(name, self._prefix)) or None


def env_name(secret: str, prefix: str = "LEADSCORE_WEBHOOK_") -> str:
    """The variable holding a secret ("basic:ses" -> LEADSCORE_WEBHOOK_BASIC_SES)."""
    return prefix + re.sub(r"[^A-Z0-9]+", "_", secret.upper()).strip("_")


def ssm_name(secret: str) -> str:
    """The parameter holding a secret, relative to the path ("basic:ses" -> "basic-ses")."""
    return secret.replace(":", "-")


ParametersByPath = Callable[[str], Mapping[str, str]]


def _parameters_by_path(path: str) -> Mapping[str, str]:
    """Every parameter under `path` (recursive, decrypted), keyed by its name below the path.

    Powertools keeps the answer for 5 minutes, so a warm function makes one SSM request per
    5 minutes, and a rotated secret is in use within 5 minutes.
    """
    from aws_lambda_powertools.utilities import parameters

    values = parameters.get_parameters(path, decrypt=True, recursive=True, max_age=300)
    return {str(name): str(value) for name, value in values.items()}


class SsmSecrets:
    """Secrets from SSM Parameter Store: `basic:sendgrid` is `<path>/basic-sendgrid`.

    All parameters under the path are read in one go (GetParametersByPath), on the first
    secret asked for, and again when Powertools' 5-minute cache has expired. `fetch` reads
    them (path -> {name below the path: value}); tests may hand in their own.
    """

    def __init__(self, path: str, fetch: ParametersByPath | None = None) -> None:
        self._path = "/" + path.strip("/")
        self._fetch = fetch or _parameters_by_path

    def get(self, name: str, /) -> str | None:
        return self._fetch(self._path).get(ssm_name(name)) or None


class FirstOf:
    """Several secret sources in order: the first one that has the secret answers."""

    def __init__(self, *sources: Secrets) -> None:
        self._sources = sources

    def get(self, name: str, /) -> str | None:
        for source in self._sources:
            value = source.get(name)
            if value:
                return value
        return None


def authenticate(
    request: WebhookRequest,
    secrets: Secrets,
    now: datetime,
    verify: SignatureCheck | None,
    fetch_certificate: CertificateFetcher | None = None,
) -> Delivery | None:
    """Run every check configured for the provider; raise WebhookAuthError on any failure.

    Returns the delivery id the platform's signature covers (None when no signature was
    checked, or it covers none): the caller refuses a second use of it.
    """
    provider = request.provider
    checks = 0
    delivery = None
    key = secrets.get(provider)
    if key and verify is not None:
        public_url = secrets.get(f"url:{provider}") or request.url
        delivery = verify(request, Credentials(key, public_url, fetch_certificate), now)
        checks += 1
    basic = secrets.get(f"basic:{provider}")
    if basic:
        check_basic(request, basic)
        checks += 1
    bearer = secrets.get(f"bearer:{provider}")
    if bearer:
        check_bearer(request, bearer)
        checks += 1
    token = secrets.get(f"token:{provider}")
    if token:
        if not same(request.query.get("token", ""), token):
            raise WebhookAuthError(f"{provider}: the URL token is missing or wrong")
        checks += 1
    if checks == 0 and (secrets.get(f"allow-unsigned:{provider}") or "").lower() != "true":
        raise WebhookAuthError(
            f"{provider}: no webhook secret is configured, so no request can be trusted"
        )
    return delivery


def check_basic(request: WebhookRequest, expected: str) -> None:
    """HTTP Basic credentials ("user:password") from the Authorization header."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    try:
        given = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        given = ""
    if scheme.lower() != "basic" or not same(given, expected):
        raise WebhookAuthError(
            f"{request.provider}: HTTP Basic credentials are missing or wrong",
            challenge=BASIC_CHALLENGE,
        )


def check_bearer(request: WebhookRequest, expected: str) -> None:
    """A bearer token from the Authorization header."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not same(given.strip(), expected):
        raise WebhookAuthError(f"{request.provider}: the bearer token is missing or wrong")


def check_fresh(
    provider: str, signed_at: str | None, now: datetime, window: timedelta = REPLAY_WINDOW
) -> datetime:
    """The signed timestamp (epoch s or ms); refused when missing or too far from now."""
    moment = epoch_time(signed_at)
    if moment is None:
        raise WebhookAuthError(f"{provider}: the signed timestamp is missing or unreadable")
    if abs(now - moment) > window:
        raise WebhookAuthError(f"{provider}: the signed timestamp is too old (or in the future)")
    return moment


def same(given: str | bytes, expected: str | bytes) -> bool:
    """Constant-time comparison of two secrets or signatures."""
    if isinstance(given, str):
        given = given.encode("utf-8", "surrogateescape")
    if isinstance(expected, str):
        expected = expected.encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, expected)
