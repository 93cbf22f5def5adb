"""Publishing recorded notifications: publish each one, then forget those that went out
(and mark them sent in the notification log)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable

from aws_lambda_powertools import Logger

from leadscore.domain.notifications import Notification, Publisher
from leadscore.services.notification_log import logged
from leadscore.services.store import LeadStore

logger = Logger(child=True)
Alert = tuple[str, Notification]  # (model id, notification)
Clear = Callable[[str, str, Iterable[str]], None]  # (lead key or domain, model id, ids)


def unique(alerts: list[Alert]) -> list[Alert]:
    """One entry per notification id (a pending one may be found again)."""
    return list({notification.id: (m, notification) for m, notification in alerts}.values())


def publish_pending(
    key: str, alerts: list[Alert], store: LeadStore, publisher: Publisher
) -> tuple[int, int]:
    """Publish the lead's pending notifications and clear the published ones from its states.

    Returns (published, failed); a failed one stays pending in the state record, so the next
    write of that lead (or the caller's retry) finds it and publishes it again.
    """
    return _publish(key, alerts, publisher, store.clear_pending, store)


def publish_account_pending(
    domain: str, alerts: list[Alert], store: LeadStore, publisher: Publisher
) -> tuple[int, int]:
    """`publish_pending` for an account's notifications, cleared from its account records."""
    return _publish(domain, alerts, publisher, store.clear_account_pending, store)


def _publish(
    key: str, alerts: list[Alert], publisher: Publisher, clear: Clear, store: LeadStore
) -> tuple[int, int]:
    published: dict[str, list[str]] = defaultdict(list)
    failed = 0
    sent_at = int(time.time())
    sent = []
    for model_id, notification in alerts:
        try:
            publisher.publish(notification)
        except Exception:
            logger.exception("publish failed; the notification stays pending", key=key[:12])
            failed += 1
            continue
        published[model_id].append(notification.id)
        sent.append(logged(notification, model_id))
    for model_id, ids in published.items():
        clear(key, model_id, ids)
    store.notifications_sent(sent, sent_at)
    return sum(len(ids) for ids in published.values()), failed
