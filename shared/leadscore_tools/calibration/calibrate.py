"""Calibrate fit points from past outcomes, as a scoring model marketing can read and publish."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leadscore.domain.compiled import compile_model
from leadscore.domain.model import parse_model

from leadscore_tools.backtest import Backtest, evaluate
from leadscore_tools.calibration.attributes import Attribute, find_attributes, slug, unique_names
from leadscore_tools.calibration.model_document import description, model_document
from leadscore_tools.calibration.points import Say, close_rate_points, logistic_points
from leadscore_tools.calibration.settings import METHODS, CalibrationError, Settings
from leadscore_tools.history_csv import History
from leadscore_tools.row_scoring import Progress, score_rows

MAX_CATEGORIES = 32  # the schema's limit on fit categories
LEAK_AUC = 0.85  # one attribute ranking this well alone is suspicious: filled in after the fact?
SPREAD = 90.0  # at most: 1st to 99th percentile of calibration scores, 5-95 (clamping ties)
FIT_POINTS = 100  # a criterion's points are a share of its category: -100..100
GRADE_SHARES = {"A": 0.15, "B": 0.40, "C": 0.70}  # A: best 15 % of past leads, B: next 25 % ...


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
    """Learn fit points from `history` and return them as a valid scoring-model document.

    The points become one weighted fit category per attribute, scaled so that the scores of
    real leads spread over 0-100; the MQL threshold and the grades are then read off the
    engine's own scores of the calibration rows.
    """
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
    document = model_document(kept, base, base_model, model_id, name)

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
    document["description"] = description(history, settings, fit, note)
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
    names = unique_names([slug(a.column) for a in kept])
    for attribute, weight, name in zip(kept, weights, names, strict=True):
        attribute.weight, attribute.name = weight, name
        for level in [*attribute.levels, attribute.other]:
            points = round(level.points * 100 / weight)
            level.criterion_points = max(-FIT_POINTS, min(FIT_POINTS, points))
    return kept, base


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
