"""SnapStart's runtime hooks: registered where the runtime offers them, and each restored copy
gets its own randomness and its own connections."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from leadscore import snapstart
from leadscore.adapters import dynamo, http
from leadscore.settings import LazyClient

from tests.conftest import load_function


class FakeRuntime(ModuleType):
    """`snapshot_restore_py` as the Python runtime ships it: two registries of callables."""

    def __init__(self) -> None:
        super().__init__("snapshot_restore_py")
        self.before: list[Callable[[], Any]] = []
        self.after: list[Callable[[], Any]] = []

    def register_before_snapshot(self, hook: Callable[[], Any]) -> None:
        self.before.append(hook)

    def register_after_restore(self, hook: Callable[[], Any]) -> None:
        self.after.append(hook)


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> FakeRuntime:
    fake = FakeRuntime()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    return fake


@pytest.fixture
def connected() -> Iterator[LazyClient]:
    """A lazy client, the default boto3 session, pynamodb's connections and the HTTP pool, all
    made (no request is sent: making them opens nothing yet)."""
    client = LazyClient("sqs", region_name="us-east-1")
    assert client.meta.service_model.service_name == "sqs"  # made on first use
    boto3.client("sts")  # makes boto3's default session
    dynamo.connection().client  # noqa: B018 (pynamodb makes its botocore client on first use)
    dynamo.LeadTable._get_connection()
    dynamo.ReplayItem._get_connection()
    http.pool()
    yield client
    snapstart.forget_connections()


def test_hooks_are_registered_with_the_runtime(runtime: FakeRuntime) -> None:
    assert snapstart.register_hooks() is True
    assert runtime.before == [snapstart.before_snapshot]
    assert runtime.after == [snapstart.after_restore]


def test_without_the_runtime_nothing_registers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails, as locally
    assert snapstart.register_hooks() is False


@pytest.mark.parametrize("name", ["api", "public_api"])
def test_the_snapstart_functions_register_the_hooks_at_init(
    name: str, runtime: FakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Lambda runs only the hooks a handler's init has registered.
    monkeypatch.setenv("QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/scoring")
    monkeypatch.setenv("TOPIC_ARN", "arn:aws:sns:us-east-1:1:sales")
    load_function(name)
    assert runtime.before == [snapstart.before_snapshot]
    assert runtime.after == [snapstart.after_restore]


def test_before_the_snapshot_nothing_stays_connected(connected: LazyClient) -> None:
    snapstart.before_snapshot()
    assert connected._client is None
    assert boto3.DEFAULT_SESSION is None
    assert dynamo.connection.cache_info().currsize == 0
    assert dynamo.LeadTable._connection is None
    assert dynamo.ReplayItem._connection is None
    assert http.pool.cache_info().currsize == 0


def test_after_a_restore_each_client_and_connection_is_made_again(connected: LazyClient) -> None:
    client, session = connected._client, boto3.DEFAULT_SESSION
    connection, table = dynamo.connection(), dynamo.LeadTable._get_connection()
    pool = http.pool()

    snapstart.after_restore()

    assert connected.meta.service_model.service_name == "sqs"  # still works, made anew
    assert connected._client is not client
    boto3.client("sts")
    assert boto3.DEFAULT_SESSION is not session
    assert dynamo.connection() is not connection
    assert dynamo.LeadTable._get_connection() is not table
    assert http.pool() is not pool


def test_two_restored_copies_draw_different_random_values() -> None:
    snapshot = random.getstate()  # what every copy resumes from

    def copy(hooks: bool) -> list[float]:
        random.setstate(snapshot)
        if hooks:
            snapstart.after_restore()
        return [random.random() for _ in range(3)]  # e.g. the retry backoff's jitter

    assert copy(hooks=False) == copy(hooks=False)  # what SnapStart alone would do
    assert copy(hooks=True) != copy(hooks=True)


def test_no_function_uses_snapstart_yet() -> None:
    """Not before a parameter-only deploy publishes a version: with AutoPublishAlias, SAM
    hashes the template's text, not parameter values (SAM issue 3820), so a changed
    CorsOrigins or TrackingSites would not reach the alias the API calls. The hooks are
    registered all the same (they run only when SnapStart restores a snapshot)."""
    from leadscore_tools.template import load_template

    resources = load_template()["Resources"]
    assert not [n for n, r in resources.items() if (r.get("Properties") or {}).get("SnapStart")]
