"""The console end to end in Chromium, against the local stack with the default model and
seeded leads: a salesperson's queue, lead and feedback; what sales may not do (the page and
the API both refuse); marketing breaking, fixing, previewing, publishing and rescoring a
model. The tests write the README's screenshots to docs/console/.

One stack and one Chromium for the module; each test signs in afresh as its user.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from leadscore_tools.local.process import LocalStackProcess

from tests.browser.conftest import launch
from tests.browser.console_helpers import (
    DESKTOP,
    LEADS,
    MARKETING,
    OVERDUE,
    PHONE,
    SALES,
    Console,
    api,
    console_stack,
    diagnosed_lines,
    editor_text,
    id_token,
    lead,
    seed,
    select_in_editor,
    type_keys,
)

pytestmark = pytest.mark.slow

RESCORE_WAIT = 90.0  # seconds: publish, the model cache, then every lead rescored
REFUSAL = re.compile(
    r"not allowed|only marketing|marketing only|no access|permission|forbidden", re.I
)
MODEL = yaml.safe_load((Path(__file__).parents[2] / "models" / "default.yaml").read_text())
RULES = [rule["name"] for rule in MODEL["engagement"]["rules"]]
BROKEN, CHANGED = "pricing_page", "product_page"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStackProcess]:
    process = console_stack()
    try:
        seed(process)
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def chromium(stack: LocalStackProcess) -> Iterator[Console]:
    browser = launch()
    try:
        yield Console(browser, stack)
    finally:
        browser.close()


@pytest.fixture
def page(chromium: Console) -> Console:
    chromium.size(*DESKTOP)
    return chromium


def mql_queue(stack: LocalStackProcess) -> list[dict[str, Any]]:
    """The default model's MQLs by follow-up deadline, as the API lists them."""
    status, answer = api(stack, "GET", "/v1/leads?model=default&status=mql&sort=sla_due_at")
    assert status == 200, answer
    return list(answer["leads"])


def shown_name(row: dict[str, Any]) -> str:
    return str(row["name"] or row["email"])


def test_every_seeded_lead_is_scored(stack: LocalStackProcess) -> None:
    """The seed the other tests stand on: every lead known, three MQLs, one not."""
    statuses = {
        email: [s["status"] for s in lead(stack, email)["scores"] if s["model"] == "default"]
        for email in LEADS
    }
    assert sorted(statuses.values()).count(["mql"]) == 3, statuses


def test_sales_reads_the_queue_and_a_lead_and_gives_feedback(
    stack: LocalStackProcess, page: Console
) -> None:
    page.go("signin")
    page.wait("page-signin")
    page.screenshot("signin")
    page.sign_in(SALES)

    queue = mql_queue(stack)
    assert len(queue) >= 3 and queue[0]["email"] == OVERDUE, queue
    rows = page.until(
        lambda: (found := page.all("queue-row")) and len(found) >= len(queue) and found
    )
    texts = [row.text for row in rows]
    for row, text in zip(queue, texts, strict=False):
        assert shown_name(row) in text, (row, texts)
    assert "overdue" in texts[0].lower(), f"the overdue MQL is not marked in words: {texts[0]!r}"
    assert all("overdue" not in text.lower() for text in texts[1:]), texts
    page.screenshot("queue")
    page.size(*PHONE)
    page.wait("queue-row")
    page.screenshot("queue-phone")
    page.size(*DESKTOP)

    page.wait("queue-row").click()
    page.wait("page-lead")
    assert page.driver.execute_script("return location.hash") == f"#/leads/{quote(OVERDUE)}"
    [scores] = [s for s in lead(stack, OVERDUE)["scores"] if s["model"] == "default"]
    reasons = page.until(lambda: page.all("reason"))
    shown = " ".join(r.text for r in reasons)
    for reason in scores["reasons"]:
        assert reason["text"] and reason["text"] != reason["rule"], reason
        assert reason["text"] in shown, (reason, shown)
    page.until(lambda: chart_drawn(page), message="the score chart drew no score change")
    page.screenshot("lead", showing="score-chart")

    page.wait("feedback-accepted").click()
    page.until(lambda: lead(stack, OVERDUE)["feedback"] == "accepted", message="no feedback")

    domain = OVERDUE.split("@")[1]
    page.go(f"accounts/{domain}")
    page.wait("page-account")
    page.until(lambda: "Ada" in page.text() or "ada@" in page.text())
    page.screenshot("account")
    page.go("alerts")
    page.wait("page-alerts")
    page.until(lambda: "Ada" in page.text() or OVERDUE in page.text())
    page.screenshot("alerts")


def chart_drawn(page: Console) -> bool:
    """The score chart names its points (`N changes`) and paints them: a canvas with painted
    pixels, or an SVG with a drawn path."""
    chart = page.wait("score-chart")
    label = chart.find_element("css selector", "[role=img]").get_attribute("aria-label") or ""
    changes = re.search(r"(\d+) changes", label)
    if not (changes and int(changes[1]) > 0):
        return False
    return bool(
        page.driver.execute_script(
            """
            const chart = arguments[0];
            const canvases = chart.tagName === 'CANVAS'
                ? [chart] : [...chart.querySelectorAll('canvas')];
            for (const canvas of canvases) {
                if (!canvas.width || !canvas.height) continue;
                const pixels = canvas.getContext('2d')
                    .getImageData(0, 0, canvas.width, canvas.height).data;
                let painted = 0;
                for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
                if (painted > 500) return true;
            }
            const svg = chart.tagName === 'svg' ? chart : chart.querySelector('svg');
            return !!svg && [...svg.querySelectorAll('path, polyline')].some((line) =>
                (line.getAttribute('d') || line.getAttribute('points') || '').length > 20);
            """,
            chart,
        )
    )


