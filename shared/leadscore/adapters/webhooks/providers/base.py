"""What each platform module provides: how to read its payload and how to check its signature."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadscore.domain.visitors import valid_visitor

from ..auth import SignatureCheck
from ..interface import WebhookRequest
from ..payload import Parsed

Parser = Callable[[WebhookRequest, datetime], Parsed]
# The canonical email events made by a person's (or a machine's) mail client or browser: the
# adapters pass on their user agent and any machine flag (domain/machine.py judges them).
ENGAGEMENT = frozenset({"email_open", "email_click"})
# A form's hidden field holding the website visitor id: `ls_vid` (the name we document for
# the platforms' own hidden fields) or `_visitor` (the one the tracking snippet fills in).
VISITOR_FIELDS = ("ls_vid", "_visitor")


@dataclass(frozen=True, slots=True)
class Provider:
    """One platform: its parser, its signature check (None when it does not sign), and the
    unsigned requests it sends to validate a webhook URL (answered 200 with nothing stored)."""

    name: str
    parse: Parser
    verify: SignatureCheck | None = None
    handshake_methods: frozenset[str] = frozenset({"HEAD"})


def hidden_visitor(fields: Mapping[str, Any]) -> str | None:
    """The visitor id a form's hidden field carries, when it is one; anything else is ignored
    (a hidden field is typed by the public: a bad value must not cost the lead its form)."""
    for name in VISITOR_FIELDS:
        if found := valid_visitor(fields.get(name)):
            return found
    return None
