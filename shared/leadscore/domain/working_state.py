"""A lead's state during one engine call, and its engagement and score kept equal to its reasons."""

from __future__ import annotations

from collections.abc import Iterable

from leadscore.domain.compiled import CompiledModel
from leadscore.domain.decay_curve import current_decay
from leadscore.domain.state import LeadState

FULL = 10_000  # 100 points, in centipoints
SCORE_KEYS = frozenset({"score.clamp", "disqualified"})  # reasons that act on the total


class WorkingState:
    """A lead's state during one call, with running totals so that an event costs O(1).

    Every reason goes through `set_reason`, which records the change for the delta under
    way and keeps `reason_total` (the sum of the reasons before the score's own clamp).
    """

    __slots__ = ("cap_adjustments", "cap_total", "changes", "group_totals", "model",
                 "reason_total", "rule_total", "state")  # fmt: skip

    def __init__(self, model: CompiledModel, state: LeadState) -> None:
        self.model = model
        self.state = state
        self.changes: dict[str, int] = {}
        # Engagement centipoints of every rule, and of each capped group, before caps and decay.
        self.group_totals = dict.fromkeys(model.group_caps, 0)
        self.cap_adjustments = dict.fromkeys(model.group_caps, 0)
        self.reason_total = self.rule_total = self.cap_total = 0
        if not state.reasons and not state.rule_points:  # a new lead
            return
        self.reason_total = sum(p for k, (p, _) in state.reasons.items() if k not in SCORE_KEYS)
        self.rule_total = sum(state.rule_points.values())
        for key, points in state.rule_points.items():
            group = model.rule_groups.get(key)
            if group in self.group_totals:
                self.group_totals[group] += points
        self.cap_adjustments = {
            group: min(0, model.group_caps[group] - total)
            for group, total in self.group_totals.items()
        }
        self.cap_total = sum(self.cap_adjustments.values())

    def set_reason(self, key: str, points: int, count: int) -> None:
        reasons = self.state.reasons
        old = reasons.get(key)
        old_points = old[0] if old else 0
        if points == 0 and count == 0:
            if old is not None:
                del reasons[key]
        elif old is None:
            reasons[key] = [points, count]
        else:
            old[0], old[1] = points, count
        if points != old_points:
            self.changes[key] = self.changes.get(key, 0) + points - old_points
            if key not in SCORE_KEYS:
                self.reason_total += points - old_points

    def adjust(self, key: str, points: int) -> None:
        """An explicit adjustment (a cap, decay, a clamp): a reason only while it is not 0."""
        if points or key in self.state.reasons:
            self.set_reason(key, points, 0)

    def take_changes(self) -> dict[str, int]:
        """The reasons moved since the last call (none that moved back to where it was)."""
        changes, self.changes = self.changes, {}
        return changes if all(changes.values()) else {k: v for k, v in changes.items() if v}

    def engagement_base(self) -> int:
        """Engagement centipoints after group caps and earlier decay, before the current decay."""
        return self.rule_total + self.cap_total + self.state.decay_kept


def has_adjustments(state: LeadState) -> bool:
    """True when an adjustment (decay, a clamp, disqualification) may move with an event."""
    reasons = state.reasons
    return (
        state.decay_factor < 1
        or state.decay_kept != 0
        or state.disqualified
        or "decay" in reasons
        or "engagement.clamp" in reasons
        or "score.clamp" in reasons
        or "disqualified" in reasons
    )


def end_inactivity(lead: WorkingState) -> None:
    """New activity ends the inactive stretch: its decay becomes permanent."""
    state = lead.state
    state.decay_kept += current_decay(lead.model, state, lead.engagement_base())
    state.decay_factor = 1.0


def refresh_engagement(lead: WorkingState, groups: Iterable[str]) -> None:
    """Recompute the caps of `groups`, decay and the 0-100 clamp of engagement.

    An adjustment is written only when it is, or was, not 0: most events change none.
    """
    model, state = lead.model, lead.state
    reasons, weight = state.reasons, model.engagement_weight
    for group in groups:
        over = lead.group_totals[group] - model.group_caps[group]
        adjustment = -over if over > 0 else 0
        lead.cap_total += adjustment - lead.cap_adjustments[group]
        lead.cap_adjustments[group] = adjustment
        key = model.cap_keys[group]
        if adjustment or key in reasons:
            lead.set_reason(key, round(adjustment * weight), 0)
    base = lead.rule_total + lead.cap_total + state.decay_kept
    current = current_decay(model, state, base) if state.decay_factor < 1 else 0
    if state.decay_kept or current or "decay" in reasons:
        lead.adjust("decay", round((state.decay_kept + current) * weight))
    value = base + current
    clamped = value if 0 <= value <= FULL else 0 if value < 0 else FULL
    if clamped != value or "engagement.clamp" in reasons:
        lead.adjust("engagement.clamp", round((clamped - value) * weight))
    state.engagement = clamped


def refresh_score(lead: WorkingState) -> None:
    """The score is the sum of the reasons, clamped to 0-100; a disqualified lead scores 0."""
    state, total = lead.state, lead.reason_total
    reasons = state.reasons
    clamped = total if 0 <= total <= FULL else 0 if total < 0 else FULL
    if clamped != total or "score.clamp" in reasons:
        lead.adjust("score.clamp", clamped - total)
    if state.disqualified or "disqualified" in reasons:
        lead.adjust("disqualified", -clamped if state.disqualified else 0)
    state.score = 0 if state.disqualified else clamped
