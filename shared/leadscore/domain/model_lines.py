"""Where a model draft's problems are in its YAML text: the line and column of each path.

The text is composed once (PyYAML's node tree keeps every node's mark) and the document is
built from those nodes by the safe constructor, as `yaml.safe_load` would build it. A
problem's path (`engagement.rules[3].points`, from `model_errors.py`) is walked down the tree:
a mapping key's line is its key's, a list item's is the item's; a path whose last parts are
not in the text (a missing key) is placed at the nearest part that is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# Past this many values (aliases counted each time they are used) a draft is refused before
# validation walks it: a few aliases can make a small text stand for billions of values.
MAX_VALUES = 100_000
PATH_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")

Where = tuple[int | None, int | None]  # 1-based line and column; None: nowhere in the text


@dataclass(frozen=True)
class Draft:
    """A draft's document and, when it was YAML text, its node tree (None: no text)."""

    document: Any
    root: Node | None = None

    def where(self, path: str) -> Where:
        return where(self.root, path)


class DraftTextError(ValueError):
    """Text that is not one YAML document, with where the parser stopped."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line, self.column = message, line, column

    def problem(self) -> dict[str, Any]:
        return {"path": "", "message": self.message, "line": self.line, "column": self.column}


def read_yaml(text: str) -> Draft:
    """The draft in YAML text (JSON is YAML too); DraftTextError when it cannot be read."""
    try:  # the reader checks every character as it is made
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as error:
        raise DraftTextError(f"not valid YAML: {error}") from None
    try:
        root = loader.get_single_node()
        if root is not None and _values(root, {}) > MAX_VALUES:
            raise DraftTextError(f"the YAML stands for more than {MAX_VALUES:,} values (aliases)")
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


def where(root: Node | None, path: str) -> Where:
    """The line and column of a path's node in the text; for a path that is not all there,
    those of its nearest part that is (the document's start for `""`)."""
    if root is None:
        return None, None
    mark = root.start_mark
    node: Node = root
    for index, key in PATH_PART.findall(path):
        found = _child(node, int(index) if index else key)
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


def _child(node: Node, part: int | str) -> tuple[Node, Node] | None:
    """(the node that marks it, the node to walk on) of a list item or a mapping's key."""
    if isinstance(part, int) and isinstance(node, SequenceNode):
        if part < len(node.value):
            item: Node = node.value[part]
            return item, item
        return None
    if isinstance(node, MappingNode):  # (a number in a path can be a mapping's key: `1: 60`)
        part = str(part)
        # the last of a repeated key is the one the document keeps
        for key, value in reversed(node.value):
            if isinstance(key, ScalarNode) and key.value == part:
                return key, value
    return None


def _values(node: Node, seen: dict[int, int]) -> int:
    """How many values the node stands for, an alias's every time it is used (each node is
    counted once: linear in the text)."""
    if id(node) in seen:
        return seen[id(node)]
    seen[id(node)] = 1  # a recursive alias (PyYAML's composer refuses them) counts once
    if isinstance(node, SequenceNode):
        total = 1 + sum(_values(item, seen) for item in node.value)
    elif isinstance(node, MappingNode):
        total = 1 + sum(_values(k, seen) + _values(v, seen) for k, v in node.value)
    else:
        total = 1
    seen[id(node)] = total
    return total
