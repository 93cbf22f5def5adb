"""The replay guard on the leads table (moto): one conditional PutItem per call, keys under
`REPLAY#`, the token hashed, the TTL at the end of the signature's validity."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from leadscore.adapters.dynamo import ReplayItem
from leadscore.adapters.dynamo_replays import DynamoReplays

from tests.conftest import table_items

TOKEN = "1767268800e0b5477167110d68991efc6b9f89f0a11066af27834600e123"
KEY = ("REPLAY#mailgun#" + hashlib.sha256(TOKEN.encode()).hexdigest(), "REPLAY")


@pytest.fixture
def calls(aws: None) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every DynamoDB operation the guard makes, with its parameters."""
    made: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **kwargs: Any) -> None:
        made.append((model.name, params))

    client = ReplayItem._get_connection().connection.client
    client.meta.events.register("provide-client-params.dynamodb.*", record)
    yield made
    client.meta.events.unregister("provide-client-params.dynamodb.*", record)


def test_first_use_then_replay(calls: list[tuple[str, dict[str, Any]]]) -> None:
    guard = DynamoReplays()
    assert guard.first_use("mailgun", TOKEN, until=2_000, now=1_000)
    assert not guard.first_use("mailgun", TOKEN, until=2_000, now=1_500)
    assert not guard.first_use("mailgun", TOKEN, until=2_000, now=2_000)
    assert guard.first_use("mailgun", "another token", until=2_000, now=1_500)
    assert guard.first_use("resend", TOKEN, until=2_000, now=1_500)

    item = table_items("REPLAY#mailgun#")[KEY]
    assert item["until"] == {"N": "2000"}
    assert item["expires_at"] == {"N": "2000"}  # the table's TTL attribute (template.yaml)
    assert TOKEN not in repr(table_items())  # hashed, never in clear
    # Only PutItem, each on one key under REPLAY#, decided by its condition: no read at all.
    assert {name for name, _ in calls} == {"PutItem"}
    for _, params in calls:
        assert params["Item"]["pk"]["S"].startswith("REPLAY#")
        assert "attribute_not_exists" in params["ConditionExpression"]


def test_an_expired_record_not_yet_deleted_by_ttl_is_absent(aws: None) -> None:
    guard = DynamoReplays()
    assert guard.first_use("mailgun", TOKEN, until=2_000, now=1_000)
    assert guard.first_use("mailgun", TOKEN, until=9_000, now=2_001)
    assert table_items()[KEY]["until"] == {"N": "9000"}


def test_forget_undoes_only_its_own_record(calls: list[tuple[str, dict[str, Any]]]) -> None:
    guard = DynamoReplays()
    assert guard.first_use("mailgun", TOKEN, until=2_000, now=1_000)
    guard.forget("mailgun", TOKEN, until=1_999)  # another delivery's: kept
    assert not guard.first_use("mailgun", TOKEN, until=2_000, now=1_100)
    guard.forget("mailgun", TOKEN, until=2_000)
    assert guard.first_use("mailgun", TOKEN, until=2_000, now=1_200)
    assert {name for name, _ in calls} == {"PutItem"}


def test_a_replay_record_reads_back_as_its_own_kind(aws: None) -> None:
    """Whatever scans the table (tools, tests) reads the record, it does not break them."""
    DynamoReplays().first_use("ses", "m-1", until=2_000, now=1_000)
    [item] = list(ReplayItem.scan())
    assert isinstance(item, ReplayItem)
    assert item.expires_at == datetime.fromtimestamp(2_000, UTC)
