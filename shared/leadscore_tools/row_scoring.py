"""Past leads scored as new ones: each CSV row as a lead profile, through the real engine."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.value_tests import as_text

from leadscore_tools.history_csv import MISSING_TOKENS

PLACEHOLDER_EMAIL = "lead-{index}@backtest.example"  # reserved TLD: no domain list matches it
SCORED_AT = datetime(2000, 1, 1, tzinfo=UTC)  # no events: `now` only stamps the result

Progress = Callable[[int, int], None]  # (done, total)


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
