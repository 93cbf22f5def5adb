"""`/v1/accounts/{domain}`: an account's score, rating, status and its people's contributions."""

from __future__ import annotations

from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from leadscore.adapters.dynamo import AccountItem, LeadTable, account_pk
from leadscore.adapters.model_store import catalog
from leadscore.api.deps import Dependencies, new_router, require_api_key
from leadscore.api.problems import Problem, invalid, json_response
from leadscore.domain import accounts
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.domains import company_domain
from leadscore.domain.engine import iso
from leadscore.domain.model import parse_model
from leadscore.services.accounts import people_of, people_shown

NOT_FOUND = "no account with this domain (unknown, or a personal or education domain)"


def _domain(value: str) -> str:
    domain = unquote(value).strip().lower().rstrip(".")
    if not domain or len(domain) > 253 or "@" in domain or any(c.isspace() for c in domain):
        raise invalid("domain", "a company domain, e.g. acme.com")
    if company_domain(f"x@{domain}") != domain:
        raise Problem(404, NOT_FOUND)
    return domain


def _models() -> dict[str, CompiledModel]:
    return {item.model_id: compile_model(parse_model(item.document)) for item in catalog()}


def routes(deps: Dependencies) -> Router:
    router = new_router()

    @router.get("/v1/accounts/<domain>")
    def get_account(domain: str) -> Response[str]:
        require_api_key(router, deps)
        name = _domain(domain)
        items = [
            item
            for item in LeadTable.query(account_pk(name), consistent_read=True)
            if isinstance(item, AccountItem)
        ]
        models = _models()
        scores = []
        for item in items:
            model = models.get(str(item.model))
            if model is None or model.model.account is None or not item.people:
                continue
            status = str(item.state.get("status", "open"))
            mqa_since = item.state.get("mqa_since")
            rolled = accounts.roll_up(model.model.account, people_of(item), status, mqa_since)
            summary = accounts.summary(rolled, model.id, int(item.state.get("model_version", 0)))
            # The stored status is the account's: a model changed since may move it only
            # when one of its people next changes (and then notifies).
            summary["status"] = status
            summary["mqa_since"] = None if mqa_since is None else iso(int(mqa_since))
            summary["people"] = people_shown(summary, keep_missing=True)
            scores.append(summary)
        if not scores:
            raise Problem(404, NOT_FOUND)
        return json_response(200, {"account": name, "scores": scores})

    return router
