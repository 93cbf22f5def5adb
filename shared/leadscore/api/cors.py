"""CORS for the public routes a web page calls (forms, tracking): an allowed origin's headers,
on every answer including errors (the page's console shows why), and the preflight."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.event_handler import Response

from leadscore.api.problems import Problem

# A page may post JSON (Content-Type needs a preflight); browsers keep the answer 10 minutes.
PREFLIGHT = {
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}


def cors_headers(origin: str | None, allowed: Callable[[str], bool]) -> dict[str, str]:
    """The headers letting a page of `origin` read the answer; none for another origin."""
    if not origin or not allowed(origin):
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def answer_preflight(
    origin: str | None, allowed: Callable[[str], bool], refusal: str
) -> Response[str]:
    """The answer to a CORS preflight: 204 with the headers, or 403 `refusal`."""
    headers = cors_headers(origin, allowed)
    if not headers:
        raise Problem(403, refusal)
    return Response(status_code=204, body="", headers=headers | PREFLIGHT)
