"""The public function answers an HTTP API's payload-1.0 events (PublicHttpApi) as it answers
the REST API's: forms, the preflights, a signed webhook, the tracking beacon, the snippet.

The events are built as API Gateway sends them for an HTTP API with payload format 1.0 and
the `$default` stage (AWS's "Working with AWS Lambda proxy integrations for HTTP APIs"):
`version` "1.0", the route's path as `resource`, header names as the client sent them (all
lower case from HTTP/2 clients, which is what these events use), a `requestContext` without
stage prefix in `path` and with an `authorizer` of nulls, and a base64 body for what API
Gateway deems binary.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import pytest
from leadscore.adapters.webhooks import env_name
from leadscore.api.collect import SNIPPET_PATH

from tests.conftest import ROOT, LambdaContext
from tests.integration.api_client import Api, make_api, proxy_event

SITE = "https://www.vendor.example"
API_ID = "a1b2c3d4e5"
HOST = f"{API_ID}.execute-api.eu-west-1.amazonaws.com"
CLIENT = "198.51.100.7"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
MANDRILL_KEY = "mandrill-webhook-key"
FIXTURES = ROOT / "tests" / "fixtures" / "webhooks"


def http_api_event(
    method: str,
    route: str,
    path: str,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API payload-1.0 event for `route` (its path template), as API Gateway sends it."""
    sent = {"host": HOST, "user-agent": BROWSER, **(headers or {})}
    segments = zip(route.split("/"), path.split("/"), strict=True)
    parameters = {n.strip("{}"): v for n, v in segments if n.startswith("{")}
    return {
        "version": "1.0",
        "resource": route,
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {name: [value] for name, value in sent.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "authorizer": {"claims": None, "scopes": None},
            "domainName": HOST,
            "domainPrefix": API_ID,
            "extendedRequestId": "Kq3xJfAbIAMEbXw=",
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": CLIENT,
                "user": None,
                "userAgent": sent["user-agent"],
                "userArn": None,
            },
            "path": path,  # `$default` stage: no stage segment
            "protocol": "HTTP/1.1",
            "requestId": "Kq3xJfAbIAMEbXw=",
            "requestTime": "02/Mar/2026:09:30:00 +0000",
            "requestTimeEpoch": int(NOW.timestamp() * 1000),
            "resourceId": None,
            "resourcePath": route,
            "stage": "$default",
        },
        "pathParameters": parameters or None,
        "stageVariables": None,
        "body": base64.b64encode(body).decode() if isinstance(body, bytes) else body,
        "isBase64Encoded": isinstance(body, bytes),
    }


