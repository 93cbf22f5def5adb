"""RFC 9457 problem details: every error the API answers, in one shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response

from leadscore.domain import strict_json

PROBLEM_TYPE = "application/problem+json"
STATUS_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class Problem(Exception):
    """An answer other than success, raised anywhere in a route and rendered once."""

    def __init__(
        self, status: int, detail: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers: dict[str, str] = {}
        super().__init__(detail)


def invalid(field: str, message: str) -> Problem:
    return Problem(422, "the request is not valid", [{"field": field, "message": message}])


def problem_response(
    status: int,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[str]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": STATUS_TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return Response(
        status_code=status,
        content_type=PROBLEM_TYPE,
        body=strict_json.dumps(body, ensure_ascii=False),
        headers=dict(headers or {}),
    )


def json_response(
    status: int, document: Any, headers: Mapping[str, str] | None = None
) -> Response[str]:
    """A JSON answer, strict: a non-finite number (stored before input was strict) is null."""
    return Response(
        status_code=status,
        content_type="application/json",
        body=strict_json.dumps(document, ensure_ascii=False, default=str),
        headers=dict(headers or {}),
    )
