"""Runtime settings, read once from the environment into a typed object; AWS clients made lazily."""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import Any

from pydantic import BaseModel, Field


class Settings(BaseModel):
    table_name: str = "leadscore"
    queue_url: str = ""
    rescore_queue_url: str = ""
    topic_arn: str = ""
    region: str = "us-east-1"
    # Moto server (local stack) or another DynamoDB endpoint; empty on AWS.
    endpoint_url: str | None = None
    model_cache_seconds: float = Field(default=60, ge=0)
    event_retention_days: int = Field(default=400, ge=1)
    write_attempts: int = Field(default=6, ge=1)
    # The rescore queue's RedrivePolicy maxReceiveCount: a step failing that receive is in the DLQ.
    rescore_max_receive_count: int = Field(default=3, ge=1)


@cache
def settings() -> Settings:
    env = os.environ
    return Settings(
        table_name=env.get("TABLE_NAME", "leadscore"),
        queue_url=env.get("QUEUE_URL", ""),
        rescore_queue_url=env.get("RESCORE_QUEUE_URL", ""),
        topic_arn=env.get("TOPIC_ARN", ""),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        model_cache_seconds=float(env.get("MODEL_CACHE_SECONDS", "60")),
        event_retention_days=int(env.get("EVENT_RETENTION_DAYS", "400")),
        rescore_max_receive_count=int(env.get("RESCORE_MAX_RECEIVE_COUNT", "3")),
    )


class LazyClient:
    """A boto3 client made on its first call, with the arguments `boto3.client` would take.

    Making a client loads its service's JSON model, about 75 ms of a cold start: an
    invocation that never calls the service (a batch that alerts nobody) does not pay it, and
    tests that load a handler inside moto get the client made inside moto too.
    """

    def __init__(self, service: str, **options: Any) -> None:
        self._service = service
        self._options = options
        self._client: Any = None
        self._lock = threading.Lock()  # the local stack calls handlers from several threads

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3

                    self._client = boto3.client(self._service, **self._options)  # type: ignore[call-overload]
        return getattr(self._client, name)
