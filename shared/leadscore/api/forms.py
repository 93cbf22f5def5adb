"""`POST /v1/forms`: website form submissions (JSON or a plain HTML form post), with CORS."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from leadscore.api.bodies import FORM, MAX_CUSTOM_FIELDS, MAX_FORM_BYTES, form_fields, takes
from leadscore.api.deps import Dependencies, header, new_router, parse_json, raw_body
from leadscore.api.problems import Problem, invalid, json_response
from leadscore.domain.events import EventError, canonical_event, content_id

MAX_NAME_CHARS = 64
MAX_VALUE_CHARS = 1_000
PROFILE_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "company",
        "job_title",
        "industry",
        "company_size",
        "annual_revenue",
        "country",
        "phone",
        "website",
    }
)
CONTEXT_FIELDS = frozenset({"form", "page_url", "product"})
COUNTRIES = {
    "united states": "US",
    "united states of america": "US",
    "usa": "US",
    "canada": "CA",
    "united kingdom": "GB",
    "uk": "GB",
    "great britain": "GB",
    "england": "GB",
    "germany": "DE",
    "deutschland": "DE",
    "france": "FR",
    "netherlands": "NL",
    "the netherlands": "NL",
    "ireland": "IE",
    "australia": "AU",
    "spain": "ES",
    "italy": "IT",
    "belgium": "BE",
    "switzerland": "CH",
    "austria": "AT",
    "sweden": "SE",
    "denmark": "DK",
    "norway": "NO",
    "finland": "FI",
    "poland": "PL",
    "portugal": "PT",
    "new zealand": "NZ",
    "singapore": "SG",
    "japan": "JP",
    "india": "IN",
    "brazil": "BR",
    "mexico": "MX",
    "china": "CN",
}
SIZE = re.compile(r"^\s*(\d[\d,. ]*)\s*(?:(?:-|\u2013|to)\s*(\d[\d,. ]*)|\+)?\s*$")


def company_size(value: str) -> int | str:
    """'51-200' -> 51 (the least it can be), '1,000+' -> 1000, '12' -> 12; else unchanged."""
    match = SIZE.match(value)
    if not match:
        return value
    digits = re.sub(r"[,. ]", "", match.group(1))
    return int(digits) if digits and len(digits) <= 12 else value


def country_code(value: str) -> str:
    text = value.strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return COUNTRIES.get(text.lower(), text)


def annual_revenue(value: str) -> float | str:
    text = value.strip().replace(",", "").replace("$", "")
    try:
        number = float(text)
    except ValueError:
        return value
    return number if math.isfinite(number) and abs(number) < 1e15 else value


def _fields(router: Router) -> tuple[dict[str, str], bool]:
    """The submitted fields as text, and whether it was a urlencoded (HTML form) post."""
    body = raw_body(router, MAX_FORM_BYTES)
    kind = (header(router, "content-type") or "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
        except (UnicodeDecodeError, ValueError):
            raise Problem(400, "the form body cannot be read") from None
        return dict(pairs), True
    if kind in ("application/json", ""):
        return form_fields(parse_json(body)), False
    raise Problem(415, "send application/json or application/x-www-form-urlencoded")


def form_event(fields: Mapping[str, str]) -> dict[str, Any]:
    """Form fields -> a `POST /v1/events` document of type form_submit."""
    profile: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    custom: dict[str, str] = {}
    for name, value in fields.items():
        if name.startswith("_") or name == "email":
            continue
        text = value.strip()[:MAX_VALUE_CHARS]
        if name in PROFILE_FIELDS:
            if not text:
                continue
            if name == "company_size":
                profile[name] = company_size(text)
            elif name == "country":
                profile[name] = country_code(text)
            elif name == "annual_revenue":
                profile[name] = annual_revenue(text)
            else:
                profile[name] = text
        elif name in CONTEXT_FIELDS or name.startswith("utm_"):
            properties[name[:MAX_NAME_CHARS]] = text
        elif len(custom) < MAX_CUSTOM_FIELDS and text:
            custom[name[:MAX_NAME_CHARS]] = text
    properties.setdefault("form", "unknown")
    if custom:
        properties["attributes"] = custom
    return {
        "email": fields.get("email"),
        "type": "form_submit",
        "product": properties.get("product") or None,
        "properties": properties,
        "profile": profile or None,
    }


def _allowed(origin: str | None, deps: Dependencies) -> bool:
    return bool(origin) and origin in deps.cors_origins


def _origin_of(url: str) -> str | None:
    if any(ord(c) < 33 or ord(c) == 127 for c in url):  # no header splitting via Location
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def routes(deps: Dependencies) -> Router:
    router = new_router()

    def cors(origin: str | None) -> dict[str, str]:
        if origin is None or not _allowed(origin, deps):
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    @router.route("/v1/forms", method="OPTIONS")
    def preflight() -> Response[str]:
        origin = header(router, "origin")
        headers = cors(origin)
        if not headers:
            raise Problem(403, "this origin may not post forms here")
        headers |= {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        }
        return Response(status_code=204, body="", headers=headers)

    @router.post("/v1/forms")
    @takes(FORM)
    def post_form() -> Response[str]:
        origin = header(router, "origin")
        now = deps.clock()
        try:
            fields, html_post = _fields(router)
            if fields.get("_gotcha", "").strip():  # a bot: it is told what a person is told
                event_id = content_id(fields)
            else:
                FORM.validate(fields)
                email, event = canonical_event(form_event(fields), now)
                deps.queue.send([(email, event)], now)
                event_id = event.id
        except EventError as error:
            problem = invalid(error.field, str(error).split(": ", 1)[-1])
            problem.headers = cors(origin)
            raise problem from None
        except Problem as problem:
            problem.headers = cors(origin)
            raise
        target = fields.get("_redirect", "")
        if html_post and target and _allowed(_origin_of(target), deps):
            return Response(status_code=303, body="", headers={"Location": target} | cors(origin))
        return json_response(202, {"status": "accepted", "event_id": event_id}, cors(origin))

    return router
