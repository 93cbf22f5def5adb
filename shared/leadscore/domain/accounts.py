"""Account scoring: roll a company's people's scores up into one account score.

Design: docs/design/accounts.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leadscore.domain.model_account import Account
from leadscore.domain.state import LeadState

FULL = 10_000  # 100 points in centipoints
PARTS = ("fit", "engagement", "people", "roles")


@dataclass(frozen=True, slots=True)
class Person:
    """What one person brings to the account (from their lead state for one model)."""

    key: str  # the lead key (never an email)
    fit: int  # centipoints
    engagement: int  # centipoints
    score: int  # centipoints: ranks who is kept when an account has too many people
    role: str | None = None
    counted: bool = True  # False: disqualified or flagged out (e.g. non-buyer titles)

    def to_list(self) -> list[Any]:
        return [self.fit, self.engagement, self.score, self.role, self.counted]

    @classmethod
    def from_list(cls, key: str, values: Sequence[Any]) -> Person:
        fit, engagement, score, role, counted = values
        return cls(key, int(fit), int(engagement), int(score), role, bool(counted))


@dataclass(frozen=True, slots=True)
class Contribution:
    key: str
    points: int  # centipoints of the account score, the sum of `parts`
    parts: dict[str, int]
    engaged: bool
    person: Person


@dataclass(slots=True)
class AccountResult:
    score: int  # centipoints 0..10000, the sum of the contributions
    fit: int  # the parts' values before weighting, centipoints 0..10000
    engagement: int
    engaged_people: int
    roles: list[str]
    grade: str
    level: int
    status: str  # open | mqa
    mqa_since: int | None
    transition: str | None  # "mqa" | "cooled" | None
    parts: dict[str, int]  # weighted centipoints per part
    contributions: list[Contribution] = field(default_factory=list)

    @property
    def rating(self) -> str:
        return f"{self.grade}{self.level}"


def person_from_state(config: Account, key: str, state: LeadState) -> Person:
    """A person's contribution inputs from their lead state."""
    role = None
    if config.role_category is not None:
        prefix = f"fit.{config.role_category}."
        for reason, (_points, count) in state.reasons.items():
            if reason.startswith(prefix) and count and reason != f"{prefix}default":
                role = reason.removeprefix(prefix)
                break
    counted = not state.disqualified and not set(state.flags) & set(config.ignore_flags)
    return Person(key, state.fit, state.engagement, state.score, role, counted)


def keep(config: Account, people: Iterable[Person]) -> dict[str, Person]:
    """The people an account item keeps: the `max_people` strongest (by score, then
    engagement), so that the item stays small whatever the company's size."""
    ranked = sorted(people, key=lambda p: (-p.counted, -p.score, -p.engagement, p.key))
    return {p.key: p for p in ranked[: config.max_people]}


