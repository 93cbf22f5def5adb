"""Spam signals on form data: lower-case names, keyboard mashing, disposable domains."""

from __future__ import annotations

from functools import cache

KEYBOARD_ROWS = (
    "qwertyuiop", "asdfghjkl", "zxcvbnm",  # QWERTY
    "azertyuiop", "qsdfghjklm", "wxcvbn",  # AZERTY
)
# Runs that real words and names contain ("Liberty", "Property", "Azerbaijan", "Blazer").
ALLOWED_RUNS = frozenset({"erty", "azer"})


@cache
def keyboard_runs(length: int) -> frozenset[str]:
    """Every run of `length` adjacent keys on a row, both directions, minus common words' runs."""
    runs = set()
    for row in KEYBOARD_ROWS:
        for text in (row, row[::-1]):
            runs.update(text[i : i + length] for i in range(len(text) - length + 1))
    return frozenset(runs - ALLOWED_RUNS) if length == 4 else frozenset(runs)


def has_keyboard_run(text: str, length: int) -> bool:
    """True when `text` holds `length` or more adjacent keyboard letters in a row."""
    letters = text.lower()
    runs = keyboard_runs(length)
    return any(letters[i : i + length] in runs for i in range(len(letters) - length + 1))


def is_lowercase_name(name: str) -> bool:
    """A name typed with no capital letter at all ("john smith")."""
    return any(c.isalpha() for c in name) and name == name.lower()
