"""The replay guard on the leads table: one conditional PutItem takes a delivery id.

Only PutItem, on keys starting `REPLAY#`: the API that receives webhooks needs no other
right on the table. The condition, not a read, tells a first use from a replay.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from pynamodb.exceptions import PutError

from leadscore.adapters.dynamo import ReplayItem

SK = "REPLAY"


def replay_pk(scope: str, token: str) -> str:
    """The item's key: the token hashed (keys stay short, whatever the platform sends)."""
    return f"REPLAY#{scope}#{hashlib.sha256(token.encode('utf-8', 'surrogatepass')).hexdigest()}"


class DynamoReplays:
    """`ReplayGuard` on the leads table."""

    def first_use(self, scope: str, token: str, until: int, now: int) -> bool:
        item = _item(scope, token, until, until)
        # An expired item may outlive its TTL for a while: it counts as absent.
        condition = ReplayItem.pk.does_not_exist() | (ReplayItem.until < now)
        try:
            item.save(condition=condition)
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def forget(self, scope: str, token: str, until: int) -> None:
        # A put, not a delete: an `until` of 0 is expired at once, and PutItem stays the one
        # right needed. Only the record this delivery made is undone.
        try:
            _item(scope, token, 0, until).save(condition=ReplayItem.until == until)
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise


def _item(scope: str, token: str, until: int, expires_at: int) -> ReplayItem:
    return ReplayItem(
        replay_pk(scope, token),
        SK,
        until=until,
        expires_at=datetime.fromtimestamp(expires_at, UTC),
    )
