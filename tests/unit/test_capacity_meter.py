"""The benches' capacity meter against hand-computed cases of DynamoDB's documented rules,
on moto with the table of template.yaml (its indexes: `due_keys` projects keys only, the
lists INCLUDE).

Sources (Amazon DynamoDB Developer Guide):
- "Item sizes and formats": a string is its name's bytes plus its UTF-8 bytes; a number
  its name's bytes plus 1 byte per two significant digits plus 1.
- "Managing throughput settings on provisioned tables": a write unit is 1 KB, rounded up
  per item; UpdateItem costs the larger of the item before and after; a read unit is 4 KB
  strongly consistent (half that eventually consistent); a Query rounds the total size of
  the items it reads, not each item.
- "Transactions: capacity management": two underlying writes of every item (prepare and
  commit), so 2 units per started KB.
- "Global secondary indexes: write capacity units": a put when an item enters the index, a
  delete and a put when an indexed key changes, one write when only projected attributes
  change, nothing when the item is in the index neither before nor after (or, the section
  says, when the write does not require an index update); larger entries take more units.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.bench.capacity import CapacityMeter, item_size

TABLE = os.environ["TABLE_NAME"]


@pytest.fixture
def dynamodb(aws: None) -> Iterator[Any]:
    yield boto3.client("dynamodb")


def text(value: str) -> dict[str, str]:
    return {"S": value}


def test_item_size_follows_the_documented_rules() -> None:
    """Names plus values; "4200" has two significant digits: 1 + 1 byte."""
    assert item_size({"pk": text("LEAD#a"), "score": {"N": "4200"}}) == 2 + 6 + 5 + 2
    assert item_size({"n": {"N": "-0.001230"}}) == 1 + 3  # 123: 2 bytes + 1


def test_a_put_of_one_and_a_half_kb_costs_two_write_units(dynamodb: Any) -> None:
    """1,536 bytes round up to 2 KB: 2 units; the item is in no index, which cost none."""
    item = {"pk": text("LEAD#a"), "sk": text("X"), "blob": text("x" * 1521)}
    assert item_size(item) == 1536
    with CapacityMeter() as meter:
        dynamodb.put_item(TableName=TABLE, Item=item)
    assert meter.writes == {"table": 2}
    assert meter.requests == {"PutItem": 1}


def test_a_transactional_put_costs_twice_as_much(dynamodb: Any) -> None:
    """Prepare and commit: 2 x 2 units for the same 1.5 KB item."""
    item = {"pk": text("LEAD#a"), "sk": text("X"), "blob": text("x" * 1521)}
    with CapacityMeter() as meter:
        dynamodb.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": item}}])
    assert meter.writes == {"table": 4}


def test_a_condition_check_is_billed_as_a_transactional_write(dynamodb: Any) -> None:
    """A ConditionCheck of a sub-1 KB item beside a put: 2 units each, no index."""
    checked = {"pk": text("LEAD#b"), "sk": text("X")}
    dynamodb.put_item(TableName=TABLE, Item=checked)
    item = {"pk": text("LEAD#a"), "sk": text("X")}
    with CapacityMeter() as meter:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": item}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": checked,
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert meter.writes == {"table": 4}


def test_an_update_moving_the_due_key_deletes_and_puts_the_index_entry(dynamodb: Any) -> None:
    """534 bytes: the table 1 unit; `due_keys` a delete (1) and a put (1) of its entry, and
    nothing when only an attribute it does not project changes."""
    item = {
        "pk": text("LEAD#a"),  # 8 bytes
        "sk": text("X"),  # 3
        "due_pk": text("DUE#0"),  # 11
        "due_at": {"N": "100"},  # 6 + 2
        "blob": text("x" * 500),  # 504
    }
    assert item_size(item) == 534
    dynamodb.put_item(TableName=TABLE, Item=item)
    with CapacityMeter() as meter:
        dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET due_at = :at",
            ExpressionAttributeValues={":at": {"N": "200"}},
        )
    assert meter.writes == {"table": 1, "due_keys": 2}
    with CapacityMeter() as meter:
        dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET #blob = :blob",
            ExpressionAttributeNames={"#blob": "blob"},
            ExpressionAttributeValues={":blob": text("y" * 500)},
        )
    assert meter.writes == {"table": 1}
    with CapacityMeter() as meter:  # leaving the table leaves the index: a delete
        dynamodb.delete_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})
    assert meter.writes == {"table": 1, "due_keys": 1}


def test_an_include_index_holds_the_keys_and_its_attributes_only(dynamodb: Any) -> None:
    """by_score's entry: the table's keys, its own keys and `email`, not `profile`: 56 bytes,
    1 unit; the 2,063-byte item 3 units in the table."""
    item = {
        "pk": text("LEAD#a"),  # 8
        "sk": text("STATE#default"),  # 15
        "list_pk": text("L#0"),  # 10
        "score": {"N": "4200"},  # 7
        "email": text("a@b.example"),  # 16
        "profile": text("x" * 2000),  # 2,007: not projected
    }
    meter = CapacityMeter()
    entry = meter.table.index("by_score").entry(item, meter.table.keys)
    assert entry is not None and item_size(entry) == 56
    assert item_size(item) == 2063
    with meter:
        dynamodb.put_item(TableName=TABLE, Item=item)
    assert meter.writes == {"table": 3, "by_score": 1}


def test_an_update_of_no_projected_attribute_costs_the_table_only(dynamodb: Any) -> None:
    """`profile` is in no index's projection: the update writes the table (3 units for the
    larger of before and after), no index."""
    item = {
        "pk": text("LEAD#a"),
        "sk": text("STATE#default"),
        "list_pk": text("L#0"),
        "score": {"N": "4200"},
        "model_pk": text("MODEL#default"),  # in by_model (KEYS_ONLY) too
        "profile": text("x" * 2000),
    }
    dynamodb.put_item(TableName=TABLE, Item=item)
    with CapacityMeter() as meter:
        dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": item["pk"], "sk": item["sk"]},
            UpdateExpression="SET profile = :p",
            ExpressionAttributeValues={":p": text("y" * 2000)},
        )
    assert meter.writes == {"table": 3}


def test_a_query_reading_ten_kb_strongly_consistent_costs_three_read_units(
    dynamodb: Any,
) -> None:
    """Ten items of 1,024 bytes: 10,240 bytes round up to 12 KB, 3 units (not 10, as read
    item by item); eventually consistent half that; a filter that keeps nothing still
    reads them all; BatchGetItem rounds each item up alone (2 items: 2 units)."""
    for n in range(10):
        item = {"pk": text("Q"), "sk": text(f"k{n}"), "blob": text("x" * 1013)}
        assert item_size(item) == 1024
        dynamodb.put_item(TableName=TABLE, Item=item)
    query = {
        "TableName": TABLE,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": text("Q")},
    }
    with CapacityMeter() as strong:
        assert len(dynamodb.query(**query, ConsistentRead=True)["Items"]) == 10
    with CapacityMeter() as eventual:
        dynamodb.query(**query)
    with CapacityMeter() as filtered:
        answer = dynamodb.query(
            **{**query, "ExpressionAttributeValues": {":pk": text("Q"), ":no": text("none")}},
            FilterExpression="#blob = :no",
            ExpressionAttributeNames={"#blob": "blob"},
            ConsistentRead=True,
        )
        assert answer["Items"] == []
    with CapacityMeter() as batch:
        keys = [{"pk": text("Q"), "sk": text(f"k{n}")} for n in (0, 1)]
        dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": keys, "ConsistentRead": True}})
    assert (strong.reads, eventual.reads, filtered.reads) == (
        {"table": 3},
        {"table": 1.5},
        {"table": 3},
    )
    assert batch.reads == {"table": 2}
