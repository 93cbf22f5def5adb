"""Calibrate fit points from past outcomes, as a scoring model marketing can read and publish.

Two methods over the same attributes (each CSV column; numeric columns binned):
- close-rate, as the seeds describe it: points = 100 x (value's conversion rate - global
  rate), values with too little support left out;
- logistic: an L2-regularised logistic regression (IRLS, numpy), its coefficients turned
  into integer points of an additive model.

Either way the points become fit criteria, one weighted category per attribute, scaled so
that the scores of real leads spread over 0-100; the MQL threshold and the grades are then
read off the engine's own scores of the calibration rows.
"""

from __future__ import annotations

import bisect
import fnmatch
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from leadscore.domain.compiled import as_number, as_text, compile_model
from leadscore.domain.model import parse_model

from leadscore_tools.backtest import Backtest, auc, evaluate
from leadscore_tools.history_csv import MISSING_TOKENS, History
from leadscore_tools.row_scoring import Progress, score_rows

METHODS = ("close-rate", "logistic")
MAX_CATEGORIES = 32  # the schema's limit on fit categories
LEAK_AUC = 0.85  # one attribute ranking this well alone is suspicious: filled in after the fact?
SPREAD = 90.0  # at most: 1st to 99th percentile of calibration scores, 5-95 (clamping ties)
FIT_POINTS = 100  # a criterion's points are a share of its category: -100..100
GRADE_SHARES = {"A": 0.15, "B": 0.40, "C": 0.70}  # A: best 15 % of past leads, B: next 25 % ...

Say = Callable[[str], None]


class CalibrationError(ValueError):
    """Calibration cannot proceed: bad settings, or nothing left to learn from."""


@dataclass(frozen=True, slots=True)
class Settings:
    method: str = "close-rate"
    min_support: int = 30
    bins: int = 8
    missing: tuple[str, ...] = MISSING_TOKENS
    l2: float = 1.0
    mql_precision: float = 0.8
    exclude: tuple[str, ...] = ()


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

    def level(self, index: int) -> Level:
        return self.other if index < 0 else self.levels[index]

    centre: float = 0.0  # subtracted from every raw value: 0 then means "an average lead"

    def effect(self, level: Level) -> float:
        """The level's raw value relative to the average lead (unseen values: average)."""
        return level.raw - self.centre if level.support else 0.0

    @property
    def reach(self) -> float:
        """The most score points one value of this attribute gives or takes."""
        return max(abs(level.points) for level in [*self.levels, self.other])


@dataclass(slots=True)
class Calibration:
    """The calibrated model document, what it was learnt from, and how it fits those rows."""

    settings: Settings
    document: dict[str, Any]
    attributes: list[Attribute]
    skipped: list[tuple[str, str]]
    rows: int
    conversions: int
    base_points: float
    scale: float
    intercept: float
    threshold_note: str
    fit: Backtest
    warnings: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.conversions / self.rows


# ---------------------------------------------------------------- attributes


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


def _unique(names: Sequence[str], limit: int = 64) -> list[str]:
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
    names = _unique([slug(level.name or level.label) for level in levels])
    for level, name in zip(levels, names, strict=True):
        level.name = name


# ---------------------------------------------------------------- methods


def close_rate_points(attributes: Sequence[Attribute], rate: float) -> float:
    """Points = 100 x (value rate - global rate); rare values stay at 0. Returns the intercept."""
    for attribute in attributes:
        for level in attribute.levels:
            level.raw = 100 * (level.rate - rate)
        attribute.other.raw = 0.0
    return 0.0


def logistic_points(
    attributes: Sequence[Attribute], outcomes: Sequence[int], l2: float, say: Say
) -> float:
    """Fit the logistic regression; each level's coefficient becomes its raw points."""
    columns: list[tuple[int, int]] = []  # (attribute, level) per design column; level -1 = other
    offsets = []
    for a, attribute in enumerate(attributes):
        offsets.append(len(columns))
        columns += [(a, index) for index in range(len(attribute.levels))]
        if attribute.other.support:
            columns.append((a, -1))
    active = [
        [
            offsets[a] + (len(attribute.levels) if attribute.rows[row] < 0 else attribute.rows[row])
            for a, attribute in enumerate(attributes)
        ]
        for row in range(len(outcomes))
    ]
    intercept, coefficients = fit_logistic(active, len(columns), outcomes, l2, say)
    for (a, index), coefficient in zip(columns, coefficients, strict=True):
        attributes[a].level(index).raw = coefficient
    return intercept


