"""What each platform module provides: how to read its payload and how to check its signature."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..auth import SignatureCheck
from ..interface import WebhookRequest
from ..payload import Parsed

Parser = Callable[[WebhookRequest, datetime], Parsed]


@dataclass(frozen=True, slots=True)
class Provider:
    """One platform: its parser, its signature check (None when it does not sign), and the
    unsigned requests it sends to validate a webhook URL (answered 200 with nothing stored)."""

    name: str
    parse: Parser
    verify: SignatureCheck | None = None
    handshake_methods: frozenset[str] = frozenset({"HEAD"})
