"""Make moto's DynamoDB writes atomic, as DynamoDB's are.

moto checks a transaction's conditions and then applies its items without a lock, so two
threads can both pass `version = 3` and both write: a lost update real DynamoDB never allows
(writes to an item are serialised; a transaction is all-or-nothing). Tests and the local
stack run the scorer in parallel against moto, so they need the stand-in to be faithful.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item")


def install() -> None:
    """Serialise moto's DynamoDB write operations (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in _WRITES:
        method = getattr(DynamoDBBackend, name, None)
        if method is None or getattr(method, "_serialised", False):
            continue

        def serialised(*args: Any, __method: Any = method, **kwargs: Any) -> Any:
            with _LOCK:
                return __method(*args, **kwargs)

        functools.update_wrapper(serialised, method)
        serialised._serialised = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, serialised)
