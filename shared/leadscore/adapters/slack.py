"""Slack incoming webhooks: Block Kit messages for sales notifications, with retries."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from leadscore.domain.notifications import TITLES

logger = Logger(child=True)
RETRYABLE = {429, 500, 502, 503, 504}


class SlackError(Exception):
    """Slack refused the message or stayed unavailable after every retry."""


def escape(text: Any) -> str:
    """Slack mrkdwn control characters: user data must not ping @channel or forge links."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks(document: dict[str, Any]) -> dict[str, Any]:
    """The Block Kit message for one notification document (the SNS `default` JSON)."""
    label = TITLES.get(str(document.get("kind")), str(document.get("kind", "Notification")))
    name = str(document.get("name") or document.get("email") or document.get("account") or "?")
    header = f"{label}: {document.get('rating', '')} {name}"[:150]
    fields = [
        ("Company", document.get("company") or "-"),
        ("Score", f"{document.get('score')}/100"),
        ("Fit", f"{document.get('fit')} (grade {document.get('grade')})"),
        ("Engagement", f"{document.get('engagement')} (level {document.get('engagement_level')})"),
        ("SLA due", document.get("sla_due_at") or "-"),
        ("Model", document.get("model")),
    ]
    reasons = document.get("reasons") or []
    why = "\n".join(
        f"• {float(r.get('points', 0)):+g}  {escape(r.get('rule'))}" for r in reasons[:5]
    )
    message: dict[str, Any] = {
        "text": escape(f"{header} - score {document.get('score')}"),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{title}*\n{escape(value)}"}
                    for title, value in fields
                ],
            },
        ],
    }
    if why:
        message["blocks"].append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Top reasons*\n{why}"}}
        )
    people = document.get("people") or []  # account notifications: the people behind it
    if people:
        listed = "\n".join(
            f"• {float(p.get('points', 0)):+g}  {escape(p.get('name') or p.get('email') or '?')}"
            + (f", {escape(p['job_title'])}" if p.get("job_title") else "")
            + ("" if p.get("engaged", True) else " (not engaged)")
            for p in people[:8]
        )
        message["blocks"].append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*People*\n{listed}"}}
        )
    message["blocks"].append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": escape(
                        f"{document.get('kind')} · "
                        f"{document.get('account') or document.get('email') or ''}"
                    ),
                }
            ],
        }
    )
    return message


def post(
    url: str,
    message: dict[str, Any],
    attempts: int = 5,
    base_delay: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 5.0,
) -> None:
    """POST to the incoming webhook; retry 429 and 5xx with exponential backoff (Retry-After
    honoured), raise SlackError when Slack refuses or never recovers."""
    body = json.dumps(message).encode()
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's Slack webhook
            url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                response.read()
                return
        except urllib.error.HTTPError as error:
            if error.code not in RETRYABLE:
                raise SlackError(f"Slack refused the message: HTTP {error.code}") from None
            retry_after = error.headers.get("Retry-After")
            delay = (
                float(retry_after)
                if retry_after and retry_after.isdigit()
                else base_delay * 2 ** (attempt - 1)
            )
            reason = f"HTTP {error.code}"
        except (urllib.error.URLError, TimeoutError) as error:
            delay, reason = base_delay * 2 ** (attempt - 1), type(error).__name__
        if attempt == attempts:
            raise SlackError(f"Slack unavailable after {attempts} attempts ({reason})")
        logger.warning("Slack not ready, retrying", attempt=attempt, reason=reason, delay=delay)
        sleep(min(delay, 30.0))
