"""The console in a real browser: its local stack, seeded leads, signing in as a demo user,
waiting on its pages' test ids, editing in CodeMirror and taking the README's screenshots.

Shared by the end-to-end tests (tests/browser/test_console.py) and the console's bench.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from leadscore_tools.local.process import LocalStackProcess

from tests.browser.conftest import ADMIN_KEY, Browser, launch

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "web" / "console" / "dist"
SHOTS = ROOT / "docs" / "console"
SALES = ("sales@example.com", "Sales-demo-1")
MARKETING = ("marketing@example.com", "Marketing-demo-1")
DESKTOP = (1280, 900)
PHONE = (375, 812)
WAIT = 20.0  # seconds for a page or an answer; a rescore gets longer

# Seeded leads: three MQLs of the default model (the first made overdue) and one that is not.
FIT = {"industry": "software", "company_size": "1000", "annual_revenue": "60000000"}
LEADS: dict[str, dict[str, Any]] = {
    "ada@northwind.example": {
        "profile": {
            **FIT,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company": "Northwind Traders",
            "job_title": "CTO",
            "country": "US",
        },
        "events": [
            (4, "page_view", {"url": "https://vendor.example/pricing"}),
            (3, "page_view", {"url": "https://vendor.example/pricing"}),
            (3, "page_view", {"url": "https://vendor.example/features"}),
            (2, "webinar_attended", {"webinar": "scoring-101"}),
            (1, "demo_request", {}),
        ],
    },
    "grace@contoso.example": {
        "profile": {
            **FIT,
            "first_name": "Grace",
            "last_name": "Hopper",
            "company": "Contoso",
            "job_title": "VP Marketing",
            "industry": "fintech",
            "country": "GB",
        },
        "events": [
            (2, "page_view", {"url": "https://vendor.example/pricing"}),
            (2, "email_click", {"campaign": "spring"}),
            (1, "form_submit", {"form": "demo-request"}),
        ],
    },
    "linus@initech.example": {
        "profile": {
            **FIT,
            "first_name": "Linus",
            "last_name": "Torvalds",
            "company": "Initech",
            "job_title": "Head of Engineering",
            "country": "DE",
        },
        "events": [
            (3, "page_view", {"url": "https://vendor.example/pricing"}),
            (1, "meeting_booked", {}),
        ],
    },
    "sam@fabrikam.example": {
        "profile": {
            "first_name": "Sam",
            "last_name": "Student",
            "company": "Fabrikam",
            "job_title": "Intern",
            "country": "BR",
        },
        "events": [(1, "page_view", {"url": "https://vendor.example/blog/scoring"})],
    },
}
OVERDUE = "ada@northwind.example"


# --- the stack ---


def console_stack() -> LocalStackProcess:
    """A local stack serving the built console (`make console` builds it); no schedules, so
    nothing but the tests changes the leads."""
    if not (DIST / "index.html").is_file():
        pytest.fail(f"{DIST}/index.html is missing: `make console` builds it", pytrace=False)
    return LocalStackProcess("--no-schedules", "--retry-seconds", "1").start()


def api(
    stack: LocalStackProcess,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
) -> tuple[int, Any]:
    """A call of the keyed API: with the admin key, or as a console user (`token`)."""
    headers = {"authorization": f"Bearer {token}"} if token else {"x-api-key": ADMIN_KEY}
    return stack.request(method, path, body, headers=headers)


def drain(stack: LocalStackProcess) -> None:
    status, answer = stack.request("POST", "/_local/drain")
    assert status == 200 and answer["drained"] is True, answer


def seed(stack: LocalStackProcess, now: datetime | None = None) -> None:
    """The seeded leads through `POST /v1/events`, scored; then one MQL made overdue."""
    now = now or datetime.now(UTC)
    events = []
    for email, lead in LEADS.items():
        for n, (days, kind, properties) in enumerate(lead["events"]):
            at = now - timedelta(days=days, hours=n)
            event = {
                "id": f"{email}-{n}",
                "email": email,
                "type": kind,
                "occurred_at": at.isoformat(),
                "properties": properties,
            }
            events.append({**event, "profile": lead["profile"]} if n == 0 else event)
    status, answer = api(stack, "POST", "/v1/events", events)
    assert status == 202, answer
    drain(stack)
    make_overdue(stack, OVERDUE, now - timedelta(hours=3))


def make_overdue(stack: LocalStackProcess, email: str, due: datetime) -> None:
    """Move an MQL's follow-up deadline into the past, as time passing would (the scorer
    sets it from its own clock, so no event can)."""
    import boto3
    from leadscore.adapters.compressed import LEAD_STATE, decode, encode
    from leadscore.domain.emails import lead_key

    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    [table] = dynamodb.list_tables()["TableNames"]
    key = {"pk": {"S": f"LEAD#{lead_key(email)}"}, "sk": {"S": "STATE#default"}}
    item = dynamodb.get_item(TableName=table, Key=key)["Item"]
    state = decode(item["state"]["B"])
    assert state["status"] == "mql", f"{email} is not an MQL: {state}"
    state["sla_due_at"] = int(due.timestamp())
    dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #state = :state, sla_due_at = :due",
        ExpressionAttributeNames={"#state": "state"},  # a reserved word
        ExpressionAttributeValues={
            ":state": {"B": encode(state, LEAD_STATE)},
            ":due": {"N": str(int(due.timestamp()))},
        },
    )


def console_config(stack: LocalStackProcess) -> dict[str, Any]:
    status, config = stack.request("GET", "/console/config.json")
    assert status == 200 and isinstance(config, dict), (status, config)
    return config


def id_token(stack: LocalStackProcess, user: tuple[str, str]) -> str:
    """A demo user's ID token, signed in as the console signs in (InitiateAuth by HTTP)."""
    config = console_config(stack)
    body = {
        "AuthFlow": "USER_PASSWORD_AUTH",
        "ClientId": config["clientId"],
        "AuthParameters": {"USERNAME": user[0], "PASSWORD": user[1]},
    }
    request = urllib.request.Request(
        config["cognitoEndpoint"],
        data=json.dumps(body).encode(),
        headers={
            "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.load(answer)["AuthenticationResult"]["IdToken"])


def lead(stack: LocalStackProcess, email: str) -> dict[str, Any]:
    status, answer = api(stack, "GET", f"/v1/leads/{quote(email)}")
    assert status == 200, answer
    return dict(answer)


# --- the browser ---


class Console:
    """One Chromium on the console: routes, test ids, signing in and out, screenshots."""

    def __init__(self, browser: Browser, stack: LocalStackProcess) -> None:
        self.browser = browser
        self.driver = browser.driver
        self.origin = stack.api_url
        self.url = f"{stack.api_url}/console/"
        self.size(*DESKTOP)

    def size(self, width: int, height: int) -> None:
        """The viewport's CSS pixels (device metrics, so screenshots are exactly this)."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )

    def go(self, route: str) -> None:
        """Open a hash route (`queue`, `leads/<email>`, ...), as a link or the address bar."""
        if self.driver.current_url.startswith(self.url):
            self.driver.execute_script("location.hash = arguments[0]", f"#/{route}")
        else:
            self.driver.get(f"{self.url}#/{route}")

    def wait(self, test_id: str, timeout: float = WAIT, visible: bool = True) -> Any:
        """The first element with this test id, once it is there (and shown)."""
        from selenium.webdriver.support import expected_conditions as shown
        from selenium.webdriver.support.ui import WebDriverWait

        locator = by_id(test_id)
        condition = (
            shown.visibility_of_element_located if visible else shown.presence_of_element_located
        )
        return WebDriverWait(self.driver, timeout).until(
            condition(locator), f"no [data-testid={test_id}] after {timeout} s: {self.text()[:500]}"
        )

    def until(self, check: Any, timeout: float = WAIT, message: str = "") -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(
            lambda _: check(), message or f"not after {timeout} s: {self.text()[:500]}"
        )

    def all(self, test_id: str) -> list[Any]:
        return list(self.driver.find_elements(*by_id(test_id)))

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        try:
            return str(self.driver.find_element(By.TAG_NAME, "body").text)
        except Exception:
            return ""

    def sign_in(self, user: tuple[str, str]) -> None:
        """A fresh session (no token kept), the sign-in page, then the queue."""
        self.browser.forget(self.origin)
        self.go("signin")
        self.wait("page-signin")
        self.wait("signin-email").send_keys(user[0])
        self.wait("signin-password").send_keys(user[1])
        self.wait("signin-submit").click()
        self.wait("page-queue")

    def screenshot(self, name: str, showing: str | None = None) -> Path:
        """docs/console/<name>.png of the viewport, scrolled so that the element with the
        test id `showing` ends at its bottom (the page's top otherwise)."""
        script = "arguments[0].scrollIntoView({block: 'end'})"
        if showing:
            self.driver.execute_script(script, self.wait(showing))
        else:
            self.driver.execute_script("scrollTo(0, 0)")
        time.sleep(0.3)  # the last paint: layout and the charts' canvases settle
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        path.write_bytes(self.driver.get_screenshot_as_png())
        return path


def by_id(test_id: str) -> tuple[str, str]:
    from selenium.webdriver.common.by import By

    return By.CSS_SELECTOR, f'[data-testid="{test_id}"]'


@contextmanager
def console(stack: LocalStackProcess) -> Iterator[Console]:
    """One Chromium on the console, closed afterwards."""
    browser = launch()
    try:
        yield Console(browser, stack)
    finally:
        browser.close()


# --- CodeMirror ---

# The editor's view, from its DOM as EditorView.findFromDOM finds it: the content element
# holds its tile (`cmTile`; `cmView` in older releases), whose root holds the view.
EDITOR_VIEW = """
const content = document.querySelector('[data-testid="model-editor"] .cm-content');
const tile = content && (content.cmTile || content.cmView);
const top = tile && (tile.root || tile.rootView);
const view = top ? top.view : tile && tile.view;
if (!view) throw new Error('no CodeMirror view in the model editor');
"""


def editor_text(page: Console) -> str:
    return str(page.driver.execute_script(EDITOR_VIEW + "return view.state.doc.toString();"))


def select_in_editor(page: Console, before: str, text: str) -> int:
    """Select the first `text` after `before` in the editor, to the end of the word it
    starts (scrolled to, focused); its line."""
    line = page.driver.execute_script(
        EDITOR_VIEW
        + """
        const doc = view.state.doc.toString();
        const start = doc.indexOf(arguments[0]);
        if (start < 0) return null;
        const from = doc.indexOf(arguments[1], start);
        if (from < 0) return null;
        let to = from + arguments[1].length;
        while (/[\\w.]/.test(doc[to] || '')) to++;  // the whole value: 15 of 15.0
        view.focus();
        view.dispatch({selection: {anchor: from, head: to}, scrollIntoView: true});
        return view.state.doc.lineAt(from).number;
        """,
        before,
        text,
    )
    assert line, f"{text!r} after {before!r} is not in the editor"
    return int(line)


def type_keys(page: Console, keys: str) -> None:
    """Type into whatever has the focus, as a person's keyboard does."""
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(page.driver).send_keys(keys).perform()


def diagnosed_lines(page: Console) -> list[int]:
    """The editor's lines (1-based) marked by a lint diagnostic: an underlined range or point
    in the line, or a lint marker in the gutter beside it."""
    found = page.driver.execute_script(
        EDITOR_VIEW
        + """
        const lines = new Set();
        for (const mark of view.dom.querySelectorAll('.cm-lintRange, .cm-lintPoint')) {
            lines.add(view.state.doc.lineAt(view.posAtDOM(mark)).number);
        }
        for (const marker of view.dom.querySelectorAll('.cm-lint-marker')) {
            const box = marker.getBoundingClientRect();
            const block = view.lineBlockAtHeight(box.top + box.height / 2 - view.documentTop);
            lines.add(view.state.doc.lineAt(block.from).number);
        }
        return [...lines].sort((a, b) => a - b);
        """
    )
    return [int(n) for n in found]
