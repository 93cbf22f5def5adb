"""What the benches on moto share: their fake AWS environment, DynamoDB's item size and the
write units of a transaction, and a publisher that drops every notification."""

from __future__ import annotations

import math
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


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (close enough for capacity units)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        ((kind, content),) = value.items()
        size += 3 + item_bytes(content) if kind == "M" else len(str(content).encode())
    return size


def transaction_wcu(params: dict[str, Any]) -> int:
    """Write units of a TransactWriteItems request: 2 per started KB of each item."""
    units = 0
    for entry in params["TransactItems"]:
        ((_operation, body),) = entry.items()
        size = item_bytes(body.get("Item") or body.get("Key") or {})
        units += 2 * max(1, math.ceil(size / 1024))
    return units


class Quiet:
    """A publisher that drops every notification."""

    def publish(self, notification: Any) -> None:
        pass
