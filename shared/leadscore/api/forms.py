"""`POST /v1/forms`: website form submissions (JSON or a plain HTML form post), with CORS."""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from leadscore.adapters.captcha import WIDGET_FIELDS
from leadscore.api.bodies import FORM, MAX_CUSTOM_FIELDS, MAX_FORM_BYTES, form_fields, takes
from leadscore.api.cors import answer_preflight, cors_headers
from leadscore.api.deps import Dependencies, header, new_router, parse_json, raw_body
from leadscore.api.form_checks import TOKEN_SECRET
from leadscore.api.problems import Problem, invalid, json_response
from leadscore.domain import form_tokens
from leadscore.domain.events import (
    CAPTCHA_FORM,
    MAX_NAME_CHARS,
    MAX_PROFILE_TEXT,
    MAX_PROPERTIES,
    MAX_PROPERTIES_BYTES,
    EventError,
    canonical_event,
    clip_profile_text,
    stored_size,
)
from leadscore.domain.messages import Entry
from leadscore.domain.visitors import valid_visitor

logger = Logger(child=True)
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
RANGE_MARKS = ("-", "\u2013", "to")
SEPARATORS = ",. "  # within a number: "1,000", "1.000", "1 000"


def _number_end(text: str) -> int:
    """Where the number starting `text` ends (a digit, then digits and separators), or 0."""
    if not text[:1].isdecimal():
        return 0
    end = 1
    while end < len(text) and (text[end].isdecimal() or text[end] in SEPARATORS):
        end += 1
    return end


def company_size(value: str) -> int | str:
    """'51-200' -> 51 (the least it can be), '1,000+' -> 1000, '12' -> 12; else unchanged.

    Read in one pass (no regex: one whose number may end in the spaces its next part also
    takes backtracks polynomially, 1 s for a thousand spaces)."""
    text = value.strip()
    end = _number_end(text)
    if not end:
        return value
    rest = text[end:].lstrip()
    if rest and rest != "+":
        mark = next((mark for mark in RANGE_MARKS if rest.startswith(mark)), None)
        upper = rest[len(mark) :].lstrip() if mark else ""
        if not upper or _number_end(upper) != len(upper):
            return value
    digits = "".join(c for c in text[:end] if c not in SEPARATORS)
    return int(digits) if len(digits) <= 12 else value


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
        document = parse_json(body)
        fields = form_fields(document)
        # Filled only with text: `false`, 0 or null is a person's form, not a bot's.
        if not isinstance(document.get("_gotcha"), str):
            fields.pop("_gotcha", None)
        return fields, False
    raise Problem(415, "send application/json or application/x-www-form-urlencoded")


def profile_value(name: str, value: str) -> Any:
    """A known profile field's value as typed: clipped to a valid profile value, sizes,
    countries and revenues read; None when it is empty."""
    text = clip_profile_text(value.strip())
    if not text:
        return None
    if name == "company_size":
        return company_size(text)
    if name == "country":
        return country_code(text)
    if name == "annual_revenue":
        return annual_revenue(text)
    return text


