"""What the benches on moto share: their fake AWS environment and a publisher that drops every
notification (their capacity meter is tests/bench/capacity.py)."""

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
