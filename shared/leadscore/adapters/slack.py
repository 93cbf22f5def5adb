"""Slack incoming webhooks: Block Kit messages for sales notifications, posted with retries."""

from __future__ import annotations

import json
from typing import Any

from urllib3.exceptions import MaxRetryError

from leadscore.adapters.http import ATTEMPTS, RETRYABLE, pool, retry_policy
from leadscore.domain.notifications import TITLES


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


def post(url: str, message: dict[str, Any], attempts: int = ATTEMPTS, backoff: float = 0.5) -> None:
    """POST to the incoming webhook under the HTTP retry policy; raise SlackError when Slack
    refuses the message or is still unavailable after every attempt."""
    try:
        answer = pool().request(
            "POST",
            url,
            body=json.dumps(message).encode(),
            headers={"Content-Type": "application/json"},
            retries=retry_policy(attempts, backoff),
        )
    except MaxRetryError as error:  # connection failures and timeouts, every attempt
        reason = type(error.reason).__name__
        raise SlackError(f"Slack unavailable after {attempts} attempts ({reason})") from None
    if answer.status in RETRYABLE:
        raise SlackError(f"Slack unavailable after {attempts} attempts (HTTP {answer.status})")
    if answer.status >= 400:
        raise SlackError(f"Slack refused the message: HTTP {answer.status}")