def fit_logistic(
    active: Sequence[Sequence[int]],
    features: int,
    outcomes: Sequence[int],
    l2: float,
    say: Say,
    *,
    iterations: int = 50,
) -> tuple[float, list[float]]:
    """L2-regularised logistic regression on 0/1 features by IRLS (Newton's method).

    `active[row]` lists the features that are 1 in that row. The intercept is not penalised.
    Returns (intercept, coefficients).
    """
    try:
        import numpy as np
    except ImportError:
        raise CalibrationError(
            "the logistic method needs numpy: pip install 'leadscore[analysis]'"
        ) from None
    rows = len(outcomes)
    design = np.zeros((rows, features + 1))
    design[:, 0] = 1.0
    for row, indexes in enumerate(active):
        design[row, [index + 1 for index in indexes]] = 1.0
    target = np.asarray(outcomes, dtype=float)
    penalty = np.full(features + 1, float(l2))
    penalty[0] = 0.0
    beta = np.zeros(features + 1)
    mean = float(target.mean())
    beta[0] = math.log(mean / (1 - mean))
    for iteration in range(1, iterations + 1):
        eta = np.clip(design @ beta, -35, 35)
        probability = 1 / (1 + np.exp(-eta))
        weight = probability * (1 - probability)
        gradient = design.T @ (target - probability) - penalty * beta
        hessian = (design.T * weight) @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        beta += step
        deviance = -2 * float(
            np.sum(
                target * np.log(probability + 1e-12)
                + (1 - target) * np.log(1 - probability + 1e-12)
            )
        )
        say(f"logistic regression: iteration {iteration}, deviance {deviance:,.1f}")
        if float(np.max(np.abs(step))) < 1e-7:
            break
    else:
        say(f"logistic regression: stopped after {iterations} iterations without converging")
    return float(beta[0]), [float(b) for b in beta[1:]]


# ---------------------------------------------------------------- the model


