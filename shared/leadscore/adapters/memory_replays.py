"""The replay guard in memory, for tests and tools: the DynamoDB guard's answers, per process."""

from __future__ import annotations

import threading


class MemoryReplays:
    """`ReplayGuard` in a dict: (scope, token) -> until."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def first_use(self, scope: str, token: str, until: int, now: int) -> bool:
        with self._lock:
            held = self.seen.get((scope, token))
            if held is not None and held >= now:
                return False
            self.seen[(scope, token)] = until
            return True

    def forget(self, scope: str, token: str, until: int) -> None:
        with self._lock:
            if self.seen.get((scope, token)) == until:
                del self.seen[(scope, token)]
