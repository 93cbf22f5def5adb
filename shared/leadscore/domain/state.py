"""A lead's score state for one model: small and bounded, whatever the history's length.

Points are kept as integer hundredths ("centipoints") so that every explanation adds up
exactly: the score is, by definition, the sum of its reasons.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MAX_RECENT_IDS = 100  # duplicates older than this window are caught by the store's id records
MAX_LIMIT_KEYS = 50  # per rule: e.g. the 50 most recent emails whose first open counted


@dataclass(slots=True)
class LeadState:
    model_id: str
    model_version: int = 0
    score: int = 0  # centipoints 0..10000, the sum of `reasons`
    fit: int = 0  # centipoints 0..10000
    engagement: int = 0  # centipoints 0..10000, after caps and decay
    grade: str = "D"
    level: int = 4
    status: str = "open"  # open | mql
    mql_since: int | None = None  # epoch seconds
    sla_due_at: int | None = None
    sla_breached: bool = False
    flags: list[str] = field(default_factory=list)
    disqualified: bool = False
    # reason key -> [score centipoints, count]
    reasons: dict[str, list[int]] = field(default_factory=dict)
    # engagement rule key -> engagement centipoints before caps and decay
    rule_points: dict[str, int] = field(default_factory=dict)
    # rule key -> limit window key -> counted events [[epoch, id digest, centipoints], ...]
    limits: dict[str, dict[str, list[list[Any]]]] = field(default_factory=dict)
    decay_factor: float = 1.0  # decay of the current inactive stretch
    decay_kept: int = 0  # engagement centipoints lost to earlier stretches (<= 0)
    last_activity_at: int | None = None
    recent_ids: list[str] = field(default_factory=list)
    # email message digest -> [delivered_at, opened_at, clicked_at, its link] (domain/machine.py)
    messages: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def rating(self) -> str:
        return f"{self.grade}{self.level}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def copy(self) -> LeadState:
        """A deep copy written out by hand (asdict and replace are slow): the engine never
        changes the caller's state."""
        return LeadState(
            model_id=self.model_id,
            model_version=self.model_version,
            score=self.score,
            fit=self.fit,
            engagement=self.engagement,
            grade=self.grade,
            level=self.level,
            status=self.status,
            mql_since=self.mql_since,
            sla_due_at=self.sla_due_at,
            sla_breached=self.sla_breached,
            flags=list(self.flags),
            disqualified=self.disqualified,
            reasons={key: list(entry) for key, entry in self.reasons.items()},
            rule_points=dict(self.rule_points),
            # The engine replaces a window's entries, never changes one: the copy shares them.
            limits={
                rule: {key: slot.copy() for key, slot in slots.items()}
                for rule, slots in self.limits.items()
            },
            decay_factor=self.decay_factor,
            decay_kept=self.decay_kept,
            last_activity_at=self.last_activity_at,
            recent_ids=list(self.recent_ids),
            messages={key: list(record) for key, record in self.messages.items()},
        )

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> LeadState:
        known = {k: v for k, v in document.items() if k in cls.__dataclass_fields__}
        state = cls(**known)
        # DynamoDB hands numbers back as Decimal: bring them back to int/float.
        state.score, state.fit = int(state.score), int(state.fit)
        state.engagement = int(state.engagement)
        state.model_version, state.level = int(state.model_version), int(state.level)
        state.decay_factor, state.decay_kept = float(state.decay_factor), int(state.decay_kept)
        for name in ("mql_since", "sla_due_at", "last_activity_at"):
            value = getattr(state, name)
            setattr(state, name, None if value is None else int(value))
        state.reasons = {k: [int(v[0]), int(v[1])] for k, v in state.reasons.items()}
        state.rule_points = {k: int(v) for k, v in state.rule_points.items()}
        state.limits = {
            rule: {
                key: [[int(t), str(d), int(p)] for t, d, p in slot] for key, slot in slots.items()
            }
            for rule, slots in state.limits.items()
        }
        state.flags, state.recent_ids = list(state.flags), list(state.recent_ids)
        state.messages = {
            key: [int(d), int(o), int(c), str(link)]
            for key, (d, o, c, link) in state.messages.items()
        }
        return state
