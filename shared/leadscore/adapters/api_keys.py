"""Scoped API keys in the leads table, stored by their SHA-256 only: verify, create, list, revoke.

Two items per key: `APIKEY#<sha256>` (what a request's key is looked up by: the authorizer may
read only these) and `APIKEYS`/`<key id>` (the list an operator reads and revokes from). A key
never leaves `create`: what is stored is its hash, its scopes, a name and when it was made.
Plain boto3 (no pynamodb): the authorizer imports this, and its cold start is every key's first
request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SCOPES = ("ingest", "sales", "admin")
LOOKUP_PREFIX = "APIKEY#"
LOOKUP_SORT = "APIKEY"
REGISTRY = "APIKEYS"


class ApiKeyError(ValueError):
    """A key cannot be created or revoked as asked (an unknown scope, an unknown id)."""


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents: its `x-api-key` header, or the user of HTTP Basic
    (`Authorization: Basic base64(key:)`, as Segment and RudderStack send a write key).

    None without one, or with both headers: API Gateway caches an answer under one of them
    (the route's identity source), so the key checked must be the only one sent."""
    found = {name.lower(): value for name, value in headers.items()}
    api_key, authorization = found.get("x-api-key"), found.get("authorization")
    if api_key and authorization:
        return None
    if api_key or not authorization:
        return api_key or None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return user.partition(":")[0] or None


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def key_id_of(digest: str) -> str:
    """A key's public id: the start of its hash (naming a key in logs and lists, never it)."""
    return digest[:16]


def allows(scopes: Iterable[str], needed: str) -> bool:
    """Whether a key with `scopes` may use a route that needs `needed` (admin may use all)."""
    granted = set(scopes)
    return "admin" in granted or needed in granted


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: str  # ISO-8601
    revoked_at: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ApiKey:
        return cls(
            key_id=item["key_id"]["S"],
            name=item.get("name", {}).get("S", ""),
            scopes=tuple(item.get("scopes", {}).get("S", "").split()),
            created_at=item.get("created_at", {}).get("S", ""),
            revoked_at=item.get("revoked_at", {}).get("S"),
        )


class ApiKeys:
    """The keys of one table, through a boto3 DynamoDB client (or a LazyClient)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def verify(self, key: str) -> ApiKey | None:
        """The key's record, or None for an unknown or revoked key."""
        if not key or len(key) > 256:
            return None
        found = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": LOOKUP_PREFIX + key_hash(key)}, "sk": {"S": LOOKUP_SORT}},
            ConsistentRead=True,  # a revocation holds from the next uncached request
        ).get("Item")
        if not found:
            return None
        record = ApiKey.from_item(found)
        return None if record.revoked_at else record

    def create(
        self, name: str, scopes: Iterable[str], now: datetime, key: str | None = None
    ) -> tuple[str, ApiKey]:
        """A new key (random unless given: the local stack's fixed keys) and its record."""
        chosen = tuple(sorted(set(scopes)))
        if not chosen or any(scope not in SCOPES for scope in chosen):
            raise ApiKeyError(f"scopes must be some of {', '.join(SCOPES)}, not {list(scopes)}")
        key = key or "lsk_" + secrets.token_urlsafe(32)
        digest = key_hash(key)
        record = ApiKey(key_id_of(digest), name, chosen, now.isoformat())
        attributes = {
            "key_id": {"S": record.key_id},
            "name": {"S": name},
            "scopes": {"S": " ".join(chosen)},
            "created_at": {"S": record.created_at},
        }
        new = "attribute_not_exists(pk)"
        self.client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            "pk": {"S": LOOKUP_PREFIX + digest},
                            "sk": {"S": LOOKUP_SORT},
                            **attributes,
                        },
                        "ConditionExpression": new,
                    }
                },
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": {
                            "pk": {"S": REGISTRY},
                            "sk": {"S": record.key_id},
                            "key_hash": {"S": digest},
                            **attributes,
                        },
                        "ConditionExpression": new,
                    }
                },
            ]
        )
        return key, record

    def list(self) -> list[ApiKey]:
        """Every key ever created (revoked ones too), oldest first."""
        records: list[ApiKey] = []
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :registry",
            "ExpressionAttributeValues": {":registry": {"S": REGISTRY}},
        }
        while True:
            page = self.client.query(**arguments)
            records += [ApiKey.from_item(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(records, key=lambda record: record.created_at)
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def revoke(self, key_id: str, now: datetime) -> ApiKey:
        """Revoke a key by its id (a second revocation keeps the first one's time)."""
        found = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": REGISTRY}, "sk": {"S": key_id}},
            ConsistentRead=True,
        ).get("Item")
        if not found:
            raise ApiKeyError(f"no API key with id {key_id!r}")
        record = ApiKey.from_item(found)
        if record.revoked_at:
            return record
        when = now.isoformat()
        update = {
            "UpdateExpression": "SET revoked_at = :now",
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeValues": {":now": {"S": when}},
        }
        lookup = {"pk": {"S": LOOKUP_PREFIX + found["key_hash"]["S"]}, "sk": {"S": LOOKUP_SORT}}
        self.client.transact_write_items(
            TransactItems=[
                {"Update": {"TableName": self.table, "Key": lookup, **update}},
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": {"S": REGISTRY}, "sk": {"S": key_id}},
                        **update,
                    }
                },
            ]
        )
        return ApiKey(record.key_id, record.name, record.scopes, record.created_at, when)


class RememberedKeys:
    """`ApiKeys.verify`, remembering each key found for `seconds`: the authorizer runs before
    every keyed request (it has no API Gateway cache), so a warm container reads a key once a
    minute instead of once a request; a revocation holds within that. Unknown keys are read
    every time (nothing to remember of them)."""

    def __init__(
        self,
        keys: ApiKeys,
        seconds: float = 60.0,
        most: int = 1_024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._seconds = seconds
        self._most = most
        self._clock = clock
        self._found: dict[str, tuple[float, ApiKey]] = {}

    def verify(self, key: str) -> ApiKey | None:
        if not key or len(key) > 256:
            return None
        digest, now = key_hash(key), self._clock()
        remembered = self._found.get(digest)
        if remembered is not None and now - remembered[0] < self._seconds:
            return remembered[1]
        record = self._keys.verify(key)
        if record is None:
            self._found.pop(digest, None)
            return None
        if len(self._found) >= self._most:  # a bound, not an LRU: a full cache starts over
            self._found.clear()
        self._found[digest] = (now, record)
        return record
