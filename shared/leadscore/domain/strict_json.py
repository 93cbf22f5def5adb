"""Strict JSON (RFC 8259, I-JSON): no NaN or infinities in, none out.

Python's json module reads `NaN`, `Infinity` and `1e400` (as inf) and writes them back as
`NaN`, which browsers' and Node's parsers refuse. Every body read from a client goes through
`loads`, every answer through `dumps`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


class NotStrictJSON(ValueError):
    """JSON text holding a number strict JSON has no value for."""


def _constant(name: str) -> Any:
    raise NotStrictJSON(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise NotStrictJSON(f"{text[:20]} is too large a number")
    return number


def _float_sized_int(text: str) -> int:
    number = int(text)
    if len(text) > 300:  # beyond about 1e308 a number has no float, which every reader uses
        try:
            float(number)
        except OverflowError:
            raise NotStrictJSON(f"{text[:20]}... is too large a number") from None
    return number


def loads(text: str | bytes) -> Any:
    """json.loads refusing NaN, Infinity and numbers beyond a float (NotStrictJSON, a
    ValueError like every other reason the text is not JSON)."""
    return json.loads(
        text, parse_constant=_constant, parse_float=_finite_float, parse_int=_float_sized_int
    )


def finite(document: Any) -> Any:
    """The document with every non-finite float (stored before input was strict) as None."""
    if isinstance(document, float):
        return document if math.isfinite(document) else None
    if isinstance(document, Mapping):
        return {key: finite(value) for key, value in document.items()}
    if isinstance(document, list | tuple):
        return [finite(value) for value in document]
    return document


def dumps(document: Any, **options: Any) -> str:
    """json.dumps that never writes NaN or Infinity: such a value is written as null."""
    try:
        return json.dumps(document, allow_nan=False, **options)
    except ValueError:  # rare: a value stored before input was strict; only then the walk
        return json.dumps(finite(document), allow_nan=False, **options)
