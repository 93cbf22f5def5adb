"""An account's page: its score, rating and status per model, and its people's contributions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leadscore.domain import accounts
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.domains import company_domain
from leadscore.domain.times import iso
from leadscore.services.accounts import people_of, people_shown
from leadscore.services.store import LeadStore


class AccountNotFound(LookupError):
    """No account scored under this domain, or a domain that is no company's."""

    def __init__(self) -> None:
        super().__init__("no account with this domain (unknown, or a personal or education domain)")


def account_view(store: LeadStore, models: Sequence[CompiledModel], domain: str) -> dict[str, Any]:
    """The account's scores by each current model that scores accounts, with its people."""
    if company_domain(f"x@{domain}") != domain:
        raise AccountNotFound
    by_id = {model.id: model for model in models}
    scores = []
    for record in store.account_records(domain):
        model = by_id.get(record.model)
        if model is None or model.model.account is None or not record.people:
            continue
        status = str(record.state.get("status", "open"))
        mqa_since = record.state.get("mqa_since")
        rolled = accounts.roll_up(model.model.account, people_of(record), status, mqa_since)
        summary = accounts.summary(rolled, model.id, int(record.state.get("model_version", 0)))
        # The stored status is the account's: a model changed since may move it only when
        # one of its people next changes (and then notifies).
        summary["status"] = status
        summary["mqa_since"] = None if mqa_since is None else iso(int(mqa_since))
        summary["people"] = people_shown(summary, store, keep_missing=True)
        scores.append(summary)
    if not scores:
        raise AccountNotFound
    return {"account": domain, "scores": scores}
