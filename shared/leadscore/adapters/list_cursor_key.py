"""The key that signs the sales lists' cursors: configured, or made once and kept in the table."""

from __future__ import annotations

import secrets
import threading
from typing import Any

from botocore.exceptions import ClientError

SECRET = "list-cursor"  # noqa: S105 (a secret's name): LEADSCORE_WEBHOOK_LIST_CURSOR locally
KEY_PK, KEY_SK = "SECRET#list-cursor", "KEY"


class ListCursorKey:
    """`configured` (the `list-cursor` webhook-style secret) when set; else a random key the
    first request of the deployment puts in the leads table (a conditional put: every
    container ends up with the same one). The keyed function may read the whole table
    anyway: the key only proves a cursor is ours and unchanged."""

    def __init__(self, client: Any, table: str, configured: str | None = None) -> None:
        self._client = client
        self._table = table
        self._key = configured.encode() if configured else None
        self._lock = threading.Lock()

    def __call__(self) -> bytes:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    self._key = self._stored() or self._made()
        return self._key

    def _stored(self) -> bytes | None:
        answer = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": KEY_PK}, "sk": {"S": KEY_SK}},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return None if item is None else bytes(item["key"]["B"])

    def _made(self) -> bytes:
        key = secrets.token_bytes(32)
        try:
            self._client.put_item(
                TableName=self._table,
                Item={"pk": {"S": KEY_PK}, "sk": {"S": KEY_SK}, "key": {"B": key}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return self._stored() or key  # another container put it first
        return key
