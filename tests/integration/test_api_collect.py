"""GET /v1/t.js and POST /v1/collect through the API handler: site keys and origins, bots,
limits, and the queue entries a page's events become."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from leadscore.api import collect

from tests.integration.api_client import Api, make_api

SITE = "https://www.vendor.example"
VISITOR = "Vq3xJ0c9bJm1TqKz5sWf2A"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"
FOREIGN = "this origin is not one of the site's"
DEEP: Any = 1
for _ in range(18):
    DEEP = [DEEP]
PAGE = {"content-type": "text/plain;charset=UTF-8", "Origin": SITE, "User-Agent": BROWSER}


@pytest.fixture
def api(aws: None, monkeypatch: pytest.MonkeyPatch) -> Api:
    return make_api(
        monkeypatch,
        LEADSCORE_TRACKING_SITES=f"www={SITE} https://vendor.example;blog=https://blog.example",
    )


def now_ms() -> int:
    return int(time.time() * 1000)


def page_view(n: int = 0, **fields: Any) -> dict[str, Any]:
    return {"id": f"pageview{n:04d}", "type": "page_view", "at": now_ms(),
            "url": f"{SITE}/pricing?x={n}", "referrer": "https://google.com/", "title": "Pricing",
            **fields}  # fmt: skip


def post(api: Api, body: Any, headers: dict[str, str] | None = None) -> Any:
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    return api.call("POST", "/v1/collect", text, headers=PAGE | (headers or {}))


def sent(events: list[dict[str, Any]], **top: Any) -> dict[str, Any]:
    return {"site": "www", "visitor": VISITOR, "events": events, "webdriver": False, **top}


def test_a_page_view_is_queued_as_the_visitors_event(api: Api) -> None:
    answer = post(api, sent([page_view(1, title="T" * 500)]))
    assert answer.status == 204 and answer.body == ""
    assert answer.headers["Access-Control-Allow-Origin"] == SITE
    assert answer.headers["Vary"] == "Origin"
    [event] = api.queued_events()
    assert "email" not in event
    assert event["visitor"] == VISITOR
    assert event["id"] == "web-pageview0001"
    assert event["type"] == "page_view"
    assert event["source"] == "snippet"
    assert event["properties"] == {
        "url": f"{SITE}/pricing?x=1",
        "referrer": "https://google.com/",
        "title": "T" * 300,
    }


def test_json_bodies_and_track_events_are_taken_with_their_time(api: Api) -> None:
    at = now_ms() - 3_600_000
    track = {"id": "track-0001", "type": "video_played", "at": at, "properties": {"video": "demo"}}
    answer = post(api, sent([track]), {"content-type": "application/json"})
    assert answer.status == 204
    [event] = api.queued_events()
    assert event["type"] == "video_played"
    assert event["properties"] == {"video": "demo"}
    assert event["occurred_at"].startswith(time.strftime("%Y-%m-%dT%H", time.gmtime(at / 1000)))


def test_a_retried_beacon_has_the_same_event_ids(api: Api) -> None:
    body = sent([page_view(1), page_view(2)])
    assert post(api, body).status == 204
    assert post(api, body).status == 204
    ids = [event["id"] for event in api.queued_events()]
    assert ids == ["web-pageview0001", "web-pageview0002"] * 2  # the scorer counts each once


@pytest.mark.parametrize(("at_offset", "dated_now"), [(3_600_000, True), (-3 * 86_400_000, True),
                                                      (-60_000, False)])  # fmt: skip
def test_implausible_times_are_the_arrival(api: Api, at_offset: int, dated_now: bool) -> None:
    assert post(api, sent([page_view(1, at=now_ms() + at_offset)])).status == 204
    [event] = api.queued_events()
    occurred = time.mktime(time.strptime(event["occurred_at"][:19], "%Y-%m-%dT%H:%M:%S"))
    age = time.mktime(time.gmtime()) - occurred
    assert (abs(age) < 30) == dated_now


def identify(n: int = 1, email: str = " Ann@Acme.com ", **fields: Any) -> dict[str, Any]:
    return {"id": f"ident-{n:04d}", "type": "identify", "at": now_ms(), "url": f"{SITE}/demo",
            "email": email, **fields}  # fmt: skip


def test_identify_carries_the_email_and_known_traits_but_links_no_visitor(api: Api) -> None:
    """Anyone can type an email address on a page: only a form post or an authenticated
    identify links the visitor to a lead."""
    traits = {"first_name": "Ann", "company_size": "51-200", "country": "Germany",
              "password": "x", "company": {"name": "no objects"}}  # fmt: skip
    assert post(api, sent([identify(traits=traits)])).status == 204
    [event] = api.queued_events()
    assert event["email"] == "ann@acme.com"
    assert "visitor" not in event
    assert event["type"] == "identify"
    assert event["source"] == "snippet"  # untrusted: fills empty fields only
    assert event["profile"] == {"first_name": "Ann", "company_size": 51, "country": "DE"}


@pytest.mark.parametrize(
    "checks",
    [{"LEADSCORE_FORM_TOKEN_MIN_SECONDS": "3"}, {"LEADSCORE_FORM_CAPTCHA_PROVIDER": "turnstile"}],
)
def test_identify_is_dropped_as_a_bots_when_forms_need_a_token_or_captcha(
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    checks: dict[str, str],
) -> None:
    """An identify cannot carry the form token or CAPTCHA answer that forms need: it is
    answered as a person is, and not queued; the page's other events are."""
    api = make_api(monkeypatch, LEADSCORE_TRACKING_SITES=f"www={SITE}", **checks)
    caplog.set_level(logging.INFO, logger=collect.logger.name)
    assert post(api, sent([identify(1, "secret.person@acme.com")])).status == 204
    assert api.queued_events() == []
    assert post(api, sent([identify(2), page_view(3)])).status == 204
    assert [event["type"] for event in api.queued_events()] == ["page_view"]
    logged = " ".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "identify without the" in logged
    assert "secret.person" not in logged and VISITOR not in logged


