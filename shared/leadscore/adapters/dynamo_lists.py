"""The sales lists on the table's list indexes: one Query per shard, merged in order.

Design: docs/design/table.md "Lists". A page queries every shard of the list's index in its
order (`Limit` = the page size), then emits the smallest head of the shards' answers once
every shard not yet exhausted has one, so the merge is exact; each shard's place goes into
the cursor. Filters are FilterExpressions: what they leave out is still read (and counted),
and a request stops reading at LIST_READ_CAP items with a cursor, even on a short page.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from leadscore.adapters.dynamo import LeadTable, state_sk
from leadscore.adapters.dynamo_records import (
    account_list_pk,
    lead_list_pk,
    mql_pk,
    owner_queue_pk,
)
from leadscore.services.store import (
    LIST_READ_CAP,
    LIST_SHARDS,
    MQL_SORTS,
    NO_DEADLINE,
    AccountRow,
    Cursor,
    LeadRow,
    ListFilters,
    ListPage,
    ListUnavailable,
    sort_rank,
)

Row = TypeVar("Row", LeadRow, AccountRow)
END = "end"  # a shard's place in a cursor once it is exhausted


@dataclass(frozen=True, slots=True)
class _Index:
    name: str
    partition: str  # the index's partition key attribute
    sort_key: str
    forward: bool  # ScanIndexForward: ascending
    pk_of: Callable[[str, int], str]  # (model, shard) -> partition key value
    item_pk: str  # the table's pk prefix of its items: LEAD# or ACCOUNT#
    shards: int = LIST_SHARDS


LEAD_INDEXES = {
    "-score": _Index("by_score", "list_pk", "score", False, lead_list_pk, "LEAD#"),
    "-last_activity_at": _Index(
        "by_activity", "list_pk", "last_activity_at", False, lead_list_pk, "LEAD#"
    ),
    "sla_due_at": _Index("mql_queue", "mql_pk", "sla_due_at", True, mql_pk, "LEAD#"),
    "-mql_since": _Index("mql_since", "mql_pk", "mql_since", False, mql_pk, "LEAD#"),
}


def lead_index(sort: str, filters: ListFilters) -> _Index:
    """The index a lead list reads: an owner's queue has its own (one partition)."""
    owner = filters.owner
    if sort == "sla_due_at" and owner:
        pk_of = lambda model, _shard: owner_queue_pk(model, owner)  # noqa: E731
        return _Index("owner_queue", "owner_pk", "sla_due_at", True, pk_of, "LEAD#", shards=1)
    return LEAD_INDEXES[sort]


ACCOUNT_INDEXES = {
    "-score": _Index("by_score", "list_pk", "score", False, account_list_pk, "ACCOUNT#"),
}


@dataclass(slots=True)
class _Shard:
    """One shard's part of a page: where it starts, what it has read but not yet emitted."""

    number: int
    start: Any  # None: from the beginning; END; [item key, sort value]: after that item
    read_to: Any = None  # where its last Query stopped (LastEvaluatedKey, compact)
    buffered: deque[tuple[int, Any, list[Any]]] = field(default_factory=deque)
    emitted: list[Any] | None = None  # the last item emitted from it

    @property
    def done(self) -> bool:
        return bool(self.read_to == END)

    def place(self) -> Any:
        """Where the next page starts in this shard: after what it emitted, or, with nothing
        left over, after what it read (filtered-out items are not read again)."""
        if self.buffered:
            return self.emitted if self.emitted is not None else self.start
        return self.read_to


def list_page(
    client: Any,
    index: _Index,
    model: str,
    sort: str,
    filters: ListFilters,
    limit: int,
    cursor: Cursor | None,
    to_row: Callable[[dict[str, Any]], Row],
) -> ListPage[Row]:
    """One page of a list (see the module's docstring)."""
    if sort in MQL_SORTS and filters.status not in (None, "mql"):
        return ListPage([], None)  # the queue holds MQLs only
    places = cursor or [None] * index.shards
    shards = [_Shard(n, place, read_to=place) for n, place in enumerate(places)]
    query = _query(index, model, filters)
    rows: list[Row] = []
    read = 0
    while len(rows) < limit:
        hungry = [s for s in shards if not s.done and not s.buffered]
        if hungry:
            if read >= LIST_READ_CAP:
                break
            for shard in hungry:
                read += _read(client, query, index, model, shard, limit, to_row, sort)
            continue
        heads = [s for s in shards if s.buffered]
        if not heads:
            break
        # Every shard still open has a head: the smallest is next (ties: by shard).
        first = min(heads, key=lambda s: (s.buffered[0][0], s.number))
        _, row, place = first.buffered.popleft()
        first.emitted = place
        rows.append(row)
    following = [s.place() for s in shards]
    more = any(place != END for place in following)
    return ListPage(rows, following if more else None, read)


