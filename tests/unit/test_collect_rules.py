"""The rules behind /v1/collect: site keys and their origins (and the template's check of
them), bots, event times, and what of a page's URL is kept."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from leadscore.api.collect import dated, without_addresses
from leadscore.domain.bots import bot_reason
from leadscore.domain.sites import SiteError, Sites, origin_of
from leadscore_tools.template import load_template

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
# The template's check of TrackingSites (CloudFormation's, a Java regex matching the whole
# value; what it uses here reads the same in Python).
TRACKING_SITES = re.compile(load_template()["Parameters"]["TrackingSites"]["AllowedPattern"])


def test_site_keys_are_read_with_their_origins() -> None:
    sites = Sites.parse(
        " local-site=http://localhost:8000 http://127.0.0.1:8000/ ; www=HTTPS://Www.Example.com;"
    )
    assert sites.origins == {
        "local-site": frozenset({"http://localhost:8000", "http://127.0.0.1:8000"}),
        "www": frozenset({"https://www.example.com"}),
    }
    assert sites.allows("www", "https://WWW.example.com")
    assert not sites.allows("www", "http://localhost:8000")
    assert not sites.allows("nosuch", "https://www.example.com")
    assert not sites.allows("www", None)
    assert sites.any_allows("http://localhost:8000") and not sites.any_allows("https://x.io")
    assert Sites.parse("").origins == {}


@pytest.mark.parametrize(
    "setting",
    ["www", "www=", "w w=https://a.io", "www=https://a.io/path", "www=ftp://a.io",
     "www=https://a.io;www=https://b.io", "www=https://a.io:99999", "x" * 65 + "=https://a.io"],
)  # fmt: skip
def test_a_setting_that_is_not_site_keys_fails_naming_it(setting: str) -> None:
    with pytest.raises(SiteError):
        Sites.parse(setting)


@pytest.mark.parametrize(
    "setting",
    ["", " ", "www=https://www.example.com",
     " local-site=http://localhost:8000 http://127.0.0.1:8000/ ; www=HTTPS://Www.Example.com;",
     "a=https://a.io;;b=http://b.io:8080//\n", "w_1-x=https://a.io\thttps://b.io"],
)  # fmt: skip
def test_the_template_takes_the_site_keys_the_function_reads(setting: str) -> None:
    Sites.parse(setting)
    assert TRACKING_SITES.fullmatch(setting)


@pytest.mark.parametrize(
    "setting",
    ["www", "www=", "w w=https://a.io", "www=https://a.io/path", "www=ftp://a.io",
     "x" * 65 + "=https://a.io", "www=https://a.io,https://b.io", "www:https://a.io",
     "www=https://user@a.io", "www=https://a.io?x", "=https://a.io"],
)  # fmt: skip
def test_the_template_refuses_site_keys_the_function_cannot_read(setting: str) -> None:
    """A deploy with them fails, rather than tracking answering 503."""
    with pytest.raises(SiteError):
        Sites.parse(setting)
    assert not TRACKING_SITES.fullmatch(setting)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://a.io/p?utm_source=mail&email=ann%40acme.example&x=1",
         "https://a.io/p?utm_source=mail&x=1"),
        ("https://a.io/p?email=ann@acme.example", "https://a.io/p"),
        ("https://a.io/p?to=ann%2540acme.example", "https://a.io/p?to=ann%2540acme.example"),
        ("https://a.io/p?ann%40acme.example&b=%2F+c", "https://a.io/p?b=%2F+c"),
        ("https://a.io/p?a=1&&b=&c#x?email=a@b.io", "https://a.io/p?a=1&&b=&c#x?email=a@b.io"),
        ("https://a.io/p?e=a@b.io#top", "https://a.io/p#top"),
        ("https://a.io/@team/p?q=%E2%82%AC", "https://a.io/@team/p?q=%E2%82%AC"),
        ("https://a.io/p", "https://a.io/p"),
        ("", ""),
    ],
)  # fmt: skip
def test_query_parameters_holding_an_email_address_are_dropped(url: str, kept: str) -> None:
    """Campaign links put the address in the query (?email=...): the rest is kept as sent."""
    assert without_addresses(url) == kept


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://www.example.com/pricing?x=1", "https://www.example.com"),
        ("http://localhost:8000/", "http://localhost:8000"),
        ("HTTPS://A.IO:443/x", "https://a.io:443"),
        ("javascript:alert(1)", None),
        ("https://a.io\r\n/x", None),
        ("https://[::1/", None),
        ("//a.io/x", None),
    ],
)
def test_origin_of_a_page(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


@pytest.mark.parametrize(
    "agent",
    ["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     "Mozilla/5.0 (compatible; bingbot/2.0)", "facebookexternalhit/1.1", "curl/8.5.0",
     "python-requests/2.31", "Mozilla/5.0 HeadlessChrome/120.0", "Go-http-client/1.1",
     "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) Chrome-Lighthouse", "",
     "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
     "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
     "Mozilla/5.0 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
     "Slackbot 1.0 (+https://api.slack.com/robots)", "TelegramBot (like TwitterBot)",
     "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0)",
     "DuckDuckBot-Https/1.1; (+https://duckduckgo.com/duckduckbot)",
     "Mozilla/5.0 (compatible; MJ12bot/v1.4.8; http://mj12bot.com/)", "LinkedInBot/1.0"],
)  # fmt: skip
def test_bot_user_agents(agent: str) -> None:
    assert bot_reason({"User-Agent": agent}) == "user-agent"


@pytest.mark.parametrize(
    "headers",
    [{"Sec-Purpose": "prefetch"}, {"sec-purpose": "prefetch;prerender"}, {"Purpose": "prefetch"},
     {"X-Moz": "prefetch"}, {"X-Purpose": "preview"}],
)  # fmt: skip
def test_speculative_loads(headers: dict[str, str]) -> None:
    browser = {"User-Agent": "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Version/17.0 Safari"}
    assert bot_reason(browser | headers) == "prefetch"


@pytest.mark.parametrize(
    "agent",
    ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36",
     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
     "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
     "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0 Mobile Safari/537.36",
     "Mozilla/5.0 (Linux; Android 12; CUBOT_KINGKONG_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/119.0 Mobile Safari/537.36",
     "Mozilla/5.0 (Linux; Android 9; CUBOT P30 Build/PPR1.180610.011) AppleWebKit/537.36 "
     "(KHTML, like Gecko) Chrome/118.0 Mobile Safari/537.36"],
)  # fmt: skip
def test_browsers_are_people(agent: str) -> None:
    assert bot_reason({"user-agent": agent}) is None


@pytest.mark.parametrize(
    ("offset", "kept"),
    [(timedelta(0), True), (timedelta(minutes=4), True), (timedelta(minutes=6), False),
     (-timedelta(hours=23), True), (-timedelta(hours=25), False)],
)  # fmt: skip
def test_an_events_time_is_kept_when_plausible(offset: timedelta, kept: bool) -> None:
    moment = NOW + offset
    assert dated(moment.timestamp() * 1000, NOW) == (moment if kept else NOW)
    assert dated(None, NOW) == NOW
