"""One capacity meter for every bench: DynamoDB's requests, read units and write units as
DynamoDB bills them, for the base table and each global secondary index.

The rules (Developer Guide: "Managing throughput settings on provisioned tables", "Global
secondary indexes: write capacity units", "Transactions: capacity management", "Item sizes"):

- a write costs 1 unit per started KB of the larger of the item before and after it
  (PutItem, UpdateItem; DeleteItem: the deleted item; BatchWriteItem: each item alone);
  in TransactWriteItems 2 units per started KB of each item, a ConditionCheck included (it
  is billed as a write); a failed conditional write still costs its units, its indexes none;
- an index costs 1 unit per started KB of its entry (the table's keys, the index's keys and
  the projected attributes) when the item is in the index before or after the write and
  its entry changes; a delete and a put when an index key changes; nothing otherwise (the
  index is updated after a transaction commits: standard writes);
- a read costs per started 4 KB: 1 unit strongly consistent, 0.5 eventually consistent (an
  index is always that), 2 transactional; GetItem and BatchGetItem per item (a key not
  found still costs the minimum), Query and Scan by the total size of the items evaluated
  (a filter or a projection reads them whole; an index Query reads index entries).

Knowing "before" takes the old item: the meter reads it from moto before each write, and
the item after an UpdateItem after it, through a client it does not meter.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

WRITE_PRICE = 0.625  # USD per million write request units, on-demand, us-east-1
READ_PRICE = 0.125  # USD per million read request units
KB = 1024
BASE = "table"  # the base table's column; the others are named after their index
Item = dict[str, Any]


def value_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of one attribute value (the name not included)."""
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return number_size(content)
    if kind == "B":
        return len(content) if isinstance(content, bytes | bytearray) else len(content.encode())
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in content)
    if kind == "NS":
        return sum(number_size(n) for n in content)
    if kind == "BS":
        return sum(len(b) for b in content)
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in content.items())
    raise ValueError(f"unknown attribute type {kind}")


def number_size(text: str) -> int:
    """1 byte per two significant digits, plus 1 (leading and trailing zeros trimmed)."""
    digits = Decimal(text).normalize().as_tuple().digits if Decimal(text) else (0,)
    return math.ceil(len(digits) / 2) + 1


def item_size(item: Item | None) -> int:
    """DynamoDB's item size: attribute names plus values."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / KB))


def read_units(size: int) -> int:
    return max(1, math.ceil(size / (4 * KB)))


@dataclass(frozen=True)
class Index:
    """A global secondary index: its keys and what it projects (None: ALL)."""

    name: str
    keys: tuple[str, ...]
    projected: frozenset[str] | None

    def entry(self, item: Item | None, table_keys: tuple[str, ...]) -> Item | None:
        """The item's entry in this index, or None when it is not in it (a key missing)."""
        if item is None or any(key not in item for key in self.keys):
            return None
        if self.projected is None:
            return item
        kept = {*table_keys, *self.keys, *self.projected}
        return {name: value for name, value in item.items() if name in kept}

    def writes(self, old: Item | None, new: Item | None, table_keys: tuple[str, ...]) -> int:
        """Write units of one base-table write in this index: none, a put, a delete, an
        update in place (the larger entry), or a delete and a put when its key changes."""
        before, after = self.entry(old, table_keys), self.entry(new, table_keys)
        if before == after:  # in neither, or nothing it holds changed
            return 0
        if before is None or after is None:
            return write_units(item_size(before or after))
        if any(before[key] != after[key] for key in self.keys):
            return write_units(item_size(before)) + write_units(item_size(after))
        return write_units(max(item_size(before), item_size(after)))


@dataclass(frozen=True)
class Table:
    """The table a bench creates: its key attributes and its indexes."""

    keys: tuple[str, ...]
    indexes: tuple[Index, ...]

    @classmethod
    def of(cls, definition: dict[str, Any]) -> Table:
        indexes = []
        for index in definition.get("GlobalSecondaryIndexes", []):
            projection = index["Projection"]
            kind = projection["ProjectionType"]
            projected = (
                None
                if kind == "ALL"
                else frozenset(projection.get("NonKeyAttributes", []) if kind == "INCLUDE" else ())
            )
            keys = tuple(key["AttributeName"] for key in index["KeySchema"])
            indexes.append(Index(index["IndexName"], keys, projected))
        keys = tuple(key["AttributeName"] for key in definition["KeySchema"])
        return cls(keys, tuple(indexes))

    def index(self, name: str) -> Index:
        return next(index for index in self.indexes if index.name == name)

    def key(self, item: Item) -> Item:
        return {name: item[name] for name in self.keys}

    def write(self, old: Item | None, new: Item | None, transactional: bool) -> Counter[str]:
        """Write units of one item written, by target: the table's, then each index's."""
        units: Counter[str] = Counter()
        units[BASE] = (2 if transactional else 1) * write_units(max(item_size(old), item_size(new)))
        for index in self.indexes:
            units[index.name] += index.writes(old, new, self.keys)
        return units