def calibrate(
    history: History,
    settings: Settings,
    base_model: Mapping[str, Any],
    *,
    model_id: str,
    name: str,
    say: Say = lambda message: None,
    progress: Progress | None = None,
) -> Calibration:
    """Learn fit points from `history` and return them as a valid scoring-model document."""
    if settings.method not in METHODS:
        raise CalibrationError(
            f"unknown method {settings.method!r}: use one of {', '.join(METHODS)}"
        )
    if settings.min_support < 1 or settings.bins < 2:
        raise CalibrationError("--min-support must be at least 1 and --bins at least 2")
    if not 0 < settings.mql_precision < 1:
        raise CalibrationError("--mql-precision must be between 0 and 1 (e.g. 0.8)")
    if settings.l2 < 0:
        raise CalibrationError("--l2 must not be negative")
    attributes, skipped = find_attributes(history, settings)
    rows, conversions = len(history.outcomes), history.conversions
    rate = conversions / rows
    say(f"{len(attributes)} attributes from {rows:,} rows ({rate:.1%} converted)")
    warnings = [
        f"{a.column!r} alone ranks leads with AUC {a.alone_auc:.2f}: if sales fills it in "
        "after contact, it leaks the outcome; exclude it with --exclude"
        for a in attributes
        if a.alone_auc >= LEAK_AUC
    ]
    if settings.method == "close-rate":
        intercept = close_rate_points(attributes, rate)
    else:
        if settings.l2 == 0:
            warnings.append("--l2 0: every attribute's values plus the intercept are collinear")
        intercept = logistic_points(attributes, history.outcomes, settings.l2, say)

    if settings.method == "logistic":
        # Relative to the average lead, as close-rate points are; the base takes the rest.
        for attribute in attributes:
            levels = [*attribute.levels, attribute.other]
            attribute.centre = sum(level.raw * level.support for level in levels) / rows
    totals = [sum(a.effect(a.level(a.rows[row])) for a in attributes) for row in range(rows)]
    low, high = _percentile(totals, 0.01), _percentile(totals, 0.99)
    if high - low < 1e-9:
        raise CalibrationError("the attributes do not tell the leads apart: every score is equal")
    reach = sum(max(abs(a.effect(level)) for level in [*a.levels, a.other]) for a in attributes)
    # As wide a spread as criterion points allow: every category at most its weight.
    scale = min(SPREAD / (high - low), FIT_POINTS / reach)
    base = 50 - scale * (low + high) / 2
    for attribute in attributes:
        for level in [*attribute.levels, attribute.other]:
            level.points = scale * attribute.effect(level)
    kept, base = _keep_categories(attributes, base, rows, warnings)
    document = _document(kept, base, base_model, model_id, name)

    compiled = compile_model(parse_model(document))
    say(f"scoring the {rows:,} calibration rows with the engine")
    scored = score_rows(
        compiled, history.rows, settings.missing, (history.outcome_column,), progress
    )
    scores = [lead.score for lead in scored]
    document["fit"]["grades"] = _grades(scores)
    threshold, note = _mql_threshold(scores, history.outcomes, settings)
    document["thresholds"] = {"mql": threshold, "reset": math.floor(threshold * 0.75)}
    compiled = compile_model(parse_model(document))
    fit = evaluate(
        compiled,
        score_rows(compiled, history.rows, settings.missing, (history.outcome_column,)),
        history.outcomes,
    )
    document["description"] = _description(history, settings, fit, note)
    parse_model(document)
    return Calibration(
        settings,
        document,
        kept,
        skipped,
        rows,
        conversions,
        base,
        scale,
        intercept,
        note,
        fit,
        warnings,
    )


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _keep_categories(
    attributes: list[Attribute], base: float, rows: int, warnings: list[str]
) -> tuple[list[Attribute], float]:
    """Drop attributes that move no score (their average goes to the base); at most 32 kept."""
    ranked = sorted(attributes, key=lambda a: -a.reach)
    kept = [a for a in ranked if a.reach >= 0.05][:MAX_CATEGORIES]
    for attribute in ranked:
        if attribute in kept:
            continue
        levels = [*attribute.levels, attribute.other]
        base += sum(level.points * level.support for level in levels) / rows
        if attribute.reach >= 0.05:
            warnings.append(
                f"{attribute.column!r} left out: a model holds at most {MAX_CATEGORIES} categories"
            )
    if not kept:
        raise CalibrationError("no attribute changes the score by as much as 0.05 points")
    total = sum(a.reach for a in kept)
    weights = [round(100 * a.reach / total, 2) for a in kept]
    weights[0] = round(weights[0] + 100 - sum(weights), 2)
    names = _unique([slug(a.column) for a in kept])
    for attribute, weight, name in zip(kept, weights, names, strict=True):
        attribute.weight, attribute.name = weight, name
        for level in [*attribute.levels, attribute.other]:
            points = round(level.points * 100 / weight)
            level.criterion_points = max(-FIT_POINTS, min(FIT_POINTS, points))
    return kept, base


def _criteria(attribute: Attribute) -> list[dict[str, Any]]:
    criteria: list[dict[str, Any]] = []
    ordered = (
        attribute.levels
        if attribute.numeric
        else sorted(attribute.levels, key=lambda level: -level.criterion_points)
    )
    for level in ordered:
        points = level.criterion_points
        if level.kind == "value":
            criteria.append(_Flow(name=level.name, equals=level.value, points=points))
        elif level.kind == "bin":
            bounds = {"min": level.low, "below": level.below}
            tests = {key: _plain(value) for key, value in bounds.items() if value is not None}
            criteria.append(_Flow(name=level.name, **tests, points=points))
        elif level.kind == "missing":
            criteria.append(_Flow(name=level.name, exists=False, points=points))
            if attribute.missing_seen:
                criteria.append(
                    _Flow(
                        name=f"{level.name}_token", **{"in": attribute.missing_seen}, points=points
                    )
                )
    return criteria


