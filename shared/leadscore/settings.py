"""Runtime settings, read once from the environment into one typed object; lazy AWS clients."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

WEBHOOK_VARIABLE_PREFIX = "LEADSCORE_WEBHOOK_"
# The keys-only index of what is due for decay (template.yaml; adapters/dynamo.py's DueIndex).
DUE_KEYS_INDEX = "due_keys"


class SettingError(RuntimeError):
    """A variable is missing or not valid: the function's cold start fails on it."""


def _variable(
    *names: str, default: Any = "", minimum: float | None = None, secret: bool = False
) -> Any:
    """A setting read from the first of these environment variables that is set and not empty;
    a number when its default is one."""
    metadata = {"variables": names, "minimum": minimum}
    return field(default=default, repr=not secret, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """Every setting of the runtime package, each under the environment variable it comes from.

    A plain dataclass, not pydantic(-settings): the Slack notifier would pay 55 ms of cold
    start for pydantic, which nothing else of it imports.
    """

    table_name: str = _variable("TABLE_NAME", default="leadscore")
    queue_url: str = _variable("QUEUE_URL")
    rescore_queue_url: str = _variable("RESCORE_QUEUE_URL")
    # The scoring queue's DLQ: the scorer puts there, with their reason, records it can never score.
    dead_letter_queue_url: str = _variable("DEAD_LETTER_QUEUE_URL")
    topic_arn: str = _variable("TOPIC_ARN")
    region: str = _variable("AWS_REGION", "AWS_DEFAULT_REGION", default="us-east-1")
    # Moto server (local stack) or another DynamoDB endpoint; unset on AWS.
    endpoint_url: str | None = _variable("AWS_ENDPOINT_URL", default=None)
    # The index decay queries for what is due: `due_keys` (keys only), or `due` (ALL) on a
    # stack from before it (template.yaml's DueIndex parameter sets it).
    due_index: str = _variable("DUE_INDEX", default=DUE_KEYS_INDEX)
    model_cache_seconds: float = _variable("MODEL_CACHE_SECONDS", default=60.0, minimum=0)
    event_retention_days: int = _variable("EVENT_RETENTION_DAYS", default=400, minimum=1)
    # Untrusted events (forms, form platforms) of one lead that may score in an hour.
    untrusted_events_per_hour: int = _variable("UNTRUSTED_EVENTS_PER_HOUR", default=20, minimum=1)
    # Website visitors (services/visitors.py): days an anonymous visitor's events are kept,
    # and days of them credited to the lead it becomes.
    visitor_days: int = _variable("LEADSCORE_VISITOR_DAYS", default=90, minimum=1)
    credit_days: int = _variable("LEADSCORE_CREDIT_DAYS", default=30, minimum=0)
    # Attempts of a write that keeps losing version races to other writers.
    write_attempts: int = _variable("WRITE_ATTEMPTS", default=6, minimum=1)
    # The rescore queue's RedrivePolicy maxReceiveCount: a step failing that receive is in the DLQ.
    rescore_max_receive_count: int = _variable("RESCORE_MAX_RECEIVE_COUNT", default=3, minimum=1)
    # The API: an admin key checked by the function itself where no authorizer answered (tests,
    # `sam local invoke`), forms' allowed origins (comma-separated) and the SSM path of the
    # webhook secrets.
    api_key: str | None = _variable("LEADSCORE_API_KEY", default=None, secret=True)
    cors_origins: str = _variable("LEADSCORE_CORS_ORIGINS")
    # The console's sign-in: the authorizer accepts the ID tokens of this pool and app client.
    user_pool_id: str = _variable("LEADSCORE_USER_POOL_ID")
    user_pool_client_id: str = _variable("LEADSCORE_USER_POOL_CLIENT_ID")
    webhook_ssm_path: str = _variable("LEADSCORE_WEBHOOK_SSM_PATH")
    # Bot checks on forms (api/form_checks.py), off by default; their secrets are webhook secrets.
    form_token_min_seconds: float = _variable(
        "LEADSCORE_FORM_TOKEN_MIN_SECONDS", default=0.0, minimum=0
    )
    form_captcha_provider: str = _variable("LEADSCORE_FORM_CAPTCHA_PROVIDER", default="none")
    # The provider's siteverify unless set (tests and the local stack point it to a fake).
    form_captcha_verify_url: str = _variable("LEADSCORE_FORM_CAPTCHA_VERIFY_URL")
    form_captcha_min_score: float = _variable(
        "LEADSCORE_FORM_CAPTCHA_MIN_SCORE", default=0.5, minimum=0
    )
    form_captcha_hostnames: str = _variable("LEADSCORE_FORM_CAPTCHA_HOSTNAMES")
    form_captcha_action: str = _variable("LEADSCORE_FORM_CAPTCHA_ACTION")
    form_captcha_send_ip: bool = _variable("LEADSCORE_FORM_CAPTCHA_SEND_IP", default=False)
    # Website tracking's site keys, `key=origin origin;key2=origin` (domain/sites.py), and the
    # Segment source's event names -> types, a JSON object over the defaults (domain/segment.py).
    tracking_sites: str = _variable("LEADSCORE_TRACKING_SITES")
    segment_events: str = _variable("LEADSCORE_SEGMENT_EVENTS")
    # false: the Segment source's calls may come from browsers (analytics.js): untrusted.
    segment_trusted: bool = _variable("LEADSCORE_SEGMENT_TRUSTED", default=True)
    # The Slack notifier: the webhook URL is in an SSM SecureString or a Secrets Manager secret.
    slack_webhook_parameter: str = _variable("SLACK_WEBHOOK_PARAMETER")
    slack_webhook_secret_arn: str = _variable("SLACK_WEBHOOK_SECRET_ARN")
    # Salespeople's Slack member ids, `email=U0123ABC,...`: their leads' posts mention them.
    slack_user_ids: str = _variable("SLACK_USER_IDS")
    # Every LEADSCORE_WEBHOOK_<SECRET> variable, by name: secrets set locally.
    webhook_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {
            "webhook_secrets": {
                name: value
                for name, value in environ.items()
                if name.startswith(WEBHOOK_VARIABLE_PREFIX) and value
            }
        }
        for setting in fields(cls):
            names = setting.metadata.get("variables", ())
            raw = next((environ[name] for name in names if environ.get(name)), None)
            if raw is not None:
                values[setting.name] = _parse(names[0], raw, setting)
        return cls(**values)

    def require(self, *names: str) -> Settings:
        """These settings, or SettingError naming each variable that is not set."""
        by_name = {setting.name: setting for setting in fields(self)}
        missing = [by_name[n].metadata["variables"][0] for n in names if not getattr(self, n)]
        if missing:
            raise SettingError(
                f"{', '.join(missing)} not set: this function cannot run without it "
                "(template.yaml sets it)"
            )
        return self


def _parse(variable: str, raw: str, setting: Any) -> Any:
    default, minimum = setting.default, setting.metadata["minimum"]
    if isinstance(default, bool):
        if raw.strip().lower() not in ("true", "false"):
            raise SettingError(f"{variable} must be true or false, not {raw!r}")
        return raw.strip().lower() == "true"
    if not isinstance(default, int | float):
        return raw
    try:
        value = type(default)(raw)
    except ValueError:
        kind = "a whole number" if isinstance(default, int) else "a number"
        raise SettingError(f"{variable} must be {kind}, not {raw!r}") from None
    if minimum is not None and not value >= minimum:
        raise SettingError(f"{variable} must be at least {minimum:g}, not {raw!r}")
    return value


@cache
def settings() -> Settings:
    """The settings, read on the first call (tests changing the environment call cache_clear)."""
    return Settings.from_environment(os.environ)


class LazyClient:
    """A boto3 client made on its first call, with the arguments `boto3.client` would take.

    Making a client loads its service's JSON model, about 75 ms of a cold start: an
    invocation that never calls the service (a batch that alerts nobody) does not pay it, and
    tests that load a handler inside moto get the client made inside moto too.
    """

    # Every lazy client, so that a SnapStart restore can make them again (leadscore.snapstart).
    _every: weakref.WeakSet[LazyClient] = weakref.WeakSet()

    def __init__(self, service: str, **options: Any) -> None:
        self._service = service
        self._options = options
        self._client: Any = None
        self._lock = threading.Lock()  # the local stack calls handlers from several threads
        LazyClient._every.add(self)

    @classmethod
    def forget_all(cls) -> int:
        """Drop every client made so far (the next call makes it again); how many were made."""
        made = 0
        for lazy in list(cls._every):
            with lazy._lock:
                made += lazy._client is not None
                lazy._client = None
        return made

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3

                    self._client = boto3.client(self._service, **self._options)  # type: ignore[call-overload]
        return getattr(self._client, name)
