"""Website tracking in a real browser: the snippet on the demo website, the local stack's
collect endpoint and scorer, as a visitor who later fills in the demo form lives them.

One stack and one Chromium for the module; Do Not Track and automation (a bot) need a
Chromium of their own, started with that setting.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from leadscore_tools.local.process import LocalStackProcess

from tests.browser.conftest import (
    BOT_AGENT,
    Browser,
    drain,
    history,
    launch,
    lead,
    received_collects,
    wait_for,
)

# A stack and a few Chromium starts, about half a minute; `make unit` runs a module's tests on
# one xdist worker (--dist loadscope), so the module's stack and browser start once.
pytestmark = pytest.mark.slow

DWELL = 1.1  # seconds on each page: the page views' times (whole seconds) stay in order
MODEL = yaml.safe_load((Path(__file__).parents[2] / "models" / "default.yaml").read_text())
RULE_POINTS = {r["name"]: r["points"] for r in MODEL["engagement"]["rules"]}
# The history counts score points: a rule's engagement points times engagement's weight.
ENGAGEMENT_WEIGHT = MODEL["weights"]["engagement"] / 100


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def rule(change: dict[str, Any]) -> str:
    return str(change.get("rule") or "").removeprefix("engagement.")


def page_views(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in changes if c.get("event_type") == "page_view"]


def fill_demo_form(browser: Browser, site: str, email: str, first_name: str) -> None:
    browser.open(f"{site}/demo", DWELL)
    browser.submit(
        "demo-form",
        {
            "email": email,
            "first_name": first_name,
            "last_name": "Lindqvist",
            "company": "Northwind Traders",
            "job_title": "VP Operations",
        },
    )
    assert browser.path() == "/thanks", "the form's redirect leads to the thank-you page"


def credited(stack: LocalStackProcess, email: str, wanted: set[str]) -> list[dict[str, Any]]:
    """The lead's changes once the page views of `wanted` rules are there (or after 20 s)."""

    def changes() -> list[dict[str, Any]] | None:
        drain(stack)
        found = history(stack, email)
        return found if wanted <= {rule(c) for c in page_views(found)} else None

    return wait_for(changes) or history(stack, email)


def test_page_views_before_the_demo_form_are_credited_with_their_times(
    stack: LocalStackProcess, site: str, visitor: Browser
) -> None:
    email = "astrid@northwind.example"
    visits: list[tuple[str, float, float]] = []
    for path in ("/blog/why-lead-scoring", "/pricing", "/pricing", "/careers"):
        started = time.time()
        visitor.open(site + path, DWELL)
        visits.append((path, started, time.time()))
    assert visitor.cookie("ls_vid"), "the visitor id is kept in a first-party cookie"
    form_sent = time.time()
    fill_demo_form(visitor, site, email, "Astrid")

    changes = credited(stack, email, {"blog_page", "pricing_page", "careers_page"})
    views = page_views(changes)
    by_rule = [rule(v) for v in views]
    assert by_rule[:4] == ["blog_page", "pricing_page", "pricing_page", "careers_page"], changes
    points = [RULE_POINTS[r] * ENGAGEMENT_WEIGHT for r in by_rule[:4]]
    assert [v["points"] for v in views[:4]] == pytest.approx(points), views
    # Credited at the times they were read, before the form, in the order they were read.
    for (path, started, ended), view in zip(visits, views, strict=False):
        assert started - 1 <= _seconds(view["at"]) <= ended + 1, (path, view)
    [form] = [c for c in changes if rule(c) == "demo_form"]
    assert _seconds(form["at"]) >= form_sent - 1
    assert all(_seconds(v["at"]) < _seconds(form["at"]) for v in views[:4])

    default = next(s for s in lead(stack, email)["scores"] if s["model"] == "default")
    reasons = {r["rule"].removeprefix("engagement."): r for r in default["reasons"]}
    assert reasons["pricing_page"]["count"] == 2, reasons
    assert reasons["pricing_page"]["points"] == pytest.approx(2 * points[1])
    assert reasons["careers_page"]["points"] == pytest.approx(points[3])
    assert "blog_page" in reasons
    total = sum(c["points"] for c in changes)
    assert total == pytest.approx(default["score"], abs=0.011), "the history explains the score"

    sent = visitor.collects()
    assert sent and all(s.method == "POST" for s in sent)
    assert any(f"{site}/pricing" in s.body for s in sent), "the browser posted the page views"


