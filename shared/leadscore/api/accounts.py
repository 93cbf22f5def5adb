"""`/v1/accounts/{domain}`: an account's score, rating, status and its people's contributions."""

from __future__ import annotations

from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from leadscore.api.deps import Dependencies, new_router, require_api_key
from leadscore.api.problems import invalid, json_response
from leadscore.services.account_view import account_view


def _domain(value: str) -> str:
    domain = unquote(value).strip().lower().rstrip(".")
    if not domain or len(domain) > 253 or "@" in domain or any(c.isspace() for c in domain):
        raise invalid("domain", "a company domain, e.g. acme.com")
    return domain


def routes(deps: Dependencies) -> Router:
    router = new_router()

    @router.get("/v1/accounts/<domain>")
    def get_account(domain: str) -> Response[str]:
        require_api_key(router, deps)
        account = account_view(deps.store, deps.models.current(), _domain(domain))
        return json_response(200, account)

    return router
