"""Bot checks on forms beyond the honeypot, turned on by configuration: a signed form token with
a minimum fill time, and a CAPTCHA answer checked with its provider's siteverify (here a fake
verifier on 127.0.0.1). A submission that fails is answered as a person's and queues nothing;
with nothing configured, a plain HTML form post is scored as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from leadscore.adapters import captcha
from leadscore.adapters.captcha import PROVIDERS, CaptchaVerifier
from leadscore.api import forms
from leadscore.api.app import build
from leadscore.api.deps import Dependencies
from leadscore.api.form_checks import FormChecks
from leadscore.domain import form_tokens
from leadscore.settings import SettingError, Settings
from urllib3.util import Timeout

from tests.conftest import LambdaContext
from tests.integration.api_client import Answer, proxy_event
from tests.unit.test_hostile_input import KeptQueue

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
ORIGIN = "https://www.vendor.example"
TOKEN_SECRET = "form-token-secret-0123456789abcdef"
CAPTCHA_SECRET = "captcha-secret-key-fedcba9876543210"
FORM = {"content-type": "application/x-www-form-urlencoded"}
PERSON = {"email": "ada@acme-corp.com", "first_name": "Ada", "form": "demo-request"}


class Api:
    """The routes in-process, with a clock the test moves and a queue that keeps what it gets."""

    def __init__(self, checks: FormChecks, secrets: dict[str, str] | None = None) -> None:
        self.now = T0
        self.queue = KeptQueue()
        deps = Dependencies(
            queue=self.queue,
            secrets=secrets if secrets is not None else {"form-token": TOKEN_SECRET},
            cors_origins=frozenset({ORIGIN}),
            clock=lambda: self.now,
            form_checks=checks,
        )
        self.app = build(deps)

    def call(self, method: str, path: str, body: str | None = None, **headers: str) -> Answer:
        event = proxy_event(method, path, body, headers)
        answer = self.app.resolve(event, LambdaContext())
        found = dict(answer.get("headers") or {})
        found |= {k: v[-1] for k, v in (answer.get("multiValueHeaders") or {}).items()}
        return Answer(answer["statusCode"], found, answer["body"])

    def token(self) -> str:
        answer = self.call("GET", "/v1/forms/token", origin=ORIGIN)
        assert answer.status == 200, answer.body
        document = answer.json()
        assert document["expires_in"] == 3600
        token: str = document["token"]
        return token

    def post(self, **fields: str) -> Answer:
        return self.call("POST", "/v1/forms", urlencode(PERSON | fields), **FORM)

    def assert_dropped(self, answer: Answer) -> None:
        """Told what a person is told, and nothing queued."""
        assert answer.status == 202, answer.body
        assert answer.json()["status"] == "accepted" and answer.json()["event_id"]
        assert self.queue.sent == []

    def assert_queued(self, answer: Answer) -> None:
        assert answer.status == 202, answer.body
        [(email, event)] = self.queue.sent
        assert email == "ada@acme-corp.com" and event.id == answer.json()["event_id"]


TOKEN_ON = FormChecks(min_fill=timedelta(seconds=3))


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record logged (INFO and up), with all its fields: message, arguments, extra keys."""
    return "\n".join(str(vars(record)) for record in caplog.records)


# --- off by default ---------------------------------------------------------------------------


def test_nothing_configured_a_plain_html_form_post_is_scored() -> None:
    checks = FormChecks.from_settings(Settings.from_environment({}))
    assert checks == FormChecks()
    api = Api(checks, secrets={})
    api.assert_queued(api.post())


def test_the_settings_turn_each_check_on() -> None:
    checks = FormChecks.from_settings(
        Settings.from_environment(
            {
                "LEADSCORE_FORM_TOKEN_MIN_SECONDS": "3",
                "LEADSCORE_FORM_CAPTCHA_PROVIDER": "Turnstile",
                "LEADSCORE_FORM_CAPTCHA_HOSTNAMES": "www.vendor.example, Vendor.example",
                "LEADSCORE_FORM_CAPTCHA_ACTION": "demo",
                "LEADSCORE_FORM_CAPTCHA_SEND_IP": "true",
            }
        )
    )
    assert checks.min_fill == timedelta(seconds=3)
    assert checks.captcha == CaptchaVerifier(
        PROVIDERS["turnstile"],
        hostnames=frozenset({"www.vendor.example", "vendor.example"}),
        action="demo",
        send_ip=True,
    )
    assert checks.captcha.url == "https://challenges.cloudflare.com/turnstile/v0/siteverify"