class CapacityMeter:
    """Requests by operation and capacity units by target ("table" or an index's name),
    for every DynamoDB call made while it is entered (inside moto)."""

    def __init__(self, definition: dict[str, Any] | None = None) -> None:
        if definition is None:
            from leadscore_tools.template import table_definition

            definition = table_definition()
        self.table = Table.of(definition)
        self.requests: Counter[str] = Counter()
        self.reads: Counter[str] = Counter()  # read units (halves for eventual reads)
        self.reads_by_operation: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._original: Any = None
        self._reader: Any = None
        # spent in the meter's own reads in the main thread (a bench's timing leaves it out)
        self.own_seconds = 0.0

    # --- totals ---

    @property
    def read_units(self) -> float:
        return sum(self.reads.values())

    @property
    def write_units(self) -> float:
        return sum(self.writes.values())

    @property
    def request_count(self) -> int:
        return sum(self.requests.values())

    def dollars(self) -> float:
        """Dollars of DynamoDB on-demand capacity for everything metered."""
        return (self.write_units * WRITE_PRICE + self.read_units * READ_PRICE) / 1e6

    def targets(self) -> list[str]:
        return [BASE, *(index.name for index in self.table.indexes)]

    # --- installation ---

    def __enter__(self) -> CapacityMeter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Meter every DynamoDB client's calls, whichever connection made the client."""
        from botocore.client import BaseClient

        self._original = original = BaseClient._make_api_call
        meter = self

        def metered(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if client.meta.service_model.service_name != "dynamodb":
                return original(client, operation, params)
            return meter.call(lambda: original(client, operation, params), operation, params)

        BaseClient._make_api_call = metered  # type: ignore[method-assign]

    def stop(self) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self._original  # type: ignore[method-assign]

    @property
    def reader(self) -> Any:
        """The client of the meter's own reads (not metered)."""
        if self._reader is None:
            import boto3

            self._reader = boto3.client("dynamodb")
        return self._reader

    def _unmetered(self, operation: str, params: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return self._original(self.reader, operation, params)
        finally:
            if threading.current_thread() is threading.main_thread():
                self.own_seconds += time.perf_counter() - started

    def _get(self, table: str, key: Item) -> Item | None:
        answer = self._unmetered(
            "GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}
        )
        item: Item | None = answer.get("Item")
        return item

    # --- accounting ---

    def call(self, send: Any, operation: str, params: dict[str, Any]) -> Any:
        """Send one request and account for it."""
        with self._lock:
            self.requests[operation] += 1
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            return self._write(send, operation, params)
        if operation == "BatchWriteItem":
            return self._batch_write(send, params)
        if operation == "TransactWriteItems":
            return self._transact_write(send, params)
        parsed = send()
        if operation == "GetItem":
            self._get_reads(params, parsed)
        elif operation == "BatchGetItem":
            self._batch_get_reads(params, parsed)
        elif operation in ("Query", "Scan"):
            self._query_reads(operation, params, parsed)
        elif operation == "TransactGetItems":
            for entry in params["TransactItems"]:
                body = entry["Get"]
                self._add_reads(
                    BASE,
                    2 * read_units(item_size(self._get(body["TableName"], body["Key"]))),
                    operation,
                )
        return parsed

    def _add_reads(self, target: str, units: float, operation: str) -> None:
        with self._lock:
            self.reads[target] += units
            self.reads_by_operation[operation] += units

    def _add_writes(self, units: Counter[str]) -> None:
        with self._lock:
            self.writes.update(+units)  # no zero entries

    def _write(self, send: Any, operation: str, params: dict[str, Any]) -> Any:
        table = params["TableName"]
        key = params.get("Key") or self.table.key(params["Item"])
        with self._lock:  # the item stays as read until it is written
            old = self._get(table, key)
            try:
                parsed = send()
            except Exception:
                # a failed conditional write still costs its base units, its indexes none
                # (an existing item: the new item's size, or the old one's for an update;
                # a new item: 1)
                size = item_size(params.get("Item") or old) if old else 0
                self._add_writes(Counter({BASE: write_units(size)}))
                raise
            new = None  # DeleteItem
            if operation == "PutItem":
                new = params["Item"]
            elif operation == "UpdateItem":
                new = self._get(table, key)
            self._add_writes(self.table.write(old, new, transactional=False))
        return parsed

    def _batch_write(self, send: Any, params: dict[str, Any]) -> Any:
        with self._lock:
            changes = []
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        new = request["PutRequest"]["Item"]
                        changes.append((self._get(table, self.table.key(new)), new))
                    else:
                        changes.append((self._get(table, request["DeleteRequest"]["Key"]), None))
            parsed = send()
            for old, new in changes:  # moto processes every item (no UnprocessedItems)
                self._add_writes(self.table.write(old, new, transactional=False))
        return parsed

    def _transact_write(self, send: Any, params: dict[str, Any]) -> Any:
        with self._lock:
            entries = []
            for entry in params["TransactItems"]:
                ((action, body),) = entry.items()
                key = body.get("Key") or self.table.key(body["Item"])
                entries.append((action, body, key, self._get(body["TableName"], key)))
            try:
                parsed = send()
            except Exception:
                # a cancelled transaction: its items' base units, as if attempted
                for _action, body, _key, old in entries:
                    size = max(item_size(old), item_size(body.get("Item")))
                    self._add_writes(Counter({BASE: 2 * write_units(size)}))
                raise
            for action, body, key, old in entries:
                if action == "ConditionCheck":  # billed as a transactional write, no index
                    self._add_writes(Counter({BASE: 2 * write_units(item_size(old))}))
                    continue
                new = None  # Delete
                if action == "Put":
                    new = body["Item"]
                elif action == "Update":
                    new = self._get(body["TableName"], key)
                self._add_writes(self.table.write(old, new, transactional=True))
        return parsed

    def _get_reads(self, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        item = parsed.get("Item")
        if item is not None and ("ProjectionExpression" in params or "AttributesToGet" in params):
            item = self._get(params["TableName"], params["Key"])  # a projection reads it whole
        factor = 1.0 if params.get("ConsistentRead") else 0.5
        self._add_reads(BASE, factor * read_units(item_size(item)), "GetItem")

    def _batch_get_reads(self, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        for table, asked in params["RequestItems"].items():
            factor = 1.0 if asked.get("ConsistentRead") else 0.5
            found = {
                self._key_text(self.table.key(item)): item
                for item in parsed.get("Responses", {}).get(table, [])
            }
            projected = "ProjectionExpression" in asked or "AttributesToGet" in asked
            for key in asked["Keys"]:
                item = found.get(self._key_text(key))
                if item is not None and projected:
                    item = self._get(table, key)
                self._add_reads(BASE, factor * read_units(item_size(item)), "BatchGetItem")

    @staticmethod
    def _key_text(key: Item) -> str:
        return repr(sorted((name, repr(value)) for name, value in key.items()))

    def _query_reads(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        items = parsed.get("Items", [])
        narrowed = any(
            name in params
            for name in ("FilterExpression", "ProjectionExpression", "Select", "AttributesToGet")
        )
        if narrowed:  # what a filter leaves out or a projection drops was still read
            items = self._unmetered(operation, _evaluated(params)).get("Items", [])
        name = params.get("IndexName")
        if name is None:
            factor = 1.0 if params.get("ConsistentRead") else 0.5
            self._add_reads(BASE, factor * read_units(sum(item_size(i) for i in items)), operation)
            return
        index = self.table.index(name)
        size = sum(item_size(index.entry(item, self.table.keys)) for item in items)
        self._add_reads(
            name, 0.5 * read_units(size), operation
        )  # an index read is eventually consistent


def _evaluated(params: dict[str, Any]) -> dict[str, Any]:
    """The same Query or Scan without its filter and projection: the items it evaluates."""
    request = {
        k: v
        for k, v in params.items()
        if k not in ("FilterExpression", "ProjectionExpression", "Select", "AttributesToGet")
    }
    used = set(re.findall(r"[#:][A-Za-z0-9_]+", str(request.get("KeyConditionExpression", ""))))
    names = {k: v for k, v in request.get("ExpressionAttributeNames", {}).items() if k in used}
    values = {k: v for k, v in request.get("ExpressionAttributeValues", {}).items() if k in used}
    for field, kept in (("ExpressionAttributeNames", names), ("ExpressionAttributeValues", values)):
        if kept:
            request[field] = kept
        else:
            request.pop(field, None)
    return request


# --- printing ---


def header(label: str, width: int, meter: CapacityMeter, per: str) -> str:
    """Column heads: requests, read units, write units, dollars per million, then the write
    units of the table and of each index."""
    heads = f"{label:<{width}}{'req/' + per:>12}{'RCU/' + per:>12}{'WCU/' + per:>12}{'$/M':>8}"
    return heads + " | WCU: " + "".join(f"{t:>{_col(t)}}" for t in meter.targets())


def row(label: str, width: int, meter: CapacityMeter, per: float) -> str:
    """One scenario's figures per event (or page view, lead...), then its detail lines."""
    line = (
        f"{label:<{width}}{meter.request_count / per:>12.2f}{meter.read_units / per:>12.2f}"
        f"{meter.write_units / per:>12.2f}{meter.dollars() / per * 1e6:>8.2f}"
        + " |      "
        + "".join(f"{meter.writes[t] / per:>{_col(t)}.2f}" for t in meter.targets())
    )
    reads = ", ".join(f"{t} {meter.reads[t] / per:.2f}" for t in meter.targets() if meter.reads[t])
    by_operation = ", ".join(
        f"{name} {units / per:.2f}" for name, units in meter.reads_by_operation.items() if units
    )
    return (
        f"{line}\n  requests by operation: {dict(meter.requests)}\n"
        f"  read units by target: {reads}; by operation: {by_operation}"
    )


def _col(target: str) -> int:
    return max(7, len(target) + 1)
