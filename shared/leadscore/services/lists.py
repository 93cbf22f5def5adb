"""The sales lists: leads and accounts of a model, sorted and filtered, a page at a time.

Design: docs/design/table.md "Lists". The store reads the list indexes; this module picks the
model, signs the cursor (HMAC-SHA256 over the store's place and the query it belongs to, for
an hour) and shapes the rows as the API answers them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from leadscore.domain.compiled import CompiledModel
from leadscore.domain.times import iso
from leadscore.services.store import (
    AccountRow,
    Cursor,
    LeadRow,
    LeadStore,
    ListFilters,
    ListPage,
)

Row = TypeVar("Row", LeadRow, AccountRow)

CURSOR_SECONDS = 3_600  # a cursor is for paging now, not a bookmark
CLOCK_SKEW = 60  # seconds the clocks of two containers may differ
MAX_CURSOR_CHARS = 4_096


class CursorRefused(ValueError):
    """A cursor that is not ours, was changed, has expired or belongs to another query."""


class ModelRefused(ValueError):
    """No model, or not one the list can take: `field` says which parameter, `allowed` the
    models it can take (a client such as the console offers them)."""

    def __init__(self, message: str, allowed: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.field = "model"
        self.allowed = list(allowed)


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One request of a list: everything but the page size binds its cursor."""

    kind: str  # leads or accounts
    model: str | None
    sort: str
    filters: ListFilters
    limit: int
    cursor: str | None = None

    def binding(self, model: str) -> dict[str, Any]:
        """What a cursor of this query must carry, as JSON reads it back."""
        filters = {**asdict(self.filters), "ratings": list(self.filters.ratings)}
        return {"kind": self.kind, "model": model, "sort": self.sort, **filters}


def lead_list(
    store: LeadStore, models: Sequence[CompiledModel], query: ListQuery, key: bytes, now_s: int
) -> dict[str, Any]:
    """A page of `GET /v1/leads`: `{"leads": [...], "next_cursor": ...}`."""
    model = _model(models, query.model, accounts=False)
    return _page("leads", store.list_leads, lead_item, model, query, key, now_s)


def account_list(
    store: LeadStore, models: Sequence[CompiledModel], query: ListQuery, key: bytes, now_s: int
) -> dict[str, Any]:
    """A page of `GET /v1/accounts`: `{"accounts": [...], "next_cursor": ...}`."""
    model = _model(models, query.model, accounts=True)
    return _page("accounts", store.list_accounts, account_item, model, query, key, now_s)


def _page(
    name: str,
    lister: Callable[[str, str, ListFilters, int, Cursor | None], ListPage[Row]],
    item: Callable[[Row], dict[str, Any]],
    model: str,
    query: ListQuery,
    key: bytes,
    now_s: int,
) -> dict[str, Any]:
    """One page of a list: the cursor read and checked, the store's page, the next cursor."""
    binding = query.binding(model)
    place = read_cursor(query.cursor, binding, key, now_s)
    page = lister(model, query.sort, query.filters, query.limit, place)
    following = None if page.cursor is None else sign_cursor(page.cursor, binding, key, now_s)
    return {name: [item(row) for row in page.rows], "next_cursor": following}


def _model(models: Sequence[CompiledModel], wanted: str | None, accounts: bool) -> str:
    """The model listed: the one asked for, or the only one there is (contract §3)."""
    usable = [m.id for m in models if not accounts or m.model.account is not None]
    if wanted is None:
        if len(usable) == 1:
            return usable[0]
        what = "several models score accounts" if accounts else "several models exist"
        none = "no model scores accounts" if accounts else "no model is published"
        raise ModelRefused(f"required: {what}" if usable else none, sorted(usable))
    if wanted not in usable:
        what = "no such model" + (" scoring accounts" if accounts else "")
        raise ModelRefused(what, sorted(usable))
    return wanted


def _points(centipoints: int) -> float:
    return round(centipoints / 100, 2)


def lead_item(row: LeadRow) -> dict[str, Any]:
    return {
        "email": row.email,
        "name": row.name,
        "company": row.company,
        "account": row.account,
        "owner": row.owner,
        "score": _points(row.score),
        "fit": _points(row.fit),
        "engagement": _points(row.engagement),
        "rating": row.rating,
        "status": row.status,
        "mql_since": iso(row.mql_since),
        "sla_due_at": iso(row.sla_due_at),
        "last_activity_at": iso(row.last_activity_at),
    }


def account_item(row: AccountRow) -> dict[str, Any]:
    return {
        "account": row.domain,
        "score": _points(row.score),
        "rating": row.rating,
        "status": row.status,
        "mqa_since": iso(row.mqa_since),
    }


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, payload: str) -> str:
    return _encode(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def sign_cursor(place: Cursor, binding: dict[str, Any], key: bytes, now_s: int) -> str:
    """The opaque cursor of the next page: the store's place and the query, signed."""
    document = {"p": place, "q": binding, "t": now_s}
    payload = _encode(json.dumps(document, separators=(",", ":")).encode())
    return f"{payload}.{_signature(key, payload)}"


def read_cursor(
    cursor: str | None, binding: dict[str, Any], key: bytes, now_s: int
) -> Cursor | None:
    """The store's place in a cursor of ours, for this query, less than an hour old."""
    if cursor is None:
        return None
    payload, _, signature = cursor.partition(".")
    if len(cursor) > MAX_CURSOR_CHARS or not hmac.compare_digest(
        signature.encode(), _signature(key, payload).encode()
    ):
        raise CursorRefused("the cursor is not one this API gave, or it was changed")
    try:
        document = json.loads(_decode(payload))
    except (binascii.Error, ValueError):
        raise CursorRefused("the cursor cannot be read") from None
    if document.get("q") != binding:
        raise CursorRefused("the cursor belongs to a list with other parameters")
    if not -CLOCK_SKEW <= now_s - int(document.get("t", 0)) <= CURSOR_SECONDS:
        raise CursorRefused("the cursor has expired: start the list again")
    return document.get("p")
