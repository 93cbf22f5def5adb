"""The CSV columns a calibration learns from: their values, numeric bins and support per level."""

from __future__ import annotations

import bisect
import fnmatch
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from leadscore.domain.value_tests import as_number, as_text

from leadscore_tools.backtest import auc
from leadscore_tools.calibration.settings import CalibrationError, Settings
from leadscore_tools.history_csv import History


@dataclass(slots=True)
class Level:
    """One value (or numeric bin, or 'missing') of an attribute, with its support."""

    name: str
    label: str
    kind: str  # value | bin | missing | other
    value: str | None = None
    low: float | None = None
    below: float | None = None
    support: int = 0
    conversions: int = 0
    raw: float = 0.0  # close-rate points, or logistic coefficient (log-odds)
    points: float = 0.0  # score points in the calibrated model
    criterion_points: int = 0  # what the model file says (before the category weight)

    @property
    def rate(self) -> float:
        return self.conversions / self.support if self.support else math.nan


@dataclass(slots=True)
class Attribute:
    """A CSV column as a fit category: its levels and, per row, which level it falls in."""

    column: str
    numeric: bool
    levels: list[Level]
    other: Level  # rare and unseen values: the category's default_points
    rows: list[int] = field(default_factory=list)  # level index per row, -1 = other
    missing_seen: list[str] = field(default_factory=list)  # missing tokens found (e.g. Select)
    name: str = ""
    weight: float = 0.0
    alone_auc: float = math.nan
    centre: float = 0.0  # subtracted from every raw value: 0 then means "an average lead"

    def level(self, index: int) -> Level:
        return self.other if index < 0 else self.levels[index]

    def effect(self, level: Level) -> float:
        """The level's raw value relative to the average lead (unseen values: average)."""
        return level.raw - self.centre if level.support else 0.0

    @property
    def reach(self) -> float:
        """The most score points one value of this attribute gives or takes."""
        return max(abs(level.points) for level in [*self.levels, self.other])


def find_attributes(
    history: History, settings: Settings
) -> tuple[list[Attribute], list[tuple[str, str]]]:
    """Every usable column as an Attribute; the others with the reason they were left out."""
    unmatched = [
        pattern
        for pattern in settings.exclude
        if not any(fnmatch.fnmatchcase(column, pattern) for column in history.columns)
    ]
    if unmatched:
        raise CalibrationError(
            f"--exclude {', '.join(repr(p) for p in unmatched)} matches no column of "
            f"{history.path}: check the spelling (a leaking column left in would fake the results)"
        )
    missing = {as_text(token) for token in settings.missing}
    attributes: list[Attribute] = []
    skipped: list[tuple[str, str]] = []
    for column in history.columns:
        if column == history.outcome_column:
            continue
        if any(fnmatch.fnmatchcase(column, pattern) for pattern in settings.exclude):
            skipped.append((column, "excluded (--exclude)"))
            continue
        cells = [row.get(column, "") for row in history.rows]
        attribute, reason = _attribute(column, cells, history.outcomes, missing, settings)
        if attribute is None:
            skipped.append((column, reason))
        else:
            attributes.append(attribute)
    used = {attribute.column for attribute in attributes}
    if not used:
        raise CalibrationError("no column is left to calibrate on: " + _reasons(skipped))
    return attributes, skipped


def _reasons(skipped: Sequence[tuple[str, str]]) -> str:
    return "; ".join(f"{column}: {reason}" for column, reason in skipped)


