"""What the benches on moto share: their fake AWS environment, a publisher that drops every
notification, and moto made proportional to the items a request touches (their capacity
meter is tests/bench/capacity.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TABLE = "leadscore-bench"


def fake_aws_environment() -> None:
    """Fake credentials, one region, the bench's table, Powertools quiet: set before anything
    reads the settings (the benches import the package inside `main`)."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        TABLE_NAME=TABLE,
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="ERROR",
    )


class Quiet:
    """A publisher that drops every notification."""

    def publish(self, notification: Any) -> None:
        pass


def fast_moto() -> None:
    """moto's transactions back up only the items they touch, and a Query of a partition key
    reads only that partition (see the module's docstring)."""
    import copy
    import threading

    import moto.dynamodb.models as module
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    original = DynamoDBBackend.transact_write_items

    class ShallowCopy:
        @staticmethod
        def deepcopy(value: Any) -> Any:
            # the table itself (its touched items are restored on failure); anything else copied
            return value if isinstance(value, Table) else copy.deepcopy(value)

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backups = []
        for entry in transact_items:
            ((_operation, body),) = entry.items()
            table = self.tables[body["TableName"]]
            key = body.get("Key") or {
                name: body["Item"][name]
                for name in (table.hash_key_attr, table.range_key_attr)
                if name
            }
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            found = table.get_item(hash_key, range_key)
            backups.append((table, hash_key, range_key, copy.deepcopy(found)))
        module.copy = ShallowCopy  # type: ignore[assignment]
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in backups:
                if item is not None:
                    table.items[hash_key][range_key] = item
                else:
                    table.items.get(hash_key, {}).pop(range_key, None)
            raise
        finally:
            module.copy = copy

    DynamoDBBackend.transact_write_items = transact  # type: ignore[method-assign]

    focus = threading.local()  # (table, partition key) of the Query under way in this thread
    all_items, query = Table.all_items, Table.query

    def partition_items(self: Any) -> Any:
        table, hash_key = getattr(focus, "partition", (None, None))
        if table is self and self.range_key_attr:
            return sorted(self.items.get(hash_key, {}).values(), key=lambda i: i.range_key)
        return all_items(self)

    def partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        focus.partition = (self, hash_key) if index_name is None else (None, None)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            focus.partition = (None, None)

    Table.all_items = partition_items  # type: ignore[method-assign]
    Table.query = partition_query  # type: ignore[method-assign]
