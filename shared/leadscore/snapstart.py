"""Lambda SnapStart's runtime hooks: what one snapshot must not hand to every copy restored from it.

Lambda snapshots a function's memory once, after its init, and resumes every new execution
environment from that one image. So each copy would share the snapshot's `random` state
(the retry backoff's jitter would draw the same waits in every copy) and anything opened or
fetched during init: sockets, boto3 sessions and their credentials, pynamodb connections.
Our clients are lazy, so init opens none; the hooks make sure of it before the snapshot and
drop whatever exists after a restore, so each copy connects and signs with its own.

What is shared on purpose: the settings, the built routes and models, the JWKS keys and SNS
certificates fetched later (public, the same for every copy). `secrets`, `uuid4` and X-Ray's
ids read `os.urandom` on each call, not a seed kept in memory.

Outside Lambda (tests, the local stack) `snapshot_restore_py` is absent and nothing registers.
"""

from __future__ import annotations

import importlib
import random
import sys
from typing import Any

from leadscore.settings import LazyClient


def register_hooks() -> bool:
    """Register the hooks with the runtime's `snapshot_restore_py`; False where there is none."""
    try:
        runtime: Any = importlib.import_module("snapshot_restore_py")
    except ImportError:
        return False
    runtime.register_before_snapshot(before_snapshot)
    runtime.register_after_restore(after_restore)
    return True


def before_snapshot() -> None:
    """Nothing connected goes into the snapshot."""
    forget_connections()


def after_restore() -> None:
    """This copy's own randomness and connections."""
    random.seed()  # from os.urandom, drawn in this copy
    forget_connections()


def forget_connections() -> None:
    """Drop every AWS client, session, pynamodb connection and pooled HTTP connection made so
    far: the next call makes its own. Only modules already imported are touched."""
    LazyClient.forget_all()
    boto3: Any = sys.modules.get("boto3")
    if boto3 is not None:
        boto3.DEFAULT_SESSION = None  # its credential resolver and cached credentials with it
    dynamo: Any = sys.modules.get("leadscore.adapters.dynamo")
    if dynamo is not None:
        dynamo.connection.cache_clear()
        _forget_table_connections(dynamo.LeadTable)
    http: Any = sys.modules.get("leadscore.adapters.http")
    if http is not None and http.pool.cache_info().currsize:
        http.pool().clear()  # closes the pooled sockets
        http.pool.cache_clear()


def _forget_table_connections(model: type[Any]) -> None:
    """pynamodb keeps a connection (a botocore session and client) on each model class."""
    if "_connection" in vars(model):
        model._connection = None
    subclass: type[Any]
    for subclass in model.__subclasses__():
        _forget_table_connections(subclass)