def test_sales_cannot_reach_the_models_nor_erase(stack: LocalStackProcess, page: Console) -> None:
    page.sign_in(SALES)
    links = page.driver.execute_script(
        "return [...document.querySelectorAll('nav a')]"
        ".map(a => [a.getAttribute('href'), a.textContent])"
    )
    assert links, "no navigation"
    assert not [link for link in links if "models" in (link[0] or "") or "Models" in link[1]], links

    page.go("models")
    page.wait("page-forbidden")
    assert REFUSAL.search(page.text()), page.text()
    assert not page.all("page-models") and not page.all("model-editor")
    page.go("models/default")
    page.wait("page-forbidden")
    assert not page.all("model-editor")

    other = "grace@contoso.example"
    page.go(f"leads/{quote(other)}")
    page.wait("page-lead")
    page.wait("reason")
    assert not page.all("erase")

    token = id_token(stack, SALES)
    status, answer = api(stack, "DELETE", f"/v1/leads/{quote(other)}", token=token)
    assert status == 403, answer
    status, answer = api(stack, "PUT", "/v1/models/default", MODEL, token=token)
    assert status == 403, answer
    assert lead(stack, other)["email"] == other  # still there
    status, _ = api(stack, "GET", f"/v1/leads/{quote(other)}", token=token)
    assert status == 200  # the token itself is good: reading is sales' to do


def test_marketing_breaks_fixes_previews_publishes_and_rescores_a_model(
    stack: LocalStackProcess, page: Console
) -> None:
    page.sign_in(MARKETING)
    page.go("models")
    page.wait("page-models")
    page.until(lambda: "default" in page.text())
    page.screenshot("models")

    page.go("models/default")
    page.wait("page-model")
    page.wait("model-editor")
    page.until(lambda: f"name: {BROKEN}" in editor_text(page))
    points = str(next(r for r in MODEL["engagement"]["rules"] if r["name"] == BROKEN)["points"])
    line = select_in_editor(page, f"name: {BROKEN}", f"points: {points}")
    type_keys(page, "points: lots")
    page.wait("model-check").click()
    path = f"engagement.rules[{RULES.index(BROKEN)}].points"
    problems = page.until(lambda: [p.text for p in page.all("problem") if p.text] or None)
    assert any(path in text for text in problems), problems
    page.until(lambda: line in diagnosed_lines(page), message=f"no diagnostic on line {line}")
    page.screenshot("model-editor", showing="problem")

    select_in_editor(page, f"name: {BROKEN}", "points: lots")
    type_keys(page, f"points: {points}")
    changed = str(next(r for r in MODEL["engagement"]["rules"] if r["name"] == CHANGED)["points"])
    select_in_editor(page, f"name: {CHANGED}", f"points: {changed}")
    type_keys(page, "points: 30")
    page.wait("model-check").click()
    page.until(lambda: not page.all("problem"), message="problems left after the fix")
    assert not diagnosed_lines(page)

    page.wait("preview").click()
    page.wait("preview-grid", timeout=RESCORE_WAIT)
    assert len(page.all("preview-histogram")) >= 1, "no score distribution before and after"
    preview = page.wait("preview-progress")
    page.until(
        lambda: preview.get_attribute("data-status") == "completed",
        timeout=RESCORE_WAIT,
        message=f"the preview did not complete: {preview.get_attribute('data-status')}",
    )
    page.screenshot("preview", showing="preview-result")

    before = published_version(stack)
    page.wait("publish").click()
    page.until(lambda: published_version(stack) == before + 1, message="not published")
    rules = {r["name"]: r["points"] for r in current_model(stack)["engagement"]["rules"]}
    assert rules[CHANGED] == 30 and rules[BROKEN] == float(points), rules
    progress_bar = page.wait("rescore-progress", timeout=RESCORE_WAIT)
    page.until(
        lambda: (
            "completed" in progress_bar.text.lower()
            or progress_bar.get_attribute("data-status") == "completed"
        ),
        timeout=RESCORE_WAIT,
        message=f"the rescore did not complete: {progress_bar.text!r}",
    )
    page.screenshot("rescore", showing="rescore-progress")
    [scores] = [
        s for s in lead(stack, "grace@contoso.example")["scores"] if s["model"] == "default"
    ]
    assert scores["model_version"] == before + 1, scores


def published_version(stack: LocalStackProcess) -> int:
    status, answer = api(stack, "GET", "/v1/models")
    assert status == 200, answer
    return int(next(m["version"] for m in answer["models"] if m["id"] == "default"))


def current_model(stack: LocalStackProcess) -> dict[str, Any]:
    status, answer = api(stack, "GET", "/v1/models/default")
    assert status == 200, answer
    return dict(answer)
