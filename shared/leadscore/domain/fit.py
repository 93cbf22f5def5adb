"""A profile's fit (categories, bonus, negative criteria, spam), remembered, and its reasons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadscore.domain import domains, spam
from leadscore.domain.compiled import CompiledModel, ProfileFit
from leadscore.domain.value_tests import MEMO_SIZE
from leadscore.domain.working_state import WorkingState

FIT_PREFIXES = ("fit.", "negative.", "spam")  # the reasons a profile's fit gives
MEMO_TYPES = frozenset({str, int, float, type(None)})  # True == 1: booleans are not remembered


def refresh_fit(
    lead: WorkingState, profile: Mapping[str, Any], untrusted: frozenset[str] = frozenset()
) -> None:
    """Write the profile's fit into the lead: its reasons, fit, flags, disqualification."""
    state = lead.state
    found = remembered_fit(lead.model, profile, untrusted)
    state.fit, state.flags, state.disqualified = found.fit, list(found.flags), found.disqualified
    reasons = state.reasons
    if reasons:  # a new lead has no earlier fit to take back
        current = dict(found.reasons)
        for key in [k for k in reasons if k.startswith(FIT_PREFIXES) and k not in current]:
            lead.set_reason(key, 0, 0)
    changes = lead.changes
    for key, points in found.reasons:  # lead.set_reason(key, points, 1), inline
        entry = reasons.get(key)
        if entry is None:
            reasons[key] = [points, 1]
            moved = points
        else:
            moved = points - entry[0]
            entry[0], entry[1] = points, 1
        if moved:
            changes[key] = changes.get(key, 0) + moved
            lead.reason_total += moved


def remembered_fit(
    model: CompiledModel, profile: Mapping[str, Any], untrusted: frozenset[str] = frozenset()
) -> ProfileFit:
    """The profile's fit, remembered per model: a lead is often scored again unchanged."""
    values = [profile.get(name) for name in model.fit_fields]
    if not MEMO_TYPES.issuperset(map(type, values)):
        return profile_fit(model, profile, untrusted)
    key = (*values, untrusted) if untrusted else tuple(values)
    found = model.fit_memo.get(key)
    if found is None:
        if len(model.fit_memo) >= MEMO_SIZE:
            model.fit_memo.clear()
        found = model.fit_memo[key] = profile_fit(model, profile, untrusted)
    return found


def profile_fit(
    model: CompiledModel, profile: Mapping[str, Any], untrusted: frozenset[str] = frozenset()
) -> ProfileFit:
    """Fit points from the profile: the categories, bonus, negative criteria and spam. The
    `untrusted` fields (the public's, on a lead the user's systems know) count for the
    categories and the bonus, but neither disqualify nor flag spam."""
    values = {name: profile.get(name) for name in model.profile_fields}
    if "email_domain" in values:
        values["email_domain"] = domains.email_domain(str(profile.get("email") or ""))
    parts: dict[str, float] = {}
    definition = model.model.fit
    if definition.base:
        parts["fit.base"] = definition.base
    for category in model.categories:
        criterion = category.match(values)
        if criterion is not None:
            parts[criterion.key] = criterion.weighted
        elif category.default_points:
            parts[category.default_key] = category.default_weighted
    bonus = definition.completion_bonus
    if bonus is not None:
        filled = 0
        for name in bonus.fields:
            if str(profile.get(name) or "").strip():
                filled += 1
        if filled:
            parts["fit.completion_bonus"] = bonus.points * filled
    flags: list[str] = []
    disqualified = False
    for adjustment in model.adjustments:
        if adjustment.field in untrusted:
            continue
        if adjustment.applies(values[adjustment.field]):
            parts[adjustment.key] = adjustment.points
            flags.append(adjustment.flag)
            disqualified = disqualified or adjustment.disqualify
    spam_settings = model.model.spam
    if spam_settings is not None and is_spam(model, profile, untrusted):
        parts["spam"] = spam_settings.penalty
        flags.append("spam")
        disqualified = disqualified or spam_settings.disqualify
    if disqualified:
        flags.append("disqualified")

    total = sum(parts.values())
    clamped = min(max(total, 0.0), 100.0)
    if clamped != total:
        parts["fit.clamp"] = clamped - total
    weight = model.fit_weight * 100  # fit points -> score centipoints
    return ProfileFit(
        reasons=tuple([(key, round(points * weight)) for key, points in parts.items()]),
        fit=round(clamped * 100),
        flags=tuple(sorted(set(flags))),
        disqualified=disqualified,
    )


def is_spam(
    model: CompiledModel, profile: Mapping[str, Any], untrusted: frozenset[str] = frozenset()
) -> bool:
    """The model's spam signals in the profile, but for its `untrusted` fields."""
    settings = model.model.spam
    if settings is None:
        return False
    names = tuple(
        str(profile.get(name) or "")
        for name in ("first_name", "last_name")
        if name not in untrusted
    )
    if settings.lowercase_names:
        for name in names:
            if name and spam.is_lowercase_name(name):
                return True
    run = settings.keyboard_run
    if run is not None:
        company = "" if "company" in untrusted else str(profile.get("company") or "")
        for text in (*names, company):
            if text and spam.has_keyboard_run(text, run):
                return True
    return settings.disposable_domains and model.is_disposable(profile.get("email"))
