"""Backtest a scoring model on past leads: score each CSV row with the real engine, then
measure how well the scores ranked the leads that became customers (AUC, lift, MQL).

Also home of what calibration shares with it: reading a history CSV, its binary outcome,
and the seeded stratified split that both commands must draw identically.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel, as_number, as_text

MISSING_TOKENS = ("Select",)  # a drop-down left untouched: treated as missing
PLACEHOLDER_EMAIL = "lead-{index}@backtest.example"  # reserved TLD: no domain list matches it
SCORED_AT = datetime(2000, 1, 1, tzinfo=UTC)  # no events: `now` only stamps the result
POSITIVE = frozenset({"1", "true", "yes", "y", "won", "converted"})
NEGATIVE = frozenset({"0", "false", "no", "n", "lost", "not converted"})
GRADES = ("A", "B", "C", "D")
RATINGS = tuple(f"{grade}{level}" for grade in GRADES for level in (1, 2, 3, 4))

Progress = Callable[[int, int], None]  # (done, total)


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


def profile_of(
    row: Mapping[str, str],
    index: int,
    missing: Sequence[str] = MISSING_TOKENS,
    leave_out: Iterable[str] = (),
) -> dict[str, str]:
    """A CSV row as a lead profile: column names as fields, missing cells left out.

    `leave_out` names columns no live lead has (the outcome): a model must not see them.
    """
    tokens = {as_text(m) for m in missing}
    hidden = set(leave_out)
    profile = {
        name: value
        for name, value in row.items()
        if name and value and name not in hidden and as_text(value) not in tokens
    }
    if not profile.get("email"):
        profile["email"] = PLACEHOLDER_EMAIL.format(index=index)
    return profile


@dataclass(frozen=True, slots=True)
class LeadScore:
    score: float
    fit: float
    grade: str
    rating: str
    mql: bool


def score_rows(
    model: CompiledModel,
    rows: Sequence[Mapping[str, str]],
    missing: Sequence[str] = MISSING_TOKENS,
    leave_out: Iterable[str] = (),
    progress: Progress | None = None,
) -> list[LeadScore]:
    """Score every row as a lead with no events, through the real engine."""
    scored = []
    hidden = tuple(leave_out)
    for index, row in enumerate(rows):
        profile = profile_of(row, index, missing, hidden)
        state = engine.score(model, None, profile, [], SCORED_AT).state
        scored.append(
            LeadScore(
                state.score / 100, state.fit / 100, state.grade, state.rating, state.status == "mql"
            )
        )
        if progress is not None and (index + 1) % 500 == 0:
            progress(index + 1, len(rows))
    if progress is not None:
        progress(len(rows), len(rows))
    return scored


# ---------------------------------------------------------------- metrics


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


# ---------------------------------------------------------------- output


def format_table(result: Backtest, title: str = "") -> str:
    """The backtest as a terminal table."""
    lines = [
        title or f"Backtest of model {result.model!r}",
        f"  leads {result.leads:,}, converted {result.conversions:,} ({result.rate:.1%})",
        f"  AUC {result.auc:.3f}    top-decile lift {result.top_decile_lift:.2f}x",
        f"  MQL at score >= {result.threshold:g}: {result.mql:,} leads, "
        f"precision {_percent(result.precision)}, recall {_percent(result.recall)}",
        "",
    ]
    lines += _segment_table("grade", result.by_grade)
    lines += _segment_table("rating", result.by_rating)
    lines += _segment_table("decile", result.deciles, with_score=True)
    return "\n".join(lines).rstrip() + "\n"


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1%}"


def _segment_table(name: str, segments: Sequence[Segment], with_score: bool = False) -> list[str]:
    header = f"  {name:<8}{'leads':>8}{'converted':>11}{'rate':>8}{'lift':>7}"
    header += f"{'min score':>11}" if with_score else ""
    lines = [header]
    cumulative = 0.0
    conversions = sum(s.conversions for s in segments)
    for segment in segments:
        cumulative += segment.conversions
        line = (
            f"  {segment.label:<8}{segment.leads:>8,.0f}{segment.conversions:>11,.0f}"
            f"{_percent(segment.rate):>8}{segment.lift:>6.2f}x"
        )
        if with_score:
            lowest = "" if segment.lowest_score is None else f"{segment.lowest_score:g}"
            line += f"{lowest:>11}   {cumulative / conversions:.0%} of conversions so far"
        lines.append(line)
    lines.append("")
    return lines


def plot(result: Backtest, path: str) -> None:
    """A PNG with the cumulative gains and lift by decile, and the score distributions."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    figure, (gains_axis, lift_axis, spread_axis) = plt.subplots(1, 3, figsize=(16, 4.8))
    figure.suptitle(
        f"Backtest of {result.model}: {result.leads:,} leads, AUC {result.auc:.3f}, "
        f"top-decile lift {result.top_decile_lift:.2f}x"
    )
    shares = [0.0]
    captured = [0.0]
    for segment in result.deciles:
        shares.append(shares[-1] + segment.leads / result.leads)
        captured.append(captured[-1] + segment.conversions / result.conversions)
    gains_axis.plot(
        [s * 100 for s in shares], [c * 100 for c in captured], marker="o", label="model"
    )
    gains_axis.plot([0, 100], [0, 100], linestyle="--", color="grey", label="random order")
    gains_axis.set(
        title="Cumulative gains",
        xlabel="% of leads, best scored first",
        ylabel="% of conversions captured",
        xlim=(0, 100),
        ylim=(0, 100),
    )
    gains_axis.legend(loc="lower right")
    gains_axis.grid(alpha=0.3)

    labels = [segment.label for segment in result.deciles]
    lifts = [0 if math.isnan(s.lift) else s.lift for s in result.deciles]
    bars = lift_axis.bar(labels, lifts, color="tab:blue")
    lift_axis.axhline(1, color="grey", linestyle="--", label="average lead")
    for bar, segment in zip(bars, result.deciles, strict=True):
        if not math.isnan(segment.rate):
            lift_axis.annotate(
                f"{segment.rate:.0%}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    lift_axis.set_ylim(0, max([*lifts, 1]) * 1.15)
    lift_axis.set(
        title="Lift by decile (label: conversion rate)",
        xlabel="decile (1 = best scored 10 %)",
        ylabel="lift over average",
    )
    lift_axis.legend(loc="upper right")
    lift_axis.grid(axis="y", alpha=0.3)

    bins = [i * 2.5 for i in range(41)]
    converted = [s for s, o in zip(result.scores, result.outcomes, strict=True) if o]
    others = [s for s, o in zip(result.scores, result.outcomes, strict=True) if not o]
    counts_others, _, _ = spread_axis.hist(
        others, bins=bins, alpha=0.6, label=f"not converted ({len(others):,})"
    )
    counts_converted, _, _ = spread_axis.hist(
        converted, bins=bins, alpha=0.6, label=f"converted ({len(converted):,})"
    )
    tallest = max([*counts_others, *counts_converted, 1])
    spread_axis.axvline(
        result.threshold,
        color="black",
        linestyle="--",
        label=f"MQL >= {result.threshold:g}: precision {_percent(result.precision)}, "
        f"recall {_percent(result.recall)}",
    )
    spread_axis.set(
        title="Score distribution",
        xlabel="score",
        ylabel="leads",
        xlim=(0, 100),
        ylim=(0, tallest * 1.3),  # room for the legend above the bars
    )
    spread_axis.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