def _plain(number: float) -> float | int:
    return int(number) if float(number).is_integer() else number


def _document(
    attributes: Sequence[Attribute],
    base: float,
    base_model: Mapping[str, Any],
    model_id: str,
    name: str,
) -> dict[str, Any]:
    categories = []
    for attribute in attributes:
        category: dict[str, Any] = {
            "name": attribute.name,
            "weight": attribute.weight,
            "field": attribute.column,
            "criteria": _criteria(attribute),
        }
        if attribute.other.criterion_points:
            category["default_points"] = attribute.other.criterion_points
        categories.append(category)
    document: dict[str, Any] = {
        "id": model_id,
        "name": name,
        "description": "",
    }
    if "domains" in base_model:
        document["domains"] = base_model["domains"]
    document["fit"] = {
        "base": round(base, 2),
        "grades": {"A": 75, "B": 50, "C": 25},
        "categories": categories,
    }
    document["negative"] = []
    if "spam" in base_model:
        document["spam"] = base_model["spam"]
    engagement = dict(base_model["engagement"])
    engagement["rules"] = [_Flow(rule) for rule in engagement.get("rules", [])]
    document["engagement"] = engagement
    if base_model.get("decay") is not None:
        document["decay"] = base_model["decay"]
    document["weights"] = {"fit": 100, "engagement": 0}
    document["thresholds"] = {"mql": 60, "reset": 45}
    if "sla_hours" in base_model:
        document["sla_hours"] = base_model["sla_hours"]
    return document


def _grades(scores: Sequence[float]) -> dict[str, int]:
    """Grade thresholds at fixed shares of past leads: A the best 15 %, then B, then C."""
    a, b, c = (math.ceil(_percentile(scores, 1 - share)) for share in GRADE_SHARES.values())
    a = min(max(a, 2), 100)
    b = min(max(b, 1), a - 1)
    c = min(max(c, 0), b - 1)
    return {"A": a, "B": b, "C": c}


def _mql_threshold(
    scores: Sequence[float], outcomes: Sequence[int], settings: Settings
) -> tuple[int, str]:
    """The lowest whole score at which past leads at or above it converted at the target rate."""
    total = sum(outcomes)
    best_f1, best_threshold = -1.0, 50
    for threshold in range(1, 101):
        chosen = [o for s, o in zip(scores, outcomes, strict=True) if s >= threshold]
        if len(chosen) < settings.min_support:
            break
        precision, recall = sum(chosen) / len(chosen), sum(chosen) / total
        if precision >= settings.mql_precision:
            return threshold, (
                f"MQL at score {threshold}: the lowest score at which at least "
                f"{settings.mql_precision:.0%} of past leads at or above it converted "
                f"(calibration rows: precision {precision:.1%}, recall {recall:.1%}, "
                f"{len(chosen):,} leads)"
            )
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if f1 > best_f1:
            best_f1, best_threshold = f1, threshold
    return best_threshold, (
        f"MQL at score {best_threshold}: no score reaches {settings.mql_precision:.0%} precision "
        f"with {settings.min_support}+ leads, so the threshold balances precision and recall "
        f"(best F1 {best_f1:.2f} on the calibration rows)"
    )


def _description(history: History, settings: Settings, fit: Backtest, note: str) -> str:
    return (
        f"Fit points calibrated by `leadscore calibrate --method {settings.method}` from "
        f"{Path(history.path).name} ({fit.leads:,} leads, {fit.rate:.1%} converted on "
        f"{history.outcome_column!r}); AUC {fit.auc:.3f} on those leads. {note}. Engagement "
        "rules are copied from the base model and weigh 0 until they are calibrated too."
    )


# ---------------------------------------------------------------- output


