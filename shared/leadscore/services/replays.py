"""The replay guard port: a signed delivery id is taken once while its signature is valid.

Implementations: `adapters.dynamo_replays` (a conditional put on the leads table) and
`adapters.memory_replays` (in memory, same answers). Times are epoch seconds.
"""

from __future__ import annotations

from typing import Protocol


class ReplayGuard(Protocol):
    def first_use(self, scope: str, token: str, until: int, now: int) -> bool:
        """Record `token` in `scope` until `until`; False when it is recorded and not expired
        at `now` (a replay). Two concurrent calls with one token: exactly one gets True."""
        ...

    def forget(self, scope: str, token: str, until: int) -> None:
        """Undo the `first_use` that recorded (scope, token, until), when its delivery was
        not accepted after all, so that the platform's retry is taken."""
        ...
