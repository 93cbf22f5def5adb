"""Items packed in their order into as few chunks as the limits allow (greedily): events into
scoring messages, messages into SendMessageBatch calls, lead writes into transactions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def packed(
    items: Iterable[T], weight: Callable[[T], int], limit: int, count: int | None = None
) -> Iterator[list[T]]:
    """`items` in chunks whose weights add up to at most `limit`, of at most `count` items; an
    item heavier than `limit` is a chunk alone (callers that cannot send one refuse it first)."""
    chunk: list[T] = []
    total = 0
    for item in items:
        size = weight(item)
        if chunk and (total + size > limit or len(chunk) == count):
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += size
    if chunk:
        yield chunk
