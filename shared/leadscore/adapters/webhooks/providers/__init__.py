"""The platforms `POST /v1/webhooks/{provider}` accepts, by the name used in the URL.

A platform's module is imported the first time a request names it, so a cold start loads
only the parsers it uses (and cryptography only for the platforms that sign with it).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from .base import Provider

# Each platform's URL name is also the name of its module in this package.
NAMES = (
    "sendgrid",
    "mailgun",
    "mailchimp",
    "mandrill",
    "postmark",
    "sparkpost",
    "brevo",
    "mailjet",
    "ses",
    "resend",
    "mailersend",
    "mailtrap",
    "unisender_go",
    "typeform",
    "webflow",
    "unbounce",
    "hubspot",
)


class Providers(Mapping[str, Provider]):
    """Every platform by name; a name outside NAMES never reaches the import system."""

    def __getitem__(self, name: str) -> Provider:
        if name not in NAMES:
            raise KeyError(name)
        provider: Provider = importlib.import_module(f"{__name__}.{name}").PROVIDER
        return provider

    def __iter__(self) -> Iterator[str]:
        return iter(NAMES)

    def __len__(self) -> int:
        return len(NAMES)


PROVIDERS: Mapping[str, Provider] = Providers()

__all__ = ["NAMES", "PROVIDERS", "Provider"]
