"""What every command shares: user-facing errors, JSON output, time arguments."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadscore.domain.events import EventError, parse_time


class CommandError(Exception):
    """A user-facing failure: printed without a traceback, exit status `status`."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def print_json(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def read_json(path: str, what: str) -> Any:
    """A JSON file (or JSON lines) the user named; a clear error when it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot read {what} {path}: {error.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            return [json.loads(line) for line in lines]
        except json.JSONDecodeError:
            raise CommandError(
                f"{what} {path} is not JSON "
                f"(line {error.lineno}, column {error.colno}: {error.msg})"
            ) from None


def parse_at(value: str | None) -> datetime:
    """`--at TIME` (ISO-8601), or now."""
    if value is None:
        return datetime.now(UTC)
    try:
        return parse_time(value, "--at")
    except EventError as error:
        raise CommandError(str(error)) from None
