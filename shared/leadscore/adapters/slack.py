"""Slack incoming webhooks: Block Kit messages for sales notifications, posted with retries."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from urllib3.exceptions import MaxRetryError

from leadscore.adapters.http import ATTEMPTS, RETRYABLE, pool, retry_policy
from leadscore.domain.emails import EmailError, normalize_email
from leadscore.domain.notifications import TITLES


class SlackError(Exception):
    """Slack refused the message or stayed unavailable after every retry."""


USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")  # a Slack member id, as a mention needs it


def user_ids(mapping: str) -> dict[str, str]:
    """Salespeople's Slack member ids from `email=U0123ABC,email=W0456DEF` (the deployment's
    SlackUserIds); ValueError on an entry that is not one, so a typo fails loudly."""
    found: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in mapping.split(","))):
        email, equals, user_id = (text.strip() for text in entry.partition("="))
        if not equals or "@" not in email or not USER_ID.match(user_id):
            raise ValueError(f"not email=SlackMemberId: {entry!r}")
        found[_canonical(email)] = user_id
    return found


def _canonical(email: str) -> str:
    """An address as owners are stored (the one email rule), so that the mapping finds it."""
    try:
        return normalize_email(email)
    except EmailError:
        return email.casefold()


def owner_text(owner: Any, members: Mapping[str, str]) -> str:
    """The owner as Slack shows them: a mention (`<@U0123ABC>`, which notifies them) when their
    member id is known, else their email; "-" for nobody."""
    if not owner:
        return "-"
    user_id = members.get(_canonical(str(owner)))
    return f"<@{user_id}>" if user_id else escape(owner)


def escape(text: Any) -> str:
    """Slack mrkdwn control characters: user data must not ping @channel or forge links."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks(document: dict[str, Any], members: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Block Kit message for one notification document (the SNS `default` JSON); a lead
    with an owner mentions them (`members`: email -> Slack member id, `user_ids`)."""
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
    texts = [f"*{title}*\n{escape(value)}" for title, value in fields]
    text = escape(f"{header} - score {document.get('score')}")
    if "owner" in document:  # lead notifications: who follows it up (already escaped)
        owner = owner_text(document["owner"], members or {})
        texts.append(f"*Owner*\n{owner}")
        text += f" - owner {owner}" if document["owner"] else ""
    message: dict[str, Any] = {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": t} for t in texts]},
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