@pytest.mark.parametrize(
    "environ",
    [
        {"LEADSCORE_FORM_CAPTCHA_PROVIDER": "recaptcha-v4"},
        {"LEADSCORE_FORM_CAPTCHA_SEND_IP": "yes"},
        {"LEADSCORE_FORM_TOKEN_MIN_SECONDS": "-1"},
        # the secret would travel in clear text
        {
            "LEADSCORE_FORM_CAPTCHA_PROVIDER": "hcaptcha",
            "LEADSCORE_FORM_CAPTCHA_VERIFY_URL": "http://verifier.example/siteverify",
        },
    ],
)
def test_a_setting_that_cannot_work_fails_the_cold_start(environ: dict[str, str]) -> None:
    with pytest.raises(SettingError):
        FormChecks.from_settings(Settings.from_environment(environ))


# --- the signed form token --------------------------------------------------------------------


def test_the_token_route_answers_cors_uncached_and_404_without_a_secret() -> None:
    api = Api(TOKEN_ON)
    answer = api.call("GET", "/v1/forms/token", origin=ORIGIN)
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.json()["token"] != api.token()  # a nonce in each
    missing = Api(TOKEN_ON, secrets={}).call("GET", "/v1/forms/token", origin=ORIGIN)
    assert missing.status == 404 and missing.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert missing.headers["Content-Type"] == "application/problem+json"


def test_token_on_a_post_after_the_fill_time_is_queued() -> None:
    api = Api(TOKEN_ON)
    token = api.token()
    api.now += timedelta(seconds=3)
    api.assert_queued(api.post(_token=token))
    assert "_token" not in json.dumps(api.queue.sent[0][1].properties)


def test_token_on_json_posts_carry_it_too() -> None:
    api = Api(TOKEN_ON)
    token = api.token()
    api.now += timedelta(seconds=20)
    body = json.dumps(PERSON | {"_token": token})
    api.assert_queued(api.call("POST", "/v1/forms", body, **{"content-type": "application/json"}))


def forged(token: str) -> str:
    """The token with a later issue time, its signature kept."""
    version, issued, nonce, signature = token.split(".")
    return ".".join((version, str(int(issued) - 60_000), nonce, signature))


@pytest.mark.parametrize(
    ("case", "make", "wait"),
    [
        ("no token", lambda api: "", 60),
        ("too fast", lambda api: api.token(), 2.9),
        ("expired", lambda api: api.token(), 3601),
        ("forged time", lambda api: forged(api.token()), 1),
        ("other secret", lambda api: form_tokens.issue("another", api.now, b"n"), 60),
        ("garbage", lambda api: "1.abc.x.y", 60),
        ("not ascii", lambda api: "1.\u00e9.x.y", 60),
        ("too long", lambda api: api.token() + "A" * 200, 60),
    ],
)
def test_token_on_a_bot_is_answered_as_a_person_and_nothing_is_queued(
    case: str, make: Any, wait: float
) -> None:
    api = Api(TOKEN_ON)
    token = make(api)
    api.now += timedelta(seconds=wait)
    api.assert_dropped(api.post(_token=token) if token else api.post())


def test_token_on_a_person_who_corrects_the_form_is_told_so() -> None:
    """Validation first: a bad email is still a 422 the page can show."""
    api = Api(TOKEN_ON)
    answer = api.post(email="not-an-address")
    assert answer.status == 422 and api.queue.sent == []


def test_a_rotated_secret_keeps_the_tokens_it_signed_for_their_lifetime() -> None:
    api = Api(TOKEN_ON)
    token = api.token()
    api.now += timedelta(seconds=10)
    rotated = Api(TOKEN_ON, {"form-token": "new-secret", "form-token:previous": TOKEN_SECRET})
    rotated.now = api.now
    rotated.assert_queued(rotated.post(_token=token))