def known_profile(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The known profile fields among `fields` (text or numbers), read as a form's are."""
    profile = {}
    for name, given in fields.items():
        if name not in PROFILE_FIELDS or isinstance(given, bool):
            continue
        # 250.0 employees: "250", not "250.0" (read as 2500); other fractions are left out.
        value = int(given) if isinstance(given, float) and given.is_integer() else given
        if isinstance(value, str | int) and (known := profile_value(name, str(value))):
            profile[name] = known
    return profile


def form_event(fields: Mapping[str, str]) -> dict[str, Any]:
    """Form fields -> a `POST /v1/events` document of type form_submit, within the event's
    limits: values clipped, and context or custom fields that no longer fit dropped."""
    profile: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    custom: dict[str, str] = {}
    # Room for the context and custom fields; `form` and `attributes` have theirs kept.
    room, slots = MAX_PROPERTIES_BYTES - 100, MAX_PROPERTIES - 2
    # Context first, so that custom fields never crowd out the page or the campaign.
    for name, value in sorted(fields.items(), key=lambda field: not _context(field[0])):
        if name.startswith("_") or name == "email" or name in WIDGET_FIELDS:
            continue
        text = value.strip()[:MAX_PROFILE_TEXT]
        key = name[:MAX_NAME_CHARS]
        cost = stored_size(key) + stored_size(text) + 2
        if name in PROFILE_FIELDS:
            if (known := profile_value(name, text)) is not None:
                profile[name] = known
        elif cost > room:
            continue
        elif _context(name):
            if len(properties) < slots:
                properties[key], room = text, room - cost
        elif len(custom) < MAX_CUSTOM_FIELDS and text:
            custom[key], room = text, room - cost
    properties.setdefault("form", "unknown")
    if custom:
        properties["attributes"] = custom
    return {
        "email": fields.get("email"),
        "type": "form_submit",
        "product": properties.get("product", "")[:MAX_NAME_CHARS] or None,
        "properties": properties,
        "profile": profile or None,
        "source": "form",  # typed by the public: untrusted (contract §3)
    }


def _visitor(fields: Mapping[str, str]) -> str | None:
    """The snippet's visitor id (`_visitor`) when it is one; anything else is ignored."""
    return valid_visitor(fields.get("_visitor"))


def _context(name: str) -> bool:
    return name in CONTEXT_FIELDS or name.startswith("utm_")


def _client_ip(router: Router) -> str | None:
    """The address API Gateway saw the request come from."""
    context = router.current_event.raw_event.get("requestContext") or {}
    address = (context.get("identity") or {}).get("sourceIp")
    return address if isinstance(address, str) else None


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

    def allowed(origin: str) -> bool:
        return _allowed(origin, deps)

    def cors(origin: str | None) -> dict[str, str]:
        return cors_headers(origin, allowed)

    @router.route("/v1/forms", method="OPTIONS")
    def preflight() -> Response[str]:
        refusal = "this origin may not post forms here"
        return answer_preflight(header(router, "origin"), allowed, refusal)

    @router.get("/v1/forms/token")
    def form_token() -> Response[str]:
        """A signed form token for the bot checks (form_checks.py), to post as `_token`."""
        headers = cors(header(router, "origin")) | {"Cache-Control": "no-store"}
        secret = deps.secrets.get(TOKEN_SECRET)
        if not secret:
            problem = Problem(404, "form tokens are not set up here (no form-token secret)")
            problem.headers = headers
            raise problem
        token = form_tokens.issue(secret, deps.clock(), secrets.token_bytes(12))
        expires_in = int(form_tokens.LIFETIME.total_seconds())
        return json_response(200, {"token": token, "expires_in": expires_in}, headers)

    @router.post("/v1/forms")
    @takes(FORM)
    def post_form() -> Response[str]:
        origin = header(router, "origin")
        now = deps.clock()
        try:
            fields, html_post = _fields(router)
            FORM.validate(fields)
            if fields.get("_gotcha", "").strip():  # a bot: it is told what a person is told
                event_id = canonical_event(form_event(fields), now)[1].id
            else:
                email, event = canonical_event(form_event(fields), now)
                # After validation: a person told to correct the form has not spent the
                # CAPTCHA answer (single use) on a post that was refused.
                ip = _client_ip(router)
                bot, person = deps.form_checks.verdict(fields, deps.secrets, now, ip)
                if bot:
                    logger.info("form dropped: from a bot", reason=bot)
                else:
                    if person:  # a CAPTCHA showed a person: not held to the hourly allowance
                        event = replace(event, source=CAPTCHA_FORM)
                    # the snippet's visitor id, if any: links the visitor to the lead
                    deps.queue.send([Entry(email, event, _visitor(fields))], now)
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
