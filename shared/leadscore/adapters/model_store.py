"""Published scoring models: immutable versions plus a catalog entry with the current one."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from leadscore.adapters.dynamo import ModelItem, ModelVersionItem, connection
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.model import ScoringModel, parse_model
from leadscore.domain.model_errors import ModelError

CATALOG = "MODELS"
logger = Logger(child=True)


class PublishConflict(Exception):
    """Someone published the same model at the same moment: read the catalog and try again."""


def publish(model: ScoringModel, now: datetime) -> ScoringModel:
    """Store `model` as the next version of its id and make it current; returns it versioned."""
    try:
        current: ModelItem | None = ModelItem.get(CATALOG, model.id, consistent_read=True)
    except DoesNotExist:
        current = None
    version = 1 if current is None else int(current.current_version) + 1
    published = model.model_copy(update={"version": version})
    document = published.model_dump(mode="json", by_alias=True, exclude_none=True)
    at = int(now.timestamp())
    entry = current or ModelItem(CATALOG, model.id, model_id=model.id)
    entry.current_version, entry.document, entry.published_at = version, document, at
    record = ModelVersionItem(
        f"MODEL#{model.id}",
        f"V#{version:06d}",
        model_id=model.id,
        model_version=version,
        document=document,
        published_at=at,
    )
    try:
        with TransactWrite(connection=connection()) as transaction:
            transaction.save(record, condition=ModelVersionItem.pk.does_not_exist())
            transaction.save(entry)
    except TransactWriteError as error:
        raise PublishConflict(model.id) from error
    return published


def catalog() -> list[ModelItem]:
    return list(ModelItem.query(CATALOG, consistent_read=True))


def read(model_id: str, version: int | None = None) -> ScoringModel | None:
    """The current version of a model, or a given one; None when unknown."""
    try:
        if version is None:
            item: Any = ModelItem.get(CATALOG, model_id, consistent_read=True)
        else:
            item = ModelVersionItem.get(f"MODEL#{model_id}", f"V#{version:06d}")
    except DoesNotExist:
        return None
    return parse_model(item.document)


class DynamoModelCatalog:
    """`ModelCatalog` (services.rescore) on the table's catalog entries and versions."""

    def published(self, model_id: str) -> tuple[int, int] | None:
        # The catalog, not a GetItem: any id from a URL path is answered (a key has limits).
        entry = next((m for m in catalog() if m.model_id == model_id), None)
        return None if entry is None else (int(entry.current_version), int(entry.published_at))

    def read(self, model_id: str, version: int) -> ScoringModel | None:
        return read(model_id, version)


class CachedModels:
    """The current models, read from DynamoDB at most once per `ttl` seconds per container,
    so a newly published version applies within `ttl`."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._read_at: float | None = None
        self._models: list[CompiledModel] = []
        self._compiled: dict[tuple[str, int], CompiledModel] = {}

    def current(self) -> Sequence[CompiledModel]:
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._ttl:
            self._models = [model for item in catalog() if (model := self._compile(item))]
            self._read_at = now
        return self._models

    def _compile(self, item: ModelItem) -> CompiledModel | None:
        """The item's model; None (logged) for one published under rules since tightened
        (a regex the linear-time engine refuses): the others go on scoring, and it scores
        again once a valid version is published (then rescore it)."""
        key = (item.model_id, int(item.current_version))
        if key not in self._compiled:
            try:
                self._compiled[key] = compile_model(parse_model(item.document))
            except ModelError as error:
                logger.error(
                    "a published model no longer validates; it is skipped",
                    model=item.model_id,
                    version=key[1],
                    problems=error.problems,
                )
                return None
        return self._compiled[key]
