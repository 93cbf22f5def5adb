"""`/v1/accounts/{domain}`: an account's score, rating, status and its people's contributions."""

from __future__ import annotations

from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from leadscore.api.deps import Dependencies, new_router
from leadscore.api.problems import invalid, json_response
from leadscore.domain.emails import EmailError, normalize_domain
from leadscore.services.account_view import account_view


def _domain(value: str) -> str:
    """The path's domain as its people's addresses have it (`bücher.de` is `xn--bcher-kva.de`);
    a trailing root dot is no part of it."""
    try:
        return normalize_domain(unquote(value).strip().rstrip("."))
    except EmailError:
        raise invalid("domain", "a company domain, e.g. acme.com") from None


def routes(deps: Dependencies) -> Router:
    router = new_router()

    @router.get("/v1/accounts/<domain>")
    def get_account(domain: str) -> Response[str]:
        account_domain = _domain(domain)  # a refusal before the models' read
        account = account_view(deps.store, deps.models.current(), account_domain)
        return json_response(200, account)

    return router