def test_token_on_without_a_secret_takes_the_form_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Our mistake must not lose real forms: the check is skipped, loudly."""
    api = Api(TOKEN_ON, secrets={})
    api.assert_queued(api.post())
    assert "no form-token secret is set" in logged(caplog)


# --- the CAPTCHA ------------------------------------------------------------------------------

VERDICTS: dict[str, Any] = {
    "person": {"success": True, "hostname": "www.vendor.example", "action": "demo"},
    "scored-person": {"success": True, "score": 0.9, "hostname": "www.vendor.example"},
    "scored-bot": {"success": True, "score": 0.1, "hostname": "www.vendor.example"},
    "other-site": {"success": True, "hostname": "attacker.example", "action": "demo"},
    "other-action": {"success": True, "hostname": "www.vendor.example", "action": "login"},
    "refused": {"success": False, "error-codes": ["invalid-input-response"]},
    "replayed": {"success": False, "error-codes": ["timeout-or-duplicate"]},
    "bad-secret": {"success": False, "error-codes": ["invalid-input-secret"]},
    # hCaptcha: an answer solved on another site's key (a bot's own, easy one)
    "other-sitekey": {"success": False, "error-codes": ["sitekey-secret-mismatch"]},
    "internal": {"success": False, "error-codes": ["internal-error"]},
}


class FakeVerifier:
    """A siteverify on 127.0.0.1 answering as the providers do, keeping what it was sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        verifier = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def handle(self) -> None:
                with contextlib.suppress(ConnectionError):  # a slow answer's client gave up
                    super().handle()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                verifier.requests.append(form | {"content-type": self.headers["content-type"]})
                answer = form.get("response", "")
                if answer == "down":
                    self.reply(503, b"unavailable")
                elif answer == "slow":
                    time.sleep(1)
                    self.reply(200, json.dumps(VERDICTS["person"]).encode())
                elif answer == "html":
                    self.reply(400, b"<html>bad request</html>")
                elif answer == "wrong-url":
                    self.reply(404, b"<html>not found</html>")
                else:
                    verdict = VERDICTS.get(answer, VERDICTS["refused"])
                    if form.get("secret") != CAPTCHA_SECRET:
                        verdict = VERDICTS["bad-secret"]
                    self.reply(200, json.dumps(verdict).encode())

            def reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/siteverify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def verifier() -> Iterator[FakeVerifier]:
    fake = FakeVerifier()
    yield fake
    fake.close()


def captcha_api(verifier: FakeVerifier, provider: str = "turnstile", **options: Any) -> Api:
    verifier.requests.clear()
    checks = FormChecks(
        captcha=CaptchaVerifier(PROVIDERS[provider], verify_url=verifier.url, **options)
    )
    return Api(checks, secrets={"captcha": CAPTCHA_SECRET})


def test_captcha_on_a_person_is_queued_and_the_answer_is_not_kept(
    verifier: FakeVerifier,
) -> None:
    api = captcha_api(verifier)
    api.assert_queued(api.post(**{"cf-turnstile-response": "person"}))
    [sent] = verifier.requests
    assert sent["secret"] == CAPTCHA_SECRET and sent["response"] == "person"
    assert sent["content-type"] == "application/x-www-form-urlencoded"
    assert "remoteip" not in sent  # personal data: not sent unless configured
    assert sent["idempotency_key"]  # Turnstile: a retried check of the same answer holds
    assert "cf-turnstile-response" not in json.dumps(api.queue.sent[0][1].properties)
    assert api.queue.sent[0][1].source == "form-captcha"  # a person: no hourly allowance


def test_captcha_on_the_address_is_sent_only_when_configured(verifier: FakeVerifier) -> None:
    api = captcha_api(verifier, send_ip=True)
    api.assert_queued(api.post(**{"cf-turnstile-response": "person"}))
    assert verifier.requests[0]["remoteip"] == "203.0.113.9"


