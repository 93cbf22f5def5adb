"""A scoring-model draft: read, checked with each problem at its line, and tried on one lead.

A draft is a model document that is not published: the console's editor sends it as YAML
text (or as a JSON object) to validate it, to score one lead with it, or to preview it on
every lead (a dry-run rescore with the draft: services/rescore.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.emails import lead_key
from leadscore.domain.model import ModelError, ScoringModel, parse_model
from leadscore.domain.model_lines import Draft, DraftTextError, located, read_yaml
from leadscore.domain.state import LeadState
from leadscore.services.leads import LeadNotFound
from leadscore.services.rescore import draft_version
from leadscore.services.rescore_replay import difference, plan_lead
from leadscore.services.store import LeadStore

__all__ = ["CheckedDraft", "DraftTextError", "check", "read", "try_on_lead"]

# Problems listed at their lines; past them one more says how many are left out (a draft of
# 50,000 unknown keys would otherwise be answered with more than Lambda's 6 MB)
MAX_PROBLEMS = 200


@dataclass(frozen=True)
class CheckedDraft:
    """A draft's model (None: it has problems), its problems, each with its line (the first
    MAX_PROBLEMS, then how many more), and how many it has."""

    model: ScoringModel | None
    problems: list[dict[str, Any]]
    found: int


def read(source: Any) -> Draft:
    """A draft from YAML text (bytes: UTF-8), or a document already read (from JSON: no lines
    then); DraftTextError when the text is not YAML."""
    if isinstance(source, bytes):
        try:
            source = source.decode()
        except UnicodeDecodeError:
            raise DraftTextError("not UTF-8 text") from None
    return read_yaml(source) if isinstance(source, str) else Draft(source)


def check(draft: Draft, model_id: str) -> CheckedDraft:
    """Validate a draft of the model `model_id`: a draft without an id takes it, one with
    another id has a problem at `id` (a draft is for the model it is sent to). The first
    MAX_PROBLEMS problems are listed, then one saying how many more there are."""
    document = draft.document
    if isinstance(document, Mapping) and "id" not in document:
        document = {**document, "id": model_id}
    try:
        model: ScoringModel | None = parse_model(document)
        problems: list[dict[str, str]] = []
    except ModelError as error:
        model, problems = None, list(error.problems)
    given = document.get("id") if isinstance(document, Mapping) else model_id
    if given != model_id and not any(p["path"] == "id" for p in problems):
        model = None
        message = f"must be the id in the path ({model_id[:100]!r}), or left out"
        problems.insert(0, {"path": "id", "message": message})
    listed = located(problems[:MAX_PROBLEMS], draft)
    left_out = len(problems) - MAX_PROBLEMS
    if left_out > 0:
        message = f"and {left_out:,} more problems (the first {MAX_PROBLEMS} are listed)"
        listed.append({"path": "", "message": message, "line": None, "column": None})
    return CheckedDraft(model, listed, len(problems))


def try_on_lead(
    draft: ScoringModel,
    store: LeadStore,
    current: Sequence[CompiledModel],
    email: str,
    now: datetime,
    retention_days: int,
) -> dict[str, Any]:
    """The lead's scores by the current version (as `GET /v1/leads/{email}` shows them; None
    when it has none) and by the draft, replayed from its event log as of `now`, and the
    points each rule moved. Nothing is written. LeadNotFound for an unknown or erased lead."""
    log = store.lead_log(lead_key(email))
    if log.profile is None:
        raise LeadNotFound
    published = next((model for model in current if model.id == draft.id), None)
    model = compile_model(draft_version(draft, 0 if published is None else published.version))
    plan = plan_lead(model, log, now, engine.epoch(now), False, retention_days)
    if plan is None:  # erased between the two reads
        raise LeadNotFound
    # the plan's `before` (it takes the log's state record over for the write it plans)
    before = None if published is None else plan.before
    moved = difference(before, plan.after)
    fields = {**log.profile.profile, "email": log.profile.email}  # the reasons' words read it
    return {
        "before": None
        if before is None or published is None
        else _scores(published, before, fields, now),
        "after": _scores(model, plan.after, fields, now),
        "difference": {rule: points / 100 for rule, points in moved.items()},
    }


def _scores(
    model: CompiledModel, state: LeadState, fields: dict[str, Any], now: datetime
) -> dict[str, Any]:
    summary = engine.summary(model, state, fields, now)
    summary.pop("flags")  # the lead's flags, not a score's (GET /v1/leads lists them once)
    thresholds = model.model.thresholds  # as GET /v1/leads/{email} shows them: the model's
    summary["mql_threshold"], summary["reset_threshold"] = thresholds.mql, thresholds.reset
    return summary