@pytest.mark.parametrize("origin", [None, "null"])
def test_a_page_sending_no_origin_is_taken_when_its_events_are_the_sites_pages(
    api: Api, origin: str | None
) -> None:
    """A page with `Referrer-Policy: no-referrer` beacons with `Origin: null`."""
    headers = {name: value for name, value in PAGE.items() if name != "Origin"}
    if origin is not None:
        headers["Origin"] = origin

    def answer(events: list[dict[str, Any]]) -> Any:
        return api.call("POST", "/v1/collect", json.dumps(sent(events)), headers=headers)

    assert answer([page_view(1)]).status == 204
    assert [event["id"] for event in api.queued_events()] == ["web-pageview0001"]
    foreign = answer([page_view(2), page_view(3, url="https://evil.example/")])
    assert foreign.status == 422
    assert [e["field"] for e in foreign.json()["errors"]] == ["events[1].url"]
    unplaced = answer([page_view(4), {"id": "track-0005", "type": "video_played"}])
    assert unplaced.status == 403
    assert unplaced.json()["detail"] == FOREIGN
    assert api.queued_events() == []


def test_query_parameters_holding_an_email_address_are_not_kept(api: Api) -> None:
    url = f"{SITE}/pricing?utm_source=mail&email=ann%40acme.example&x=%2F"
    referrer = "https://mail.example/open?to=ann@acme.example"
    assert post(api, sent([page_view(1, url=url, referrer=referrer)])).status == 204
    [event] = api.queued_events()
    assert event["properties"]["url"] == f"{SITE}/pricing?utm_source=mail&x=%2F"
    assert event["properties"]["referrer"] == "https://mail.example/open"
    assert "acme.example" not in json.dumps(event)