def _attribute(
    column: str,
    cells: Sequence[str],
    outcomes: Sequence[int],
    missing: set[str],
    settings: Settings,
) -> tuple[Attribute | None, str]:
    texts = [as_text(cell) for cell in cells]
    present = [i for i, text in enumerate(texts) if text and text not in missing]
    if not present:
        return None, "always empty"
    distinct = {texts[i] for i in present}
    numbers = {i: as_number(cells[i]) for i in present}
    parsed = [i for i in present if numbers[i] is not None]
    numeric = (
        len(parsed) >= 0.95 * len(present) and len({numbers[i] for i in parsed}) > settings.bins
    )
    if not numeric and len(distinct) > 0.9 * len(present) and len(present) > 20:
        return None, "identifier-like: almost every value is different"
    if len(distinct) == 1 and len(present) == len(cells):
        return None, "a single value in every row"

    levels: list[Level] = []
    rows = [-1] * len(cells)
    if numeric:
        values = sorted(v for v in numbers.values() if v is not None)
        edges = _bin_edges(values, settings.bins, settings.min_support)
        for index in range(len(edges) + 1):
            low = edges[index - 1] if index else None
            below = edges[index] if index < len(edges) else None
            levels.append(_bin_level(low, below))
        for i, number in numbers.items():
            if number is not None:
                rows[i] = bisect.bisect_right(edges, number)
    else:
        spelling: dict[str, dict[str, int]] = {}
        for i in present:
            spelling.setdefault(texts[i], {}).setdefault(cells[i].strip(), 0)
            spelling[texts[i]][cells[i].strip()] += 1
        common = sorted(spelling, key=lambda t: (-sum(spelling[t].values()), t))
        lookup: dict[str, int] = {}
        for text in common:
            if sum(spelling[text].values()) >= settings.min_support:
                shown = max(spelling[text], key=lambda s: (spelling[text][s], s))
                lookup[text] = len(levels)
                levels.append(Level(name="", label=shown, kind="value", value=shown))
        for i in present:
            rows[i] = lookup.get(texts[i], -1)
    absent = [i for i, text in enumerate(texts) if not text or text in missing]
    seen_tokens = sorted({cells[i].strip() for i in absent if texts[i]})
    if len(absent) >= settings.min_support:
        for i in absent:
            rows[i] = len(levels)
        levels.append(Level(name="missing", label="(missing)", kind="missing"))
    other = Level(name="other", label="(other values)", kind="other")
    for i, index in enumerate(rows):
        level = other if index < 0 else levels[index]
        level.support += 1
        level.conversions += outcomes[i]
    usable = len(levels) + (other.support >= settings.min_support)
    if usable < 2:
        return None, f"no two values with at least {settings.min_support} rows each"
    _name_levels(levels)
    attribute = Attribute(column, numeric, levels, other, rows, seen_tokens if absent else [])
    rates = [attribute.level(index).rate for index in rows]
    attribute.alone_auc = auc(rates, outcomes)
    return attribute, ""


def _bin_edges(values: Sequence[float], bins: int, min_support: int) -> list[float]:
    """Quantile bin edges (a bin is [edge, next edge)), small bins merged into a neighbour."""
    count = len(values)
    edges = sorted({values[min(count - 1, count * i // bins)] for i in range(1, bins)})
    edges = [edge for edge in edges if edge > values[0]]
    while edges:
        positions = [0, *(bisect.bisect_left(values, edge) for edge in edges), count]
        sizes = [positions[i + 1] - positions[i] for i in range(len(positions) - 1)]
        smallest = min(range(len(sizes)), key=lambda i: sizes[i])
        if sizes[smallest] >= min_support:
            break
        if smallest == 0:
            del edges[0]
        elif smallest == len(sizes) - 1 or sizes[smallest - 1] <= sizes[smallest + 1]:
            del edges[smallest - 1]
        else:
            del edges[smallest]
    return edges


def _bin_level(low: float | None, below: float | None) -> Level:
    if low is None and below is not None:
        label, name = f"under {below:g}", f"under_{below:g}"
    elif below is None and low is not None:
        label, name = f"{low:g} or more", f"{low:g}_plus"
    else:
        label, name = f"{low:g} to under {below:g}", f"{low:g}_to_{below:g}"
    return Level(name=name, label=label, kind="bin", low=low, below=below)


def slug(text: str, limit: int = 64) -> str:
    """A criterion or category name from free text: 'Lead Add Form' -> 'lead_add_form'."""
    name = re.sub(r"[^0-9a-z]+", "_", text.casefold().replace(".", "_")).strip("_")
    return name[:limit].rstrip("_") or "value"


def unique_names(names: Sequence[str], limit: int = 64) -> list[str]:
    taken: set[str] = set()
    result = []
    for name in names:
        candidate, counter = name, 2
        while candidate in taken:
            suffix = f"_{counter}"
            candidate, counter = name[: limit - len(suffix)] + suffix, counter + 1
        taken.add(candidate)
        result.append(candidate)
    return result


def _name_levels(levels: list[Level]) -> None:
    names = unique_names([slug(level.name or level.label) for level in levels])
    for level, name in zip(levels, names, strict=True):
        level.name = name
