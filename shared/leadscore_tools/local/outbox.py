"""The local outbox: every message published to the stack's SNS topics, printed and kept.

It reads what moto receives on Publish (subject, the whole MessageStructure=json message,
attributes): an SQS subscription would only see the `default` text, not the `email` one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

Listener = Callable[[str, dict[str, Any]], None]  # (topic ARN, outbox entry)


class Outbox:
    def __init__(self, topic_arns: set[str], console: TextIO | None, limit: int = 10_000) -> None:
        self._topic_arns = topic_arns
        self._console = console
        self._limit = limit
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.listeners: list[Listener] = []

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count

    def record(
        self,
        topic_arn: str,
        message_id: str,
        message: str,
        subject: str | None,
        attributes: dict[str, Any] | None,
        structure: str | None,
    ) -> None:
        if topic_arn not in self._topic_arns:
            return
        parts = _message_parts(message, structure)
        entry = {
            "message_id": message_id,
            "topic": topic_arn.rsplit(":", 1)[-1],
            "subject": subject,
            "message": _parsed(parts.get("default", message)),
            "email_text": parts.get("email"),
            "attributes": {name: _value(v) for name, v in (attributes or {}).items()},
            "published_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        with self._lock:
            self._entries.append(entry)
            del self._entries[: -self._limit]
        self._print(entry)
        for listener in self.listeners:
            listener(topic_arn, entry)

    def _print(self, entry: dict[str, Any]) -> None:
        if self._console is None:
            return
        at = entry["published_at"][11:19]
        lines = [f"[outbox {at}] {entry['subject'] or '(no subject)'}"]
        text = entry["email_text"] or json.dumps(entry["message"], ensure_ascii=False)
        lines += [f"    {line}" for line in text.splitlines()[1:] if line.strip()]
        print("\n".join(lines), file=self._console, flush=True)


def _message_parts(message: str, structure: str | None) -> dict[str, Any]:
    if structure != "json":
        return {"default": message}
    try:
        parts = json.loads(message)
    except ValueError:
        return {"default": message}
    return parts if isinstance(parts, dict) else {"default": message}


def _parsed(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return text


def _value(attribute: Any) -> Any:
    # moto keeps {"Type": "String", "Value": ...}; the API shape is {"DataType", "StringValue"}
    if isinstance(attribute, dict):
        return attribute.get("Value", attribute.get("StringValue"))
    return attribute


_current: Outbox | None = None


def install(outbox: Outbox | None) -> None:
    """Route moto's SNS Publish to `outbox` (None: stop recording)."""
    global _current  # noqa: PLW0603 (one moto per process, so one outbox)
    from moto.sns.models import Topic

    _current = outbox
    if getattr(Topic.publish, "_outbox", False):
        return
    original = Topic.publish

    def publish(self: Topic, message: str, *args: Any, **kwargs: Any) -> str:
        message_id = original(self, message, *args, **kwargs)
        if _current is not None:
            subject = kwargs.get("subject", args[0] if args else None)
            attributes = kwargs.get("message_attributes", args[1] if len(args) > 1 else None)
            structure = kwargs.get("message_structure")
            _current.record(self.arn, message_id, message, subject, attributes, structure)
        return message_id

    publish._outbox = True  # type: ignore[attr-defined]
    Topic.publish = publish  # type: ignore[method-assign]
