"""Spam signals on form data: lower-case names, keyboard mashing, disposable domains."""

from __future__ import annotations

from functools import cache, lru_cache

KEYBOARD_ROWS = (
    "qwertyuiop",  # QWERTY
    "asdfghjkl",
    "zxcvbnm",
    "azertyuiop",  # AZERTY
    "qsdfghjklm",
    "wxcvbn",
)
# Real words and names that hold a run of adjacent keys: their runs are not mashing.
ALLOWED_WORDS = frozenset(
    {
        "liberty",  # erty, also Property
        "property",
        "azerbaijan",  # azer, also Blazer
        "blazer",
        "reza",  # reza: AZERTY's top row backwards, a common first name
        "konzert",  # zert, also Zertuche
        "zertuche",
        "wertheim",  # wert, also Schwert
        "schwert",
        "trewin",  # trew, also Trewartha
        "trezor",  # trez
    }
)


@cache
def keyboard_runs(length: int) -> frozenset[str]:
    """Every run of `length` adjacent keys on a row, both directions, minus real words' runs."""
    runs: set[str] = set()
    for row in KEYBOARD_ROWS:
        for text in (row, row[::-1]):
            runs.update(text[i : i + length] for i in range(len(text) - length + 1))
    return frozenset(run for run in runs if not any(run in word for word in ALLOWED_WORDS))


@lru_cache(maxsize=4096)  # names and companies repeat from lead to lead
def has_keyboard_run(text: str, length: int) -> bool:
    """True when `text` holds `length` or more adjacent keyboard letters in a row."""
    letters = text.lower()
    runs = keyboard_runs(length)
    return any(letters[i : i + length] in runs for i in range(len(letters) - length + 1))


def is_lowercase_name(name: str) -> bool:
    """A name typed with no capital letter at all ("john smith").

    Only scripts with capitals count: "李雷" or "محمد" is not lower-case.
    """
    return name.islower()
