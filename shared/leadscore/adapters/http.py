"""The one retry policy of outgoing HTTP calls (urllib3): 429 and 5xx retried with backoff."""

from __future__ import annotations

import logging
from functools import cache
from types import TracebackType
from typing import Self

from aws_lambda_powertools import Logger
from urllib3 import BaseHTTPResponse, PoolManager
from urllib3.connectionpool import ConnectionPool
from urllib3.util import Retry, Timeout

logger = Logger(child=True)
# urllib3 logs a retry with the URL, whose path may be a secret (a Slack webhook): ours says why.
logging.getLogger("urllib3").setLevel(logging.ERROR)
RETRYABLE = frozenset({429, 500, 502, 503, 504})
ATTEMPTS = 5


class LoggedRetry(Retry):
    """urllib3's Retry, logging each retry it grants (the URL's path may hold a secret)."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        # raises MaxRetryError when no retry is left
        granted = super().increment(method, url, response, error, _pool, _stacktrace)
        attempt = granted.history[-1]
        reason = f"HTTP {attempt.status}" if attempt.status else type(attempt.error).__name__
        logger.warning("HTTP call failed, retrying", attempt=len(granted.history), reason=reason)
        return granted


def retry_policy(attempts: int = ATTEMPTS, backoff: float = 0.5) -> Retry:
    """Up to `attempts` tries of any method: connection failures and RETRYABLE answers
    are tried again (never a request that may have been read: no read timeouts), after
    Retry-After when the server sends one, else after an exponential backoff (at most 30 s).
    The last answer is returned, not raised, so the caller says what a refusal means."""
    return LoggedRetry(
        total=attempts - 1,
        redirect=0,
        allowed_methods=None,  # POST too, but only where the request was not read:
        read=0,  # a timeout or a dropped connection after sending may have been delivered
        other=0,
        status_forcelist=RETRYABLE,
        backoff_factor=backoff,
        backoff_max=30.0,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


@cache
def pool() -> PoolManager:
    """Connections kept between invocations of a container, with the policy and a 5 s timeout."""
    return PoolManager(retries=retry_policy(), timeout=Timeout(total=5.0))