def test_a_single_page_app_sends_a_page_view_for_each_route(
    stack: LocalStackProcess, site: str, visitor: Browser
) -> None:
    from selenium.webdriver.common.by import By

    email = "bertil@northwind.example"
    visitor.open(f"{site}/product", DWELL)
    for name in ("Features", "Integrations"):
        visitor.driver.find_element(By.LINK_TEXT, name).click()
        time.sleep(DWELL)
    assert visitor.path() == "/product/integrations"
    assert visitor.driver.title == "Integrations: Acmeflow", "the router changed the view"
    fill_demo_form(visitor, site, email, "Bertil")

    bodies = "".join(s.body for s in visitor.collects())
    for route in ("/product", "/product/features", "/product/integrations"):
        assert f'{site}{route}"' in bodies, f"no page view of {route} was posted"
    changes = credited(stack, email, {"product_page", "demo_or_quote_page"})
    assert [rule(v) for v in page_views(changes)].count("product_page") == 3, changes


def assert_nothing_sent(
    stack: LocalStackProcess, browser: Browser, email: str, received_before: int
) -> None:
    """The form, scored, credits no page view; no collect request left the browser or
    reached the stack."""
    browser.open("about:blank")  # a page's hide is when the snippet would send the rest
    drain(stack)
    changes = history(stack, email)
    assert [rule(c) for c in changes if c.get("event_type") == "form_submit"], changes
    assert page_views(changes) == [], changes
    assert browser.collects() == []
    assert received_collects(stack) == received_before


def snippet_ran(browser: Browser) -> bool:
    """The snippet's command function is there (only the consent banner's page defines one
    of its own)."""
    script = "return typeof window.leadscore === 'function'"
    return bool(wait_for(lambda: browser.driver.execute_script(script), timeout=5))


def browse_then_fill_the_form(browser: Browser, site: str, email: str) -> None:
    for path in ("/blog/why-lead-scoring", "/pricing", "/careers"):
        browser.open(site + path, 0.3)
    assert snippet_ran(browser), "the snippet was loaded and ran"
    fill_demo_form(browser, site, email, "Dagny")


def quiet(stack: LocalStackProcess) -> int:
    """The stack's count of collect requests once nothing more arrives."""
    counts = [received_collects(stack)]
    # Steady for longer than the snippet waits to batch (1 s), or 15 s at most.
    while (len(counts) < 5 or len(set(counts[-5:])) > 1) and len(counts) < 50:
        time.sleep(0.3)
        counts.append(received_collects(stack))
    return counts[-1]


def test_do_not_track_sends_nothing(stack: LocalStackProcess, site: str) -> None:
    before = quiet(stack)
    browser = launch(do_not_track=True)
    try:
        assert browser.driver.execute_script("return navigator.doNotTrack") == "1"
        browse_then_fill_the_form(browser, site, "dnt@northwind.example")
        assert browser.cookie("ls_vid") is None
        assert_nothing_sent(stack, browser, "dnt@northwind.example", before)
    finally:
        browser.close()


def test_global_privacy_control_sends_nothing(
    stack: LocalStackProcess, site: str, visitor: Browser
) -> None:
    before = quiet(stack)
    # Chromium has no GPC setting: the signal is set before any script of each page runs.
    script = visitor.driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', "
            "{get: () => true, configurable: true});"
        },
    )
    try:
        browse_then_fill_the_form(visitor, site, "gpc@northwind.example")
        assert visitor.driver.execute_script("return navigator.globalPrivacyControl") is True
        assert visitor.cookie("ls_vid") is None
    finally:
        visitor.driver.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]}
        )
    assert_nothing_sent(stack, visitor, "gpc@northwind.example", before)


def test_a_page_that_asks_for_consent_sends_nothing_until_it_is_granted(
    stack: LocalStackProcess, site: str, visitor: Browser
) -> None:
    from selenium.webdriver.common.by import By

    email = "consent@northwind.example"
    before = quiet(stack)
    visitor.open(f"{site}/resources", DWELL)
    visitor.open(f"{site}/resources", DWELL)
    assert visitor.cookie("ls_vid") is None
    visitor.submit("report-form", {"email": email})
    assert visitor.path() == "/resources", "the form leads back to the page that asks"
    assert_nothing_sent(stack, visitor, email, before)

    # Granted, the same page is tracked: the visitor gets its cookie and the view is sent.
    visitor.open(f"{site}/resources")
    visitor.driver.find_element(By.ID, "consent-grant").click()
    assert wait_for(lambda: visitor.cookie("ls_vid"), timeout=10)
    visitor.open("about:blank")  # the page's hide sends what is still queued
    assert any(f"{site}/resources" in s.body for s in visitor.collects())
    assert wait_for(lambda: received_collects(stack) > before, timeout=10)


def test_a_bot_sends_nothing(stack: LocalStackProcess, site: str) -> None:
    before = quiet(stack)
    browser = launch(person=False, agent=BOT_AGENT)
    try:
        assert browser.driver.execute_script("return navigator.webdriver") is True
        browse_then_fill_the_form(browser, site, "bot@northwind.example")
        assert_nothing_sent(stack, browser, "bot@northwind.example", before)
    finally:
        browser.close()
