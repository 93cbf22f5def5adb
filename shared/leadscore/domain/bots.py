"""Requests no person made: crawlers and tools by their user agent, and a browser's prefetch or
prerender of a page nobody looked at yet. Tracking drops them silently (contract §3)."""

from __future__ import annotations

import re
from collections.abc import Mapping

# Words of the user agents of crawlers, link previews, monitors, headless browsers and HTTP
# libraries (the common core of the crawler-user-agents and isbot lists), matched anywhere.
# "bot" ends a word (Googlebot/2.1, AhrefsBot;, Slackbot 1.0, bot_x), except in the phone
# maker CUBOT's models ("Android 10; CUBOT X30)"), as isbot does.
BOT_AGENT = re.compile(
    r"(?<!cu)bots?(?:\b|_)|crawl|spider|slurp|scrap|archiver|fetcher|checker|monitor|preview"
    r"|headless|phantomjs|puppeteer|playwright|selenium|webdriver|lighthouse|pagespeed"
    r"|pingdom|uptime|gtmetrix|facebookexternalhit|embedly|bingpreview|yandex|baidu"
    r"|curl/|wget|python-|python/|httpx|aiohttp|go-http-client|okhttp|java/|libwww|axios"
    r"|node-fetch|undici|postman|insomnia|httpclient|scrapy|feed|rss|^mozilla/4\.0$",
    re.IGNORECASE,
)
# Headers a browser sets on a speculative load (Sec-Purpose, the standard; Purpose and X-Moz,
# older Chrome and Firefox; X-Purpose, Safari's previews).
SPECULATIVE = re.compile(r"prefetch|prerender|preview", re.IGNORECASE)
PURPOSE_HEADERS = ("sec-purpose", "purpose", "x-purpose", "x-moz")


def bot_reason(headers: Mapping[str, str]) -> str | None:
    """Why the request is not a person's ("user-agent", "prefetch"), or None. Header names are
    compared without case."""
    lowered = {name.lower(): value for name, value in headers.items()}
    agent = (lowered.get("user-agent") or "").strip()
    if not agent or BOT_AGENT.search(agent[:1000]):
        return "user-agent"
    if any(SPECULATIVE.search(lowered.get(name) or "") for name in PURPOSE_HEADERS):
        return "prefetch"
    return None