def _query(index: _Index, model: str, filters: ListFilters) -> dict[str, Any]:
    """The Query's constant part: its index, order, projection and filter."""
    names: dict[str, str] = {"#pk": index.partition}
    values: dict[str, Any] = {}
    conditions: list[str] = []

    def equal(attribute: str, value: str | None) -> None:
        if value is None:
            return
        names[f"#{attribute}"] = attribute
        values[f":{attribute}"] = {"S": value}
        conditions.append(f"#{attribute} = :{attribute}")

    if index.name not in ("mql_queue", "mql_since"):  # those hold MQLs only
        equal("status", filters.status)
    equal("grade", filters.grade)
    equal("owner", filters.owner)
    if filters.ratings:
        names["#rating"] = "rating"
        choices = []
        for n, rating in enumerate(filters.ratings):
            values[f":rating{n}"] = {"S": rating}
            choices.append(f":rating{n}")
        conditions.append(f"#rating IN ({', '.join(choices)})")
    request: dict[str, Any] = {
        "TableName": LeadTable.Meta.table_name,
        "IndexName": index.name,
        "KeyConditionExpression": "#pk = :pk",
        "ScanIndexForward": index.forward,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }
    if conditions:
        request["FilterExpression"] = " AND ".join(conditions)
    return request


def _read(
    client: Any,
    query: dict[str, Any],
    index: _Index,
    model: str,
    shard: _Shard,
    limit: int,
    to_row: Callable[[dict[str, Any]], Row],
    sort: str,
) -> int:
    """One Query of a shard from where it stopped; returns the items it read."""
    partition = index.pk_of(model, shard.number)
    values = {**query["ExpressionAttributeValues"], ":pk": {"S": partition}}
    request = {**query, "ExpressionAttributeValues": values, "Limit": limit}
    if shard.read_to is not None:
        key, value = shard.read_to
        request["ExclusiveStartKey"] = {
            "pk": {"S": index.item_pk + key},
            "sk": {"S": state_sk(model)},
            index.partition: {"S": partition},
            index.sort_key: {"N": str(value)},
        }
    try:
        answer = client.query(**request)
    except ClientError as error:
        # DynamoDB: ValidationException "The table does not have the specified index";
        # moto: ResourceNotFoundException "Invalid index"
        message = str(error.response.get("Error", {}).get("Message", "")).lower()
        if "specified index" not in message and "invalid index" not in message:
            raise
        raise ListUnavailable(
            f"this list needs the table's {index.name} index, not there yet: deploy with "
            "the ListIndexes parameter raised (README, Upgrading)"
        ) from None
    for item in answer.get("Items", []):
        row = to_row(item)
        place = [item["pk"]["S"].removeprefix(index.item_pk), int(item[index.sort_key]["N"])]
        shard.buffered.append((sort_rank(row, sort), row, place))
    last = answer.get("LastEvaluatedKey")
    shard.read_to = (
        END
        if last is None
        else [last["pk"]["S"].removeprefix(index.item_pk), int(last[index.sort_key]["N"])]
    )
    return int(answer.get("ScannedCount", 0))


def _text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None or "S" not in value else str(value["S"])


def _number(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    return None if value is None or "N" not in value else int(value["N"])


def lead_row(item: dict[str, Any]) -> LeadRow:
    """A lead's row from an item of a list index."""
    sla_due_at = _number(item, "sla_due_at")
    return LeadRow(
        item["pk"]["S"].removeprefix("LEAD#"),
        _text(item, "email"),
        _text(item, "name"),
        _text(item, "company"),
        _text(item, "account_domain") or None,
        _text(item, "owner"),
        _number(item, "score") or 0,
        _number(item, "fit") or 0,
        _number(item, "engagement") or 0,
        _text(item, "grade") or "D",
        _text(item, "rating") or "D4",
        _text(item, "status") or "open",
        _number(item, "mql_since"),
        None if sla_due_at == NO_DEADLINE else sla_due_at,
        _number(item, "last_activity_at") or None,
    )


def account_row(item: dict[str, Any]) -> AccountRow:
    """An account's row from an item of the by_score index."""
    return AccountRow(
        item["pk"]["S"].removeprefix("ACCOUNT#"),
        _number(item, "score") or 0,
        _text(item, "grade") or "D",
        _text(item, "rating") or "D4",
        _text(item, "status") or "open",
        _number(item, "mqa_since"),
    )