@pytest.mark.parametrize(
    "headers",
    [
        {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
        {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/131.0 Safari/537.36"},
        {"User-Agent": "python-requests/2.32"},
        {"User-Agent": ""},
        {"Sec-Purpose": "prefetch;prerender"},
        {"Purpose": "prefetch"},
        {"X-Moz": "prefetch"},
    ],
)
def test_bots_are_answered_as_people_and_nothing_is_queued(
    api: Api, headers: dict[str, str]
) -> None:
    answer = post(api, sent([page_view(1)]), headers)
    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == SITE
    assert api.queued_events() == []


def test_a_webdriver_page_is_dropped_even_with_invalid_events(api: Api) -> None:
    assert post(api, sent([{"id": "x"}], webdriver=True)).status == 204
    assert api.queued_events() == []


@pytest.mark.parametrize(
    ("body", "headers", "detail"),
    [
        (sent([page_view()], site="nosuch"), {}, "unknown site key"),
        ({"visitor": VISITOR, "events": []}, {}, "unknown site key"),
        (sent([page_view()]), {"Origin": "https://evil.example"}, FOREIGN),
        (sent([page_view()], site="blog"), {}, FOREIGN),
        (sent([page_view()]), {"Origin": ""}, FOREIGN),
    ],
)  # fmt: skip
def test_unknown_sites_and_foreign_origins_are_forbidden(
    api: Api, body: dict[str, Any], headers: dict[str, str], detail: str
) -> None:
    answer = post(api, body, headers)
    assert answer.status == 403
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["detail"] == detail
    assert api.queued_events() == []


@pytest.mark.parametrize(
    "setting", ["www=ftp://www.vendor.example", "www=https://a.io;www=https://b.io"]
)
def test_site_keys_that_cannot_be_read_stop_tracking_only(
    aws: None, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    """Forms, webhooks and the keyed API keep working; tracking says it is misconfigured."""
    api = make_api(
        monkeypatch,
        LEADSCORE_TRACKING_SITES=setting,
        LEADSCORE_CORS_ORIGINS=SITE,
        LEADSCORE_API_KEY="k",
    )
    for method in ("POST", "OPTIONS"):
        answer = api.call(method, "/v1/collect", json.dumps(sent([page_view(1)])), headers=PAGE)
        assert answer.status == 503
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert answer.json()["detail"] == "tracking is misconfigured"
    form = {"content-type": "application/x-www-form-urlencoded", "Origin": SITE}
    assert api.call("POST", "/v1/forms", "email=ann%40acme.com", headers=form).status == 202
    event = {"email": "bob@acme.com", "type": "page_view"}
    assert api.call("POST", "/v1/events", event, headers={"x-api-key": "k"}).status == 202
    assert api.call("GET", "/v1/health").status == 200
    assert api.call("POST", "/v1/webhooks/postmark", "{}").status == 401  # checked, refused
    assert [event["email"] for event in api.queued_events()] == ["ann@acme.com", "bob@acme.com"]


def test_a_foreign_origin_gets_no_cors_headers(api: Api) -> None:
    answer = post(api, sent([page_view()]), {"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in answer.headers


@pytest.mark.parametrize(
    ("events", "field"),
    [
        ([page_view(1, url="https://evil.example/x")], "events[0].url"),
        ([page_view(1), page_view(2, url=None)], "events[1].url"),
        ([page_view(1, url="javascript:alert(1)")], "events[0].url"),
        ([page_view(1, id="short")], "events[0].id"),
        ([page_view(1, type="Page View")], "events[0].type"),
        ([page_view(1, type="email_open")], "events[0].type"),
        ([page_view(1, at="yesterday")], "events[0].at"),
        ([page_view(1, url=f"{SITE}/" + "x" * 5000)], "events[0].url"),
        ([{**page_view(1), "type": "identify", "email": "not an email"}], "events[0].email"),
        ([page_view(1, properties={"p": DEEP})], "events[0].properties.p"),
        ([page_view(n) for n in range(21)], "events"),
        ([], "events"),
    ],
)  # fmt: skip
def test_invalid_events_are_named_and_nothing_is_queued(
    api: Api, events: list[dict[str, Any]], field: str
) -> None:
    answer = post(api, sent(events))
    assert answer.status == 422, answer.body
    assert answer.headers["Access-Control-Allow-Origin"] == SITE  # the page's console shows why
    assert any(error["field"].startswith(field) for error in answer.json()["errors"])
    assert api.queued_events() == []


@pytest.mark.parametrize(
    "visitor", ["short", "has spaces in it 123", "é" * 20, 12345678901234567, None]
)
def test_a_bad_visitor_id_is_refused(api: Api, visitor: Any) -> None:
    answer = post(api, sent([page_view()], visitor=visitor))
    assert answer.status == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["visitor"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("{not json", 400),
        (json.dumps(sent([page_view(1, at=0)])).replace('"at": 0', '"at": NaN'), 400),
        (json.dumps(sent([page_view(1, at=0)])).replace('"at": 0', '"at": 1e999'), 400),
        ("[1, 2]", 403),
        (json.dumps(sent([page_view()])) + " " * 17_000, 413),
    ],
)  # fmt: skip
def test_hostile_bodies_are_refused_without_a_fault(api: Api, body: str, status: int) -> None:
    answer = post(api, body)
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert api.queued_events() == []


def test_other_media_types_are_refused(api: Api) -> None:
    answer = post(api, sent([page_view()]), {"content-type": "application/x-www-form-urlencoded"})
    assert answer.status == 415


def test_preflight_is_answered_for_a_tracked_sites_origin_only(api: Api) -> None:
    answer = api.call("OPTIONS", "/v1/collect", headers={"Origin": "https://blog.example"})
    assert answer.status == 204
    assert answer.headers["Access-Control-Allow-Origin"] == "https://blog.example"
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    refused = api.call("OPTIONS", "/v1/collect", headers={"Origin": "https://evil.example"})
    assert refused.status == 403
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_nothing_personal_is_logged(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    identify = {**page_view(1), "type": "identify", "email": "secret.person@acme.com"}
    post(api, sent([identify, page_view(2)]))
    post(api, sent([page_view(3)]), {"User-Agent": "curl/8.0"})
    logged = capsys.readouterr()
    for private in ("secret.person", VISITOR, "/pricing"):
        assert private not in logged.out + logged.err


def test_the_snippet_is_served_with_its_cache_headers(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = tmp_path / "t.js"
    built.write_text("(()=>{window.leadscore=1})();\n", encoding="utf-8")
    monkeypatch.setattr(collect, "SNIPPET", collect.SnippetFile(built))
    answer = api.call("GET", "/v1/t.js")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/javascript; charset=utf-8"
    assert answer.headers["Cache-Control"] == "public, max-age=300"
    assert answer.body == built.read_text()
    built.unlink()  # read once per container: still served
    again = api.call("GET", "/v1/t.js", headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status == 304 and again.body == ""
    assert api.call("GET", "/v1/t.js").status == 200


def test_an_unbuilt_snippet_is_a_503_saying_how_to_build_it(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collect, "SNIPPET", collect.SnippetFile(tmp_path / "missing.js"))
    answer = api.call("GET", "/v1/t.js")
    assert answer.status == 503
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert "make tracker" in answer.json()["detail"]


def test_a_form_post_with_a_visitor_links_it_and_an_invalid_one_is_ignored(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(monkeypatch, LEADSCORE_CORS_ORIGINS=SITE)
    form = {"content-type": "application/x-www-form-urlencoded", "Origin": SITE}
    body = f"email=ann%40acme.com&form=demo&_visitor={VISITOR}"
    assert api.call("POST", "/v1/forms", body, headers=form).status == 202
    assert (
        api.call("POST", "/v1/forms", "email=bob%40acme.com&_visitor=no", headers=form).status
        == 202
    )
    ann, bob = api.queued_events()
    assert ann["visitor"] == VISITOR
    assert "_visitor" not in json.dumps(ann["properties"])
    assert "visitor" not in bob
    assert "attributes" not in bob["properties"]