class _Flow(dict[str, Any]):
    """A mapping written on one line, as the hand-written models do for criteria and rules."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Flow, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, True)
)


def to_yaml(calibration: Calibration, command: str) -> str:
    header = (
        f"# Calibrated by: {command}\n"
        "# Read the calibration report before publishing: points, support and rates per value.\n"
    )
    body = yaml.dump(
        calibration.document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=200,
        default_flow_style=None,
    )
    return header + body


def report(calibration: Calibration, history_note: str) -> str:
    """The readable report: each attribute value, its support, its rate, its points."""
    c = calibration
    method = c.settings.method
    fit = c.fit
    lines = [
        f"Calibration report ({method} method)",
        "",
        history_note,
        f"Calibration rows: {c.rows:,}, converted {c.conversions:,} ({c.rate:.1%}).",
        "",
    ]
    if c.skipped:
        lines.append("Columns not used:")
        lines += [f"  - {column}: {reason}" for column, reason in c.skipped]
        lines.append("")
    if method == "close-rate":
        lines += [
            "Points (close-rate): 100 x (the value's conversion rate - the global rate "
            f"{c.rate:.1%}); values seen in fewer than {c.settings.min_support} rows are left "
            "out (0 points).",
            f"Score points = {c.scale:.3f} x close-rate points; the score starts at the base "
            f"{c.base_points:.1f} (a lead whose every value converts at the global rate).",
        ]
        raw_title = "close-rate"
    else:
        lines += [
            f"Logistic regression (L2 {c.settings.l2:g}, intercept {c.intercept:+.3f}): a value's "
            "coefficient is its effect on the log-odds of converting, other attributes being "
            "equal: a value with a high rate gets few points when another attribute already "
            "explains it.",
            f"Score points = {c.scale:.2f} x (coefficient - the attribute's average coefficient), "
            f"so 0 means an average lead; the score starts at the base {c.base_points:.1f}. "
            f"Values seen in fewer than {c.settings.min_support} rows share the '(other values)' "
            "points.",
        ]
        raw_title = "coef"
    lines += [
        "The scale spreads past leads' scores over 0-100 without clamping them, as far as "
        f"criterion points ({-FIT_POINTS}..{FIT_POINTS}) allow. 'weight' is the category's share "
        "of the fit score, in proportion to the most points one of its values moves; the model "
        "file holds 'file points' = score points x 100 / weight, as the engine expects.",
        "",
    ]
    for attribute in c.attributes:
        kind = "numeric, binned" if attribute.numeric else "categorical"
        lines.append(
            f"{attribute.column}  [{kind}; weight {attribute.weight:g} %; "
            f"alone: AUC {attribute.alone_auc:.3f}]"
        )
        lines.append(
            f"  {'value':<40}{'support':>9}{'rate':>8}{raw_title:>12}{'score pts':>11}"
            f"{'file pts':>10}"
        )
        shown = attribute.levels + ([attribute.other] if attribute.other.support else [])
        if not attribute.numeric:
            shown = sorted(shown, key=lambda level: -level.points)
        for level in shown:
            raw = f"{level.raw:+.1f}" if method == "close-rate" else f"{level.raw:+.3f}"
            lines.append(
                f"  {level.label[:39]:<40}{level.support:>9,}{level.rate:>8.1%}{raw:>12}"
                f"{level.points:>+11.1f}{level.criterion_points:>+10}"
            )
        lines.append("")
    grades = c.document["fit"]["grades"]
    lines += [
        f"Grades (fit score): A >= {grades['A']} (best ~15 % of past leads), B >= {grades['B']}, "
        f"C >= {grades['C']}, D below.",
        c.threshold_note + ".",
        f"On the calibration rows: AUC {fit.auc:.3f}, top-decile lift {fit.top_decile_lift:.2f}x, "
        f"MQL precision {fit.precision:.1%}, recall {fit.recall:.1%}.",
        "Backtest on rows the calibration did not see before trusting these figures.",
    ]
    if c.warnings:
        lines += ["", "Warnings:"]
        lines += [f"  - {warning}" for warning in c.warnings]
    return "\n".join(lines) + "\n"
