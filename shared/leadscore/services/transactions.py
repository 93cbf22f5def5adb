"""How lead writes fill transactions: a write's items are its records and the notification
log's items they add, and one transaction takes at most MAX_TRANSACTION_RECORDS of them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from leadscore.domain.packing import packed
from leadscore.services.notification_log import log_items
from leadscore.services.store import MAX_TRANSACTION_RECORDS, LeadWrite, WriteRefused

# What an account record may take beside its leads' records: itself, and the log entry of
# the notification it may record (an account crosses once a write), with its pointer.
ACCOUNT_RECORD_ITEMS = 3


def write_items(write: LeadWrite) -> int:
    """The items a write puts in its transaction: its records and their log items."""
    return len(write.records) + sum(log_items(record) for record in write.records)


def lead_room(account_models: int) -> int:
    """The items a lead's own write may take, leaving room for its account's records (one per
    model scoring accounts) in the same transaction."""
    return MAX_TRANSACTION_RECORDS - account_models * ACCOUNT_RECORD_ITEMS


def transactions(writes: Sequence[LeadWrite]) -> Iterator[list[LeadWrite]]:
    """The writes grouped into transactions of at most MAX_TRANSACTION_RECORDS items; a write
    that no transaction holds raises WriteRefused before any group is handed out (the stores
    leave such a write out first: `fitting`)."""
    for write in writes:
        if (size := write_items(write)) > MAX_TRANSACTION_RECORDS:
            raise WriteRefused(_too_many(write, size))
    yield from packed(writes, write_items, MAX_TRANSACTION_RECORDS)


def fitting(writes: Sequence[LeadWrite], refused: dict[str, str] | None) -> list[LeadWrite]:
    """The writes one transaction each holds; the others are noted in `refused` (their keys,
    with the reason), or raise WriteRefused without it."""
    kept: list[LeadWrite] = []
    for write in writes:
        size = write_items(write)
        if size <= MAX_TRANSACTION_RECORDS:
            kept.append(write)
        elif refused is None:
            raise WriteRefused(_too_many(write, size))
        else:
            refused.update(dict.fromkeys(write.keys, _too_many(write, size)))
    return kept


def _too_many(write: LeadWrite, size: int) -> str:
    return f"lead {write.key[:8]} needs {size} items in one transaction (at most 100)"
