"""How well a model's scores ranked past leads: AUC, conversion by grade and rating, deciles."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from leadscore.domain.compiled import CompiledModel

from leadscore_tools.row_scoring import LeadScore

GRADES = ("A", "B", "C", "D")
RATINGS = tuple(f"{grade}{level}" for grade in GRADES for level in (1, 2, 3, 4))


def auc(scores: Sequence[float], outcomes: Sequence[int]) -> float:
    """Probability that a converted lead outscores a non-converted one (ties count half)."""
    positives = sum(outcomes)
    negatives = len(outcomes) - positives
    if not positives or not negatives:
        return math.nan
    wins = 0.0
    negatives_below = 0
    for _, group in _groups(scores, outcomes, descending=False):
        group_positives = sum(group)
        group_negatives = len(group) - group_positives
        wins += group_positives * (negatives_below + group_negatives / 2)
        negatives_below += group_negatives
    return wins / (positives * negatives)


def _groups(
    scores: Sequence[float], outcomes: Sequence[int], descending: bool
) -> list[tuple[float, list[int]]]:
    """Outcomes grouped by equal score, in score order."""
    by_score: dict[float, list[int]] = {}
    for value, outcome in zip(scores, outcomes, strict=True):
        by_score.setdefault(value, []).append(outcome)
    return sorted(by_score.items(), reverse=descending)


@dataclass(frozen=True, slots=True)
class Segment:
    """A slice of the leads (a grade, a rating, a decile) and how many converted."""

    label: str
    leads: float
    conversions: float
    base_rate: float
    lowest_score: float | None = None

    @property
    def rate(self) -> float:
        return self.conversions / self.leads if self.leads else math.nan

    @property
    def lift(self) -> float:
        return self.rate / self.base_rate if self.leads and self.base_rate else math.nan


@dataclass(slots=True)
class Backtest:
    """How a model would have ranked past leads."""

    model: str
    leads: int
    conversions: int
    auc: float
    threshold: float
    mql: int
    mql_conversions: int
    by_grade: list[Segment] = field(default_factory=list)
    by_rating: list[Segment] = field(default_factory=list)
    deciles: list[Segment] = field(default_factory=list)
    scores: list[float] = field(default_factory=list, repr=False)
    outcomes: list[int] = field(default_factory=list, repr=False)

    @property
    def rate(self) -> float:
        return self.conversions / self.leads

    @property
    def top_decile_lift(self) -> float:
        return self.deciles[0].lift

    @property
    def precision(self) -> float:
        return self.mql_conversions / self.mql if self.mql else math.nan

    @property
    def recall(self) -> float:
        return self.mql_conversions / self.conversions if self.conversions else math.nan

    def to_dict(self) -> dict[str, Any]:
        def segments(items: list[Segment]) -> list[dict[str, Any]]:
            return [
                {
                    "label": s.label,
                    "leads": round(s.leads, 2),
                    "conversions": round(s.conversions, 2),
                    "rate": _number(s.rate),
                    "lift": _number(s.lift),
                    **({"lowest_score": s.lowest_score} if s.lowest_score is not None else {}),
                }
                for s in items
            ]

        return {
            "model": self.model,
            "leads": self.leads,
            "conversions": self.conversions,
            "conversion_rate": _number(self.rate),
            "auc": _number(self.auc),
            "top_decile_lift": _number(self.top_decile_lift),
            "mql": {
                "threshold": self.threshold,
                "leads": self.mql,
                "conversions": self.mql_conversions,
                "precision": _number(self.precision),
                "recall": _number(self.recall),
            },
            "by_grade": segments(self.by_grade),
            "by_rating": segments(self.by_rating),
            "deciles": segments(self.deciles),
        }


def _number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def evaluate(
    model: CompiledModel, scored: Sequence[LeadScore], outcomes: Sequence[int]
) -> Backtest:
    """AUC, conversion by grade and rating, deciles and MQL precision/recall."""
    scores = [lead.score for lead in scored]
    base_rate = sum(outcomes) / len(outcomes)

    def segment_by(key: Callable[[LeadScore], str], labels: Sequence[str]) -> list[Segment]:
        counts = {label: [0, 0] for label in labels}
        for lead, outcome in zip(scored, outcomes, strict=True):
            counts[key(lead)][0] += 1
            counts[key(lead)][1] += outcome
        return [Segment(label, n, k, base_rate) for label, (n, k) in counts.items() if n]

    mql = [outcome for lead, outcome in zip(scored, outcomes, strict=True) if lead.mql]
    return Backtest(
        model=model.id,
        leads=len(outcomes),
        conversions=sum(outcomes),
        auc=auc(scores, outcomes),
        threshold=model.model.thresholds.mql,
        mql=len(mql),
        mql_conversions=sum(mql),
        by_grade=segment_by(lambda lead: lead.grade, GRADES),
        by_rating=segment_by(lambda lead: lead.rating, RATINGS),
        deciles=deciles(scores, outcomes),
        scores=list(scores),
        outcomes=list(outcomes),
    )


def deciles(scores: Sequence[float], outcomes: Sequence[int], parts: int = 10) -> list[Segment]:
    """Best-scored tenth first; tied scores straddling a boundary are shared pro rata."""
    total = len(outcomes)
    base_rate = sum(outcomes) / total
    bounds = [total * i / parts for i in range(parts + 1)]
    leads = [0.0] * parts
    conversions = [0.0] * parts
    lowest: list[float | None] = [None] * parts
    start = 0.0
    for value, group in _groups(scores, outcomes, descending=True):
        end = start + len(group)
        rate = sum(group) / len(group)
        for part in range(parts):
            overlap = min(end, bounds[part + 1]) - max(start, bounds[part])
            if overlap > 0:
                leads[part] += overlap
                conversions[part] += overlap * rate
                lowest[part] = value
        start = end
    return [
        Segment(f"{i + 1}", leads[i], conversions[i], base_rate, lowest[i]) for i in range(parts)
    ]
