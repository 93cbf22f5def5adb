"""Machine activity: email opens and clicks no person made (privacy proxies, security scanners).

An event is judged from what its provider said (`properties.machine`, set by the webhook
adapters: `provider_flag:sg_machine_open`, `provider_flag:mailgun_bot:apple`, ...), its user
agent (`properties.user_agent`), and the lead's recent record of the same message: when it was
delivered, opened and clicked. The rules are conservative: a person clicking fast must not be
taken for a scanner, so each behaviour rule needs a signal no person is likely to give.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from leadscore.domain.bots import BOT_AGENT

# The email events the record follows: deliveries date a message, opens and clicks are judged.
EMAIL_KINDS = frozenset({"email_delivered", "email_open", "email_click"})
MAX_MESSAGES = 20  # per lead and model: the most recently active messages
# Seconds: scanners open and follow links as the message arrives (a person reads first).
AT_DELIVERY = 10
# A click of another link of the same message this close to a previous click (one second).
BURST = 1
# A click with no person's open of the message yet, this soon after delivery, when the lead's
# provider reports opens (the lead has opened a message before): a scanner's, not someone
# reading with images blocked (they need longer than a minute).
CLICK_BEFORE_OPEN = 60
# Apple Mail Privacy Protection fetches images with this bare user agent (Mailgun's bot
# detection notes; no mail client or browser sends it alone).
APPLE_PROXY_AGENT = "mozilla/5.0"
# Words of email security gateways and link checkers that name themselves in the user agent
# (most scanners pose as a browser: timing catches those).
SCANNER_AGENT = re.compile(
    r"barracuda|mimecast|proofpoint|urldefense|ironport|messagelabs|trendmicro|forcepoint"
    r"|zscaler|existence discovery|protocol discovery",
    re.IGNORECASE,
)
MAX_REASON = 64
SHORT_ID = 16  # characters of a message id kept as they are (longer ones: a 12-digit digest)
BLANK_DIGEST = hashlib.blake2b(digest_size=6)  # copied per id: half the cost of a new one

# A message's record: [delivered_at, first person's open, latest click, that click's link]
DELIVERED, OPENED, CLICKED, LINK = range(4)


def machine_reason(messages: dict[str, list[Any]], kind: str, properties: Mapping[str, Any],
                   at: int) -> str | None:  # fmt: skip
    """Why this email event is machine activity, or None; records it in `messages` either way.

    `messages` is the lead's bounded record (message key -> DELIVERED, OPENED, CLICKED, LINK
    epoch seconds, 0 when unknown); `at` is the event's time in epoch seconds.
    """
    reason = None
    if kind != "email_delivered":  # the membership tests first: most events carry neither
        if "machine" in properties or "machine_open" in properties:
            reason = stated_reason(properties)
        if reason is None and "user_agent" in properties:
            reason = agent_reason(properties["user_agent"], kind)
    key = message_key(properties)
    if key is None:
        return reason
    record = messages.get(key)
    if record is None:
        record = [0, 0, 0, ""]
        _remember(messages, key, record)
    if kind == "email_delivered":
        if not record[DELIVERED] or at < record[DELIVERED]:
            record[DELIVERED] = at
        return None
    if kind == "email_open":
        reason = reason or _open_reason(record, at)
        if reason is None and (not record[OPENED] or at < record[OPENED]):
            record[OPENED] = at
        return reason
    reason = reason or _click_reason(messages, record, properties.get("url"), at)
    _note_click(record, properties.get("url"), at)
    return reason


def stated_reason(properties: Mapping[str, Any]) -> str | None:
    """What the provider (or the user's own system) said: `machine` or the older `machine_open`."""
    stated = properties.get("machine")
    if isinstance(stated, str) and stated.strip():
        return stated.strip()[:MAX_REASON]
    if stated is True or properties.get("machine_open") is True:
        return "provider_flag"
    return None


def agent_reason(agent: Any, kind: str) -> str | None:
    """A user agent no person's mail client or browser sends; an absent one says nothing."""
    if not isinstance(agent, str):
        return None
    agent = agent.strip()[:1000]
    if not agent:
        return None
    apple, named = _judged_agent(agent)
    return "apple_mpp" if apple and kind == "email_open" else named


@lru_cache(maxsize=4096)
def _judged_agent(agent: str) -> tuple[bool, str | None]:
    """Whether a (stripped) user agent is Apple's proxy's, and the scanner's or bot's word it
    names, as `user_agent:<word>`. Remembered per agent: a lead's opens and clicks come from a
    few mail clients, and the two searches cost more than the rest of the event's scoring."""
    found = SCANNER_AGENT.search(agent) or BOT_AGENT.search(agent)
    named = None if found is None else f"user_agent:{found.group(0).strip().lower()}"
    return agent.lower() == APPLE_PROXY_AGENT, named


def message_key(properties: Mapping[str, Any]) -> str | None:
    """The message an email event is about (the provider's message id, else its campaign): a
    short id as it is, a longer one as a digest, so the record stays small."""
    value = properties.get("message_id") or properties.get("campaign")
    if type(value) is not str:
        return None
    if len(value) <= SHORT_ID:
        return value
    hasher = BLANK_DIGEST.copy()
    hasher.update(value.encode())
    return hasher.hexdigest()


def _open_reason(record: list[Any], at: int) -> str | None:
    delivered = record[DELIVERED]
    if delivered and abs(at - delivered) <= AT_DELIVERY:
        return "open_at_delivery"
    return None


def _click_reason(
    messages: dict[str, list[Any]], record: list[Any], url: Any, at: int
) -> str | None:
    delivered = record[DELIVERED]
    if delivered and abs(at - delivered) <= AT_DELIVERY:
        return "click_at_delivery"
    if record[CLICKED] and abs(at - record[CLICKED]) <= BURST and _link(url) != record[LINK]:
        return "click_burst"
    if (
        delivered
        and not record[OPENED]
        and 0 <= at - delivered <= CLICK_BEFORE_OPEN
        and any(other[OPENED] for other in messages.values())
    ):
        return "click_before_open"
    return None


def _note_click(record: list[Any], url: Any, at: int) -> None:
    """Keep the latest click (by time, then link: the same whatever the order of delivery)."""
    link = _link(url)
    if at > record[CLICKED] or (at == record[CLICKED] and link < record[LINK]):
        record[CLICKED], record[LINK] = at, link


def _link(url: Any) -> str:
    return url[:256] if isinstance(url, str) else ""


def _remember(messages: dict[str, list[Any]], key: str, record: list[Any]) -> None:
    """Add a message, forgetting the least recently active one past MAX_MESSAGES."""
    if len(messages) >= MAX_MESSAGES:
        oldest = min(messages, key=lambda k: (max(messages[k][:3]), k))
        del messages[oldest]
    messages[key] = record
