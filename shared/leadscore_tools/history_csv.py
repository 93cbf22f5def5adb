"""Past leads from a CSV: read with their binary outcome, split reproducibly, written back."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from leadscore.domain.value_tests import as_number, as_text

MISSING_TOKENS = ("Select",)  # a drop-down left untouched: treated as missing
POSITIVE = frozenset({"1", "true", "yes", "y", "won", "converted"})
NEGATIVE = frozenset({"0", "false", "no", "n", "lost", "not converted"})


class HistoryError(ValueError):
    """A history CSV that cannot be used: unreadable, no outcome column, non-binary outcome."""


@dataclass(slots=True)
class History:
    """Past leads: one CSV row each, with a binary outcome (1 = became a customer)."""

    path: str
    columns: list[str]
    outcome_column: str
    rows: list[dict[str, str]]
    outcomes: list[int]
    without_outcome: int = 0  # rows skipped because their outcome cell was empty

    @property
    def conversions(self) -> int:
        return sum(self.outcomes)

    def subset(self, indexes: Sequence[int]) -> History:
        return History(
            self.path,
            self.columns,
            self.outcome_column,
            [self.rows[i] for i in indexes],
            [self.outcomes[i] for i in indexes],
        )


def read_history(path: str, outcome: str, positive: str | None = None) -> History:
    """Read a CSV of past leads; HistoryError says plainly what is wrong with it."""
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise HistoryError(f"{path} is empty: expected a CSV with a header row")
            columns = [name.strip() for name in header]
            records = list(reader)
    except OSError as error:
        raise HistoryError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise HistoryError(f"{path} is not UTF-8 text: is it really a CSV file?") from None
    except csv.Error as error:
        raise HistoryError(f"{path} is not a readable CSV: {error}") from None
    named = [c for c in columns if c]
    duplicates = sorted({c for c in named if named.count(c) > 1})
    if duplicates:
        raise HistoryError(f"{path}: column names appear twice: {', '.join(duplicates)}")
    if outcome not in columns:
        close = [c for c in named if c.casefold() == outcome.casefold()]
        hint = f" (did you mean {close[0]!r}?)" if close else f"; columns: {_listing(named)}"
        raise HistoryError(f"{path} has no outcome column {outcome!r}{hint}")
    position = columns.index(outcome)
    rows: list[dict[str, str]] = []
    labels: list[str] = []
    for record in records:
        if not any(cell.strip() for cell in record):
            continue  # blank line
        cells = [*record, *[""] * (len(columns) - len(record))]
        rows.append({name: cells[i].strip() for i, name in enumerate(columns) if name})
        labels.append(cells[position].strip())
    if not rows:
        raise HistoryError(f"{path} has a header but no rows")
    parsed = parse_outcomes(labels, outcome, positive)
    kept = [i for i, value in enumerate(parsed) if value is not None]
    history = History(
        path,
        named,
        outcome,
        [rows[i] for i in kept],
        [int(parsed[i] or 0) for i in kept],
        without_outcome=len(rows) - len(kept),
    )
    converted = history.conversions
    if converted == 0 or converted == len(history.rows):
        only = "converted" if converted else "not converted"
        raise HistoryError(
            f"outcome column {outcome!r}: every row with an outcome is {only}; "
            "both kinds of leads are needed"
        )
    return history


def parse_outcomes(labels: Sequence[str], column: str, positive: str | None) -> list[int | None]:
    """1/0 per label (None when empty); the column must be binary unless `positive` is named."""
    if positive is not None:
        wanted = as_text(positive)
        return [None if not label else int(as_text(label) == wanted) for label in labels]
    distinct = sorted({label for label in labels if label})
    values: dict[str, int] = {}
    unknown = []
    for label in distinct:
        text = as_text(label)
        number = as_number(label)
        if text in POSITIVE or number == 1:
            values[label] = 1
        elif text in NEGATIVE or number == 0:
            values[label] = 0
        else:
            unknown.append(label)
    if unknown:
        raise HistoryError(
            f"outcome column {column!r} is not binary: found {_listing(distinct)}. "
            "Use 1/0, yes/no, true/false or won/lost, or name the converted value "
            "with --positive VALUE"
        )
    return [values[label] if label else None for label in labels]


def _listing(values: Sequence[str], most: int = 8) -> str:
    shown = ", ".join(repr(v) for v in values[:most])
    return shown + (f" and {len(values) - most} more" if len(values) > most else "")


def stratified_split(
    outcomes: Sequence[int], train_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Row indexes (train, holdout): the same share of each outcome in both, reproducibly."""
    if not 0 < train_fraction <= 1:
        raise ValueError("the train fraction must be in (0, 1]")
    shuffler = random.Random(seed)
    train: list[int] = []
    for label in (0, 1):
        members = [i for i, value in enumerate(outcomes) if value == label]
        shuffler.shuffle(members)
        train.extend(members[: round(len(members) * train_fraction)])
    chosen = set(train)
    return sorted(train), [i for i in range(len(outcomes)) if i not in chosen]


def write_rows(path: str, columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> int:
    """Write rows as CSV with `columns` as the header; return how many were written."""
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def is_missing(value: str | None, missing: Sequence[str] = MISSING_TOKENS) -> bool:
    return value is None or not value.strip() or as_text(value) in {as_text(m) for m in missing}