def rest_event(
    method: str, path: str, body: str | bytes | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The same request through the REST API, its headers spelt as over HTTP/1.1."""
    spelt = {"-".join(p.capitalize() for p in k.split("-")): v for k, v in (headers or {}).items()}
    event = proxy_event(method, path, body, {"User-Agent": BROWSER, **spelt})
    event["requestContext"]["identity"]["sourceIp"] = CLIENT
    return event


class Recorded:
    """The form checks, recording the address each verdict was asked about."""

    def __init__(self) -> None:
        self.addresses: list[str | None] = []

    def verdict(self, fields: Any, secrets: Any, now: datetime, remote_ip: str | None) -> Any:
        self.addresses.append(remote_ip)
        return None, False


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> Api:
    api = make_api(
        monkeypatch,
        LEADSCORE_CORS_ORIGINS=SITE,
        LEADSCORE_TRACKING_SITES=f"www={SITE}",
        **{env_name("mandrill"): MANDRILL_KEY},
    )
    monkeypatch.setattr(api.module.deps, "clock", lambda: NOW)
    return api


def answer(api: Api, event: dict[str, Any]) -> dict[str, Any]:
    """The public function's answer (the HTTP API integrates that function only)."""
    reply: dict[str, Any] = api.module.public.lambda_handler(event, LambdaContext())
    return reply


def same_answer(api: Api, rest: dict[str, Any], http: dict[str, Any]) -> dict[str, Any]:
    """Both answers, asserted equal; the HTTP API's."""
    through_rest, through_http = answer(api, rest), answer(api, http)
    assert through_http == through_rest
    return through_http


def test_a_form_post_is_taken_with_the_client_address_and_cors(api: Api) -> None:
    fields = {"email": "grace@corp.io", "first_name": "Grace", "form": "demo-request"}
    form = urllib.parse.urlencode(fields).encode()
    headers = {"content-type": "application/x-www-form-urlencoded", "origin": SITE}
    checks = Recorded()
    api.module.public.deps.form_checks = checks

    # HTTP APIs pass a urlencoded form base64-encoded: the function decodes it.
    reply = answer(api, http_api_event("POST", "/v1/forms", "/v1/forms", form, headers))
    assert reply["statusCode"] == 202, reply["body"]
    assert json.loads(reply["body"])["status"] == "accepted"
    assert reply["multiValueHeaders"]["Access-Control-Allow-Origin"] == [SITE]
    assert checks.addresses == [CLIENT]  # requestContext.identity.sourceIp, as on REST
    [through_http] = api.queued_events()

    rest = answer(api, rest_event("POST", "/v1/forms", form.decode(), headers))
    assert rest["statusCode"] == 202
    [through_rest] = api.queued_events()
    assert checks.addresses == [CLIENT, CLIENT]
    assert through_http == through_rest  # its id too: the same form at the same instant
    assert through_http["email"] == "grace@corp.io" and through_http["type"] == "form_submit"


@pytest.mark.parametrize("path", ["/v1/forms", "/v1/collect"])
def test_a_preflight_answers_the_same(api: Api, path: str) -> None:
    headers = {"origin": SITE, "access-control-request-method": "POST"}
    reply = same_answer(
        api,
        rest_event("OPTIONS", path, headers=headers),
        http_api_event("OPTIONS", path, path, headers=headers),
    )
    assert reply["statusCode"] == 204
    assert reply["multiValueHeaders"]["Access-Control-Allow-Origin"] == [SITE]
    elsewhere = {**headers, "origin": "https://evil.example"}
    refused = answer(api, http_api_event("OPTIONS", path, path, headers=elsewhere))
    assert refused["statusCode"] == 403


def mandrill(url: str) -> tuple[bytes, dict[str, str]]:
    """Mandrill's fixture post, signed for `url` as Mandrill signs it (the URL is signed too)."""
    body = (FIXTURES / "mandrill.form").read_bytes()
    events = dict(urllib.parse.parse_qsl(body.decode()))["mandrill_events"]
    digest = hmac.new(MANDRILL_KEY.encode(), (url + "mandrill_events" + events).encode(), "sha1")
    return body, {
        "content-type": "application/x-www-form-urlencoded",
        "x-mandrill-signature": base64.b64encode(digest.digest()).decode(),
    }


def test_a_signed_webhook_verifies_against_the_http_apis_own_url(api: Api) -> None:
    route, path = "/v1/webhooks/{provider}", "/v1/webhooks/mandrill"
    # The HTTP API's URL has no stage segment: that is the URL Mandrill signs.
    body, headers = mandrill(f"https://{HOST}{path}")
    reply = answer(api, http_api_event("POST", route, path, body, headers))
    assert reply["statusCode"] == 200, reply["body"]
    assert len(api.queued_events()) == 2

    # The REST URL's signature (with /prod) is another URL's: refused here, nothing queued.
    body, headers = mandrill(f"https://{HOST}/prod{path}")
    reply = answer(api, http_api_event("POST", route, path, body, headers))
    assert reply["statusCode"] == 401
    assert api.queued() == []


def test_a_basic_auth_webhook_reads_the_lower_case_authorization(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    basic = "crm-hooks:correct horse battery"
    api = make_api(monkeypatch, **{env_name("basic:postmark"): basic})
    body = (FIXTURES / "postmark.json").read_text()
    headers = {
        "content-type": "application/json",
        "authorization": "Basic " + base64.b64encode(basic.encode()).decode(),
    }
    route, path = "/v1/webhooks/{provider}", "/v1/webhooks/postmark"
    reply = answer(api, http_api_event("POST", route, path, body, headers))
    assert reply["statusCode"] == 200, reply["body"]
    [event] = api.queued_events()
    assert event["type"].startswith("email_")


def beacon() -> str:
    page_view = {
        "id": "pageview0001",
        "type": "page_view",
        "at": int(time.time() * 1000),
        "url": f"{SITE}/pricing",
        "referrer": "https://google.com/",
        "title": "Pricing",
    }
    document = {"site": "www", "visitor": "Vq3xJ0c9bJm1TqKz5sWf2A", "events": [page_view]}
    return json.dumps(document | {"webdriver": False})


def test_the_collect_beacon_answers_the_same(api: Api) -> None:
    headers = {"content-type": "text/plain;charset=UTF-8", "origin": SITE}
    sent = beacon()
    reply = same_answer(
        api,
        rest_event("POST", "/v1/collect", sent, headers),
        http_api_event("POST", "/v1/collect", "/v1/collect", sent, headers),
    )
    assert reply["statusCode"] == 204
    through_rest, through_http = api.queued_events()
    assert through_http == through_rest  # the page view's own id: the same event both times
    assert through_http["type"] == "page_view" and through_http["source"] == "snippet"

    # A bot's user agent, in the lower-case header, is still recognised and dropped.
    robot = http_api_event("POST", "/v1/collect", "/v1/collect", sent, headers)
    robot["headers"]["user-agent"] = "Googlebot/2.1 (+http://www.google.com/bot.html)"
    assert answer(api, robot)["statusCode"] == 204
    assert api.queued() == []


def test_the_snippet_is_served_the_same_and_revalidated_with_a_lower_case_header(
    api: Api,
) -> None:
    reply = same_answer(
        api, rest_event("GET", "/v1/t.js"), http_api_event("GET", "/v1/t.js", "/v1/t.js")
    )
    if not SNIPPET_PATH.exists():  # not built (make tracker): 503 through both
        assert reply["statusCode"] == 503
        return
    assert reply["statusCode"] == 200
    [etag] = reply["multiValueHeaders"]["ETag"]
    again = http_api_event("GET", "/v1/t.js", "/v1/t.js", headers={"if-none-match": etag})
    assert answer(api, again)["statusCode"] == 304


def test_a_webhook_probe_and_health_answer_the_same(api: Api) -> None:
    route, path = "/v1/webhooks/{provider}", "/v1/webhooks/mandrill"
    for method in ("GET", "HEAD"):
        same_answer(api, rest_event(method, path), http_api_event(method, route, path))
    reply = same_answer(
        api, rest_event("GET", "/v1/health"), http_api_event("GET", "/v1/health", "/v1/health")
    )
    assert reply["statusCode"] == 200