@pytest.mark.parametrize(
    ("provider", "field", "answer", "options"),
    [
        ("turnstile", "cf-turnstile-response", "refused", {}),
        ("turnstile", "cf-turnstile-response", "replayed", {}),
        ("turnstile", "cf-turnstile-response", "", {}),  # no answer
        ("turnstile", "g-recaptcha-response", "person", {}),  # another widget's field
        ("turnstile", "cf-turnstile-response", "x" * 5000, {}),
        ("turnstile", "cf-turnstile-response", "other-site", {"hostnames": {"www.vendor.example"}}),
        ("turnstile", "cf-turnstile-response", "other-action", {"action": "demo"}),
        ("turnstile", "cf-turnstile-response", "html", {}),  # no verdict it can read
        ("recaptcha", "g-recaptcha-response", "scored-bot", {"min_score": 0.5}),
        ("hcaptcha", "h-captcha-response", "refused", {}),
        ("hcaptcha", "h-captcha-response", "other-sitekey", {}),
    ],
)
def test_captcha_on_a_bot_is_answered_as_a_person_and_nothing_is_queued(
    verifier: FakeVerifier, provider: str, field: str, answer: str, options: dict[str, Any]
) -> None:
    if "hostnames" in options:
        options["hostnames"] = frozenset(options["hostnames"])
    api = captcha_api(verifier, provider, **options)
    api.assert_dropped(api.post(**{field: answer}))


@pytest.mark.parametrize(
    ("provider", "field", "answer"),
    [
        ("recaptcha", "g-recaptcha-response", "scored-person"),
        ("recaptcha", "g-recaptcha-response", "person"),  # v2: no score
        ("hcaptcha", "h-captcha-response", "person"),
    ],
)
def test_captcha_on_each_provider_passes_a_person(
    verifier: FakeVerifier, provider: str, field: str, answer: str
) -> None:
    api = captcha_api(verifier, provider, hostnames=frozenset({"www.vendor.example"}))
    api.assert_queued(api.post(**{field: answer}))
    assert "idempotency_key" not in verifier.requests[0]


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/siteverify"


@pytest.mark.parametrize(
    "answer", ["down", "internal", "bad-secret", "unreachable", "slow", "wrong-url"]
)
def test_captcha_on_a_verifier_that_cannot_say_lets_the_form_through_and_logs_it(
    verifier: FakeVerifier,
    answer: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fail open: an outage (or our own wrong secret) is not the visitor's doing, and failing
    closed would silently drop every real prospect's form for as long as it lasts."""
    monkeypatch.setattr(captcha, "TIMEOUT", Timeout(total=0.3))
    verifier.requests.clear()
    url = closed_port_url() if answer == "unreachable" else verifier.url
    secret = "a-wrong-secret-5c1d" if answer == "bad-secret" else CAPTCHA_SECRET
    checks = FormChecks(captcha=CaptchaVerifier(PROVIDERS["turnstile"], url))
    api = Api(checks, secrets={"captcha": secret})
    api.assert_queued(api.post(**{"cf-turnstile-response": answer}))
    logs = logged(caplog)
    assert "the CAPTCHA could not be checked" in logs
    assert secret not in logs
    if answer == "down":
        assert [r["response"] for r in verifier.requests] == ["down", "down"]  # one retry


def test_captcha_on_without_a_secret_takes_the_form_and_says_why(
    verifier: FakeVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    verifier.requests.clear()
    api = Api(FormChecks(captcha=CaptchaVerifier(PROVIDERS["turnstile"], verifier.url)), {})
    api.assert_queued(api.post(**{"cf-turnstile-response": "person"}))
    assert "no captcha secret" in logged(caplog) and verifier.requests == []


def test_both_on_the_token_is_checked_first_and_no_secret_is_ever_logged(
    verifier: FakeVerifier, caplog: pytest.LogCaptureFixture
) -> None:
    checks = FormChecks(
        min_fill=timedelta(seconds=3),
        captcha=CaptchaVerifier(PROVIDERS["turnstile"], verifier.url),
    )
    caplog.set_level(logging.INFO, logger=forms.logger.name)  # the drops are logged at INFO
    verifier.requests.clear()
    api = Api(checks, {"form-token": TOKEN_SECRET, "captcha": CAPTCHA_SECRET})
    api.assert_dropped(api.post(**{"cf-turnstile-response": "person"}))  # no token
    assert verifier.requests == []  # a bot without a token costs no siteverify call
    token = api.token()
    api.now += timedelta(seconds=5)
    api.assert_dropped(api.post(_token=token, **{"cf-turnstile-response": "refused"}))
    api.assert_queued(api.post(_token=token, **{"cf-turnstile-response": "person"}))
    logs = logged(caplog)
    assert "form dropped: from a bot" in logs
    assert TOKEN_SECRET not in logs and CAPTCHA_SECRET not in logs
