"""A model document's problems: collected from every check, each reported at its path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError, ValidatorFunctionWrapHandler

Location = tuple[str | int, ...]
# Pydantic names the branch of a union (`str | list[str]`) in an error's location.
UNION_BRANCHES = frozenset({"str", "int", "float", "bool", "none", "list[str]"})


class InvalidSection(ValueError):
    """Several problems found by one check, each at a location inside the checked section."""

    def __init__(self, problems: list[tuple[Location, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(message for _, message in problems))


def duplicates(items: Any) -> list[tuple[Location, str]]:
    """Every repeat of a name in a list, at its own path: `[4].name`."""
    seen: set[str] = set()
    problems: list[tuple[Location, str]] = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        name = raw(item, "name")
        if isinstance(name, str):
            if name in seen:
                problems.append(((index, "name"), f"name {name!r} is used twice"))
            seen.add(name)
    return problems


def raw(item: Any, key: str) -> Any:
    """A key of a list item, whether it is still the document's mapping or already a model."""
    return item.get(key) if isinstance(item, Mapping) else getattr(item, key, None)


def checked(
    value: Any, handler: ValidatorFunctionWrapHandler, problems: list[tuple[Location, str]]
) -> Any:
    """Validate a list's items and report their problems together with the list's own ones.

    A list-wide check (unique names, weights summing to 100) runs on the document as written,
    so that it is reported even when some item has a problem of its own.
    """
    try:
        validated = handler(value)
    except ValidationError as error:
        raise InvalidSection(_problems_of(error) + problems) from None
    if problems:
        raise InvalidSection(problems)
    return validated


class ModelError(ValueError):
    """A model that cannot be used, with every problem and its path in the document."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        lines = "; ".join(f"{p['path'] or '(model)'}: {p['message']}" for p in problems)
        super().__init__(f"invalid scoring model: {lines}")

    @classmethod
    def of(cls, error: ValidationError) -> ModelError:
        """Pydantic's errors as one problem per path, in the document's order."""
        problems: dict[str, list[str]] = {}
        for location, message in _problems_of(error):
            problems.setdefault(_path(location), []).append(message)
        return cls(
            [{"path": path, "message": _either(messages)} for path, messages in problems.items()]
        )


def _problems_of(error: ValidationError) -> list[tuple[Location, str]]:
    """Pydantic's errors as (location, message), each `InvalidSection` expanded to its problems."""
    problems: list[tuple[Location, str]] = []
    for detail in error.errors():
        location = tuple(detail["loc"])
        found = detail.get("ctx", {}).get("error")
        if isinstance(found, InvalidSection):
            problems += [(location + inner, message) for inner, message in found.problems]
        else:
            problems.append((location, detail["msg"].removeprefix("Value error, ")))
    return problems


def _path(location: Location) -> str:
    """('fit', 'categories', 2, 'weight') -> 'fit.categories[2].weight'."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in UNION_BRANCHES or "[" in part:
            continue
        else:
            name = "in" if part == "in_" else part
            path += f".{name}" if path else name
    return path


def _either(messages: list[str]) -> str:
    """One message per path: a union's branches read "should be a valid string or a number"."""
    first, *others = dict.fromkeys(messages)
    return " or ".join([first, *(m.removeprefix("Input should be ") for m in others)])
