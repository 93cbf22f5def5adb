"""Real-browser fixtures: Debian's Chromium, headless through its chromedriver, against the
local stack and its demo website (examples/site), everything on 127.0.0.1.

Nothing is downloaded: Selenium is handed the driver's path, so Selenium Manager never runs.
A missing browser fails the tests (they run in CI), saying how to install it.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from leadscore_tools.local.process import LocalStackProcess

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ADMIN_KEY = "local-dev-key"
# What a person's Chromium on Linux says; headless Chromium names itself HeadlessChrome,
# which bot lists rightly drop.
PERSON_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
BOT_AGENT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SWITCHES = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@dataclass
class Sent:
    """A request the page made, as Chromium's network log saw it."""

    method: str
    url: str
    body: str


class Browser:
    """One headless Chromium: pages, forms, cookies and the requests the pages sent."""

    def __init__(self, driver: Any, profile: tempfile.TemporaryDirectory[str]) -> None:
        self.driver = driver
        self._profile = profile

    def open(self, url: str, dwell: float = 0.0) -> None:
        """Load a page and stay on it a moment, as a reader does."""
        self.driver.get(url)
        time.sleep(dwell)

    def path(self) -> str:
        return str(self.driver.execute_script("return location.pathname"))

    def submit(self, form_id: str, fields: dict[str, str]) -> None:
        """Type into the form's fields, press its button, wait for the next page."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        form = self.driver.find_element(By.ID, form_id)
        for name, value in fields.items():
            form.find_element(By.NAME, name).send_keys(value)
        before = self.driver.current_url
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(self.driver, 20).until(lambda d: d.current_url != before)

    def cookie(self, name: str) -> str | None:
        found = self.driver.get_cookie(name)
        return None if found is None else str(found["value"])

    def sent(self) -> list[Sent]:
        """The requests made since the last call (Chromium's performance log, read once)."""
        requests = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                request = message["params"]["request"]
                requests.append(Sent(request["method"], request["url"], _body(request)))
        return requests

    def collects(self) -> list[Sent]:
        return [s for s in self.sent() if s.url.split("?")[0].endswith("/v1/collect")]

    def forget(self, origin: str) -> None:
        """A new visitor: no cookies, no storage, nothing pending from the last page."""
        self.driver.get("about:blank")
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.driver.execute_cdp_cmd(
            "Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"}
        )
        self.sent()

    def close(self) -> None:
        self.driver.quit()
        self._profile.cleanup()


def _body(request: dict[str, Any]) -> str:
    if "postData" in request:
        return str(request["postData"])
    entries = request.get("postDataEntries") or []
    import base64

    return "".join(base64.b64decode(e.get("bytes", "")).decode(errors="replace") for e in entries)


def launch(*, person: bool = True, do_not_track: bool = False, agent: str | None = None) -> Browser:
    """Chromium as a person uses it (`person`: navigator.webdriver false, a usual user agent)
    or as automation shows itself (navigator.webdriver true, the given agent)."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.fail(
            f"{CHROMIUM} and {CHROMEDRIVER} are needed: `make browser` installs Debian's "
            "chromium and chromium-driver",
            pytrace=False,
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.TemporaryDirectory(prefix="leadscore-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for switch in [*SWITCHES, f"--user-data-dir={profile.name}"]:
        options.add_argument(switch)
    if person:
        options.add_argument("--disable-blink-features=AutomationControlled")
    if agent or person:
        options.add_argument(f"--user-agent={agent or PERSON_AGENT}")
    options.add_experimental_option("prefs", {"enable_do_not_track": do_not_track})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER))
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except BaseException:
        profile.cleanup()
        raise
    driver.set_page_load_timeout(30)
    return Browser(driver, profile)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStackProcess]:
    """The local stack with its demo website on free ports; the stack's own site key and
    forms' allow-list follow the website's port."""
    process = LocalStackProcess(
        "--no-schedules",
        "--verbose",
        "--retry-seconds",
        "1",
        site=True,
        # Empty: the stack's defaults, whatever this shell exports.
        environment={"LEADSCORE_TRACKING_SITES": "", "LEADSCORE_CORS_ORIGINS": ""},
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def site(stack: LocalStackProcess) -> str:
    return f"http://localhost:{stack.site_port}"


@pytest.fixture(scope="module")
def person() -> Iterator[Browser]:
    """The module's Chromium as a person uses it; each test forgets the last visitor."""
    browser = launch()
    yield browser
    browser.close()


@pytest.fixture
def visitor(person: Browser, site: str) -> Browser:
    person.forget(site)
    return person


def drain(stack: LocalStackProcess) -> None:
    status, answer = stack.request("POST", "/_local/drain")
    assert status == 200 and answer["drained"] is True, answer


def history(stack: LocalStackProcess, email: str) -> list[dict[str, Any]]:
    """The default model's changes of the lead, oldest first."""
    status, answer = stack.request(
        "GET", f"/v1/leads/{quote(email)}/history", headers={"x-api-key": ADMIN_KEY}
    )
    assert status == 200, answer
    [default] = [h for h in answer["history"] if h["model"] == "default"]
    changes: list[dict[str, Any]] = default["changes"]
    return changes


def lead(stack: LocalStackProcess, email: str) -> dict[str, Any]:
    status, answer = stack.request(
        "GET", f"/v1/leads/{quote(email)}", headers={"x-api-key": ADMIN_KEY}
    )
    assert status == 200, answer
    return dict(answer)


def received_collects(stack: LocalStackProcess) -> int:
    """The collect requests that reached the stack (its --verbose request log)."""
    return sum("POST /v1/collect" in line for line in stack.console().splitlines())


def wait_for(check: Callable[[], Any], timeout: float = 20, every: float = 0.25) -> Any:
    """`check()`'s first true answer; its last answer after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            return answer
        time.sleep(every)
