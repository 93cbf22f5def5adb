"""Where a model draft's problems are in its YAML text: the line and column of each path.

The text is composed once (PyYAML's node tree keeps every node's mark) and the document is
built from those nodes by the safe constructor, as `yaml.safe_load` would build it. A
problem's path (`engagement.rules[3].points`, from `model_errors.py`) is walked down the tree:
a mapping key's line is its key's, a list item's is the item's; a path whose last parts are
not in the text (a missing key) is placed at the nearest part that is.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# Past this many values (aliases counted each time they are used) a draft is refused before
# validation walks it: a few aliases can make a small text stand for billions of values.
MAX_VALUES = 100_000
# ... or this many characters of its scalars: more than any route's body holds without aliases
MAX_CHARACTERS = 1_000_000
PATH_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")

Where = tuple[int | None, int | None]  # 1-based line and column; None: nowhere in the text
Keys = dict[int, dict[str, tuple[Node, Node]]]  # id(mapping) -> key -> (key node, value node)


@dataclass(frozen=True)
class Draft:
    """A draft's document and, when it was YAML text, its node tree (None: no text)."""

    document: Any
    root: Node | None = None
    # each mapping's keys, indexed once when a path first goes through it: placing N problems
    # in a mapping of N keys stays linear
    keys: Keys = field(default_factory=dict, init=False, repr=False, compare=False)

    def where(self, path: str) -> Where:
        return where(self.root, path, self.keys)


class DraftTextError(ValueError):
    """Text that is not one YAML document, with where the parser stopped."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column

    def problem(self) -> dict[str, Any]:
        return {"path": "", "message": self.message, "line": self.line, "column": self.column}


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, but a scalar its constructors cannot build (an impossible date,
    an integer of more than 4,300 digits, `!!bool maybe`) is an error at its place, as is an
    integer beyond a float (strict JSON refuses it: the model's numbers are floats)."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            value = super().construct_object(node, deep)
            if type(value) is int and abs(value) > sys.float_info.max:  # as strict JSON
                raise OverflowError("beyond the largest number a float holds")
        except (ValueError, ArithmeticError, LookupError, AttributeError, TypeError) as error:
            raise ConstructorError(None, None, _unbuilt(node, error), node.start_mark) from None
        return value


def _unbuilt(node: Node, error: Exception) -> str:
    kind = str(node.tag).rsplit(":", 1)[-1]  # tag:yaml.org,2002:timestamp
    value = node.value if isinstance(node.value, str) else ""
    shown = f"{value[:40]}…" if len(value) > 40 else value
    # Python's reason, up to its `;` (the digit limit's then names a function to call)
    why = str(error).split(";")[0] if isinstance(error, ValueError | ArithmeticError) else ""
    message = f"{shown!r} cannot be read as a YAML {kind}" + (f": {why}" if why else "")
    return f"{message}; quote it to keep it as text" if value else message


def read_yaml(text: str) -> Draft:
    """The draft in YAML text (JSON is YAML too); DraftTextError when it cannot be read."""
    try:  # the reader checks every character as it is made
        loader = _Loader(text)
    except yaml.YAMLError as error:
        raise DraftTextError(f"not valid YAML: {error}") from None
    try:
        root = loader.get_single_node()
        values, characters = (0, 0) if root is None else _extent(root, {})
        if values > MAX_VALUES:
            raise DraftTextError(f"the YAML stands for more than {MAX_VALUES:,} values (aliases)")
        if characters > MAX_CHARACTERS:
            raise DraftTextError(
                f"the YAML stands for more than {MAX_CHARACTERS:,} characters of text (aliases)"
            )
        document = None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = f"not valid YAML: {error.problem or error.context or 'unreadable'}"
        if mark is None:
            raise DraftTextError(message) from None
        raise DraftTextError(message, mark.line + 1, mark.column + 1) from None
    except yaml.YAMLError as error:  # a character YAML refuses (the reader names its place)
        raise DraftTextError(f"not valid YAML: {error}") from None
    except RecursionError:
        raise DraftTextError("not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    return Draft(document, root)


def where(root: Node | None, path: str, keys: Keys | None = None) -> Where:
    """The line and column of a path's node in the text; for a path that is not all there,
    those of its nearest part that is (the document's start for `""`). `keys`: the mappings
    indexed so far (kept between the paths of one tree)."""
    if root is None:
        return None, None
    keys = {} if keys is None else keys
    mark = root.start_mark
    node: Node = root
    for index, key in PATH_PART.findall(path):
        found = _child(node, int(index) if index else key, keys)
        if found is None:
            continue  # a missing key, or a part pydantic adds (a union's tag): look further
        mark_node, node = found
        mark = mark_node.start_mark
    return mark.line + 1, mark.column + 1


def located(problems: list[dict[str, str]], draft: Draft) -> list[dict[str, Any]]:
    """Each problem with the line and column of its path."""
    found = []
    for problem in problems:
        line, column = draft.where(problem["path"])
        found.append({**problem, "line": line, "column": column})
    return found


def _child(node: Node, part: int | str, keys: Keys) -> tuple[Node, Node] | None:
    """(the node that marks it, the node to walk on) of a list item or a mapping's key."""
    if isinstance(part, int) and isinstance(node, SequenceNode):
        if part < len(node.value):
            item: Node = node.value[part]
            return item, item
        return None
    if isinstance(node, MappingNode):  # (a number in a path can be a mapping's key: `1: 60`)
        if (index := keys.get(id(node))) is None:
            # the last of a repeated key is the one the document keeps (it is indexed last)
            index = keys[id(node)] = {
                key.value: (key, value) for key, value in node.value if isinstance(key, ScalarNode)
            }
        return index.get(str(part))
    return None


def _extent(node: Node, seen: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """How many values the node stands for and how many characters its scalars hold, an
    alias's every time it is used (each node is counted once: linear in the text)."""
    if id(node) in seen:
        return seen[id(node)]
    seen[id(node)] = (1, 0)  # a recursive alias (PyYAML's composer refuses them) counts once
    parts: list[tuple[int, int]] = []
    if isinstance(node, SequenceNode):
        parts = [_extent(item, seen) for item in node.value]
    elif isinstance(node, MappingNode):
        parts = [_extent(part, seen) for pair in node.value for part in pair]
    characters = len(node.value) if isinstance(node, ScalarNode) else 0
    total = (1 + sum(values for values, _ in parts), characters + sum(c for _, c in parts))
    seen[id(node)] = total
    return total
