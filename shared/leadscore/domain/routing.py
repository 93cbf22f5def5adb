"""Who follows a lead up when nobody owns it yet: the model's routing rules, first match wins."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadscore.domain import domains
from leadscore.domain.compiled import CompiledModel, Route

ROUTED = "routing"  # the source of a routed owner: `routing:<rule name>`


@dataclass(frozen=True, slots=True)
class Routed:
    owner: str
    rule: str

    @property
    def source(self) -> str:
        return f"{ROUTED}:{self.rule}"


def route(model: CompiledModel, key: str, profile: Mapping[str, Any]) -> Routed | None:
    """The owner the model's first matching rule gives the lead (its key and profile), or None
    when no rule applies (or the model has none)."""
    for rule in model.routes:
        if rule.field is None or rule.matches(_value(profile, rule.field)):
            return Routed(member(rule, key), rule.name)
    return None


def member(rule: Route, key: str) -> str:
    """The team member for a lead: by a hash of the rule and the lead's key, so that a lead
    always goes to the same person (a retried or replayed batch agrees) and a team's leads
    spread evenly over it, without a counter written on every MQL."""
    if len(rule.team) == 1:
        return rule.team[0]
    digest = hashlib.sha256(f"{rule.name}#{key}".encode()).digest()
    return rule.team[int.from_bytes(digest[:8], "big") % len(rule.team)]


def _value(profile: Mapping[str, Any], field: str) -> Any:
    if field == "email_domain":
        return domains.email_domain(str(profile.get("email") or ""))
    return profile.get(field)