def roll_up(
    config: Account,
    people: Mapping[str, Person],
    status: str = "open",
    mqa_since: int | None = None,
    now_s: int = 0,
) -> AccountResult:
    """The account's score from its people; `status` and `mqa_since` are the previous ones."""
    weights = config.weights
    counted = [p for p in people.values() if p.counted]
    engaged_min = round(config.engaged_min * 100)
    engaged = sorted(
        (p for p in counted if p.engagement >= engaged_min and p.engagement > 0),
        key=lambda p: (-p.engagement, -p.fit, p.key),
    )
    shares: dict[str, dict[str, int]] = {p.key: dict.fromkeys(PARTS, 0) for p in people.values()}

    # Fit: the best fit, wholly to the best-fit person.
    best = max(counted, key=lambda p: (p.fit, p.engagement, p.key), default=None)
    fit = best.fit if best else 0
    fit_part = round(fit * weights.fit / 100)
    if best is not None:
        shares[best.key]["fit"] = fit_part

    # Engagement: capped per person, summed, as a share of `engagement_full`.
    cap = round(config.engagement_cap * 100)
    added = {p.key: min(max(p.engagement, 0), cap) for p in counted}
    total = sum(added.values())
    engagement = min(FULL, round(total * FULL / (config.engagement_full * 100)))
    engagement_part = round(engagement * weights.engagement / 100)
    _share(shares, "engagement", engagement_part, added)

    # Breadth: how many engaged people, and of how many distinct roles.
    breadth = engaged[: config.people_full]
    people_part = round(len(breadth) * FULL / config.people_full * weights.people / 100)
    _share(shares, "people", people_part, {p.key: 1 for p in breadth})
    first_of_role: dict[str, str] = {}
    for person in engaged:
        if person.role is not None and person.role not in first_of_role:
            first_of_role[person.role] = person.key
    roles = list(first_of_role)[: config.roles_full]
    roles_part = round(len(roles) * FULL / config.roles_full * weights.roles / 100)
    _share(shares, "roles", roles_part, {first_of_role[r]: 1 for r in roles})

    parts = {"fit": fit_part, "engagement": engagement_part, "people": people_part,
             "roles": roles_part}  # fmt: skip
    score = sum(parts.values())
    if score > FULL:  # weights summing to 100 within 0.01 can round a full score past 100
        parts["roles"] -= score - FULL
        _take_back(shares, "roles", score - FULL)
        score = FULL

    grade = _grade(config, fit)
    level = _level(config, engagement)
    transition = None
    if status != "mqa" and score >= round(config.thresholds.mqa * 100):
        status, mqa_since, transition = "mqa", now_s, "mqa"
    elif status == "mqa" and score < round(config.thresholds.reset * 100):
        status, mqa_since, transition = "open", None, "cooled"
    engaged_keys = {p.key for p in engaged}
    contributions = sorted(
        (
            Contribution(key, sum(part.values()), part, key in engaged_keys, people[key])
            for key, part in shares.items()
        ),
        key=lambda c: (-c.points, -c.person.engagement, c.key),
    )
    return AccountResult(
        score=score,
        fit=fit,
        engagement=engagement,
        engaged_people=len(engaged),
        roles=roles,
        grade=grade,
        level=level,
        status=status,
        mqa_since=mqa_since,
        transition=transition,
        parts=parts,
        contributions=contributions,
    )


def _share(
    shares: dict[str, dict[str, int]], part: str, points: int, weights: Mapping[str, int]
) -> None:
    """Hand `points` out in proportion to `weights`, exactly (largest remainders)."""
    total = sum(weights.values())
    if not points or not total:
        return
    exact = {key: points * w / total for key, w in weights.items()}
    given = {key: int(value) for key, value in exact.items()}
    left = points - sum(given.values())
    for key in sorted(exact, key=lambda k: (given[k] - exact[k], k))[:left]:
        given[key] += 1
    for key, value in given.items():
        shares[key][part] += value


def _take_back(shares: dict[str, dict[str, int]], part: str, points: int) -> None:
    for share in sorted(shares.values(), key=lambda s: -s[part]):
        taken = min(points, share[part])
        share[part] -= taken
        points -= taken
        if not points:
            return


def _grade(config: Account, fit: int) -> str:
    points = fit / 100
    grades = config.grades
    return (
        "A"
        if points >= grades.A
        else "B"
        if points >= grades.B
        else ("C" if points >= grades.C else "D")
    )


def _level(config: Account, engagement: int) -> int:
    points = engagement / 100
    levels = config.levels
    if points >= levels.level_1:
        return 1
    return 2 if points >= levels.level_2 else 3 if points >= levels.level_3 else 4


def summary(result: AccountResult, model_id: str, model_version: int) -> dict[str, Any]:
    """The account's scores for one model, as the API and notifications show them (the
    people are listed by key; the caller turns keys into the emails of their profiles)."""
    return {
        "model": model_id,
        "model_version": model_version,
        "score": result.score / 100,
        "fit": result.fit / 100,
        "engagement": result.engagement / 100,
        "grade": result.grade,
        "engagement_level": result.level,
        "rating": result.rating,
        "status": result.status,
        "engaged_people": result.engaged_people,
        "roles": list(result.roles),
        "parts": {name: points / 100 for name, points in result.parts.items()},
        "people": [
            {
                "key": c.key,
                "points": c.points / 100,
                "parts": {name: points / 100 for name, points in c.parts.items()},
                "engaged": c.engaged,
                "counted": c.person.counted,
                "role": c.person.role,
                "fit": c.person.fit / 100,
                "engagement": c.person.engagement / 100,
            }
            for c in result.contributions
        ],
    }
