"""The webhook adapter's public types: the request it reads, the result it returns, its errors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class Secrets(Protocol):
    """Where webhook secrets come from: environment variables locally, SSM when deployed.

    A plain `dict[str, str]` satisfies it. `get` answers None for a secret that is not set.
    """

    def get(self, name: str, /) -> str | None: ...


class CertificateFetcher(Protocol):
    """Downloads an Amazon SNS signing certificate (PEM bytes); the adapter itself never does I/O.

    It is only called with an `https://sns.<region>.amazonaws.com/...pem` URL, after that URL
    was checked. The caller should cache the answer by URL.
    """

    def __call__(self, url: str, /) -> bytes: ...


class WebhookError(Exception):
    """A webhook request the API refuses; `status` is the HTTP answer."""

    status = 400


class WebhookAuthError(WebhookError):
    """The request is not proven to come from the platform: answer 401 and store nothing."""

    status = 401

    def __init__(self, message: str, *, challenge: str | None = None) -> None:
        super().__init__(message)
        # The WWW-Authenticate value to send back (Amazon SNS only sends Basic credentials
        # after it has been challenged).
        self.challenge = challenge


class WebhookFormatError(WebhookError):
    """The request is authentic (or unchecked) but not a payload the platform sends: 400."""

    status = 400


class UnknownProvider(WebhookError):
    """No platform of that name: 404."""

    status = 404


class Headers(Mapping[str, str]):
    """HTTP headers whose look-ups ignore case, as HTTP says they should."""

    __slots__ = ("_values",)

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self._values = {str(k).lower(): str(v) for k, v in (headers or {}).items()}

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Headers({sorted(self._values)})"


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One HTTP request from a platform, unchanged.

    `body` is the raw bytes exactly as received (signatures cover them); `url` is the full
    URL the platform called, query string included (Mandrill and HubSpot sign it).
    """

    provider: str
    method: str
    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)
    url: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery id the platform signed with a timestamp: taken once, until `until`.

    The signature proves it came from the platform, not that it is the first time it comes:
    a second request with it before `until` is a replay (Mailgun signs no more than this id
    and its time, so a replayed id can carry any body). `refusal` is the status that answers
    a replay in the way the platform stops retrying it.
    """

    id: str
    until: datetime
    refusal: int = 401


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """What the platform must be answered on success."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class IgnoredEvent:
    """A native event that is not scored, and why. `email` is personal data: never log it."""

    native_event: str
    why: str
    email: str | None = None
    provider_event_id: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """The scoreable events (in the `POST /v1/events` shape), the rest, and the answer to give.

    `confirm_url` is set for an Amazon SNS SubscriptionConfirmation: the caller confirms
    the subscription with an HTTP GET of that URL.
    """

    events: list[dict[str, Any]]
    ignored: list[IgnoredEvent]
    response: WebhookResponse = field(default_factory=WebhookResponse)
    confirm_url: str | None = None
    # Set when the platform's signature covers a delivery id: the caller takes it only once.
    delivery: Delivery | None = None
