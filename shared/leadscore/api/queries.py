"""The query strings routes read through a pydantic model, marked for the OpenAPI document.

`@takes_query(Model)` on a route says which model its query is read with; the document lists
each of the model's fields as a query parameter (openapi.py), so the code describes it once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

Handler = TypeVar("Handler", bound=Callable[..., Any])


def takes_query(model: type[BaseModel]) -> Callable[[Handler], Handler]:
    """Mark a route's handler with the model its query string is read through."""

    def mark(handler: Handler) -> Handler:
        handler.query_model = model  # type: ignore[attr-defined]
        return handler

    return mark


def query_of(handler: Callable[..., Any]) -> type[BaseModel] | None:
    found: type[BaseModel] | None = getattr(handler, "query_model", None)
    return found
