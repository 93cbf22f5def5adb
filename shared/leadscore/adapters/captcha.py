"""CAPTCHA answers checked with their provider's siteverify: Cloudflare Turnstile, Google
reCAPTCHA (v2 and v3) or hCaptcha."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from urllib3.exceptions import HTTPError
from urllib3.util import Timeout

from leadscore.adapters.http import RETRYABLE, pool, retry_policy

# One retry (a connection refused, a 5xx), never a wait for Retry-After: a person is waiting.
ATTEMPTS = 2
TIMEOUT = Timeout(total=3.0)
# Turnstile's tokens are at most 2,048 characters; the others' are shorter.
MAX_ANSWER_CHARS = 4096
# Error codes that say our secret or site key is wrong, not the visitor.
# Our secret is wrong (not the visitor's answer). Not `sitekey-secret-mismatch`: hCaptcha
# gives it for an answer solved on another site's key, which a bot can bring.
SETUP_ERRORS = frozenset({"missing-input-secret", "invalid-input-secret"})
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
WRONG_URL = frozenset({404, 405})  # other unreadable answers count against the visitor's


@dataclass(frozen=True)
class Provider:
    name: str
    field: str  # the form field its widget fills
    verify_url: str
    scored: bool = False  # its answer's `score` is the likelihood of a person (reCAPTCHA v3)


PROVIDERS = {
    provider.name: provider
    for provider in (
        Provider(
            "turnstile",
            "cf-turnstile-response",
            "https://challenges.cloudflare.com/turnstile/v0/siteverify",
        ),
        Provider(
            "recaptcha",
            "g-recaptcha-response",
            "https://www.google.com/recaptcha/api/siteverify",
            scored=True,
        ),
        Provider("hcaptcha", "h-captcha-response", "https://api.hcaptcha.com/siteverify"),
    )
}
# What the widgets post: CAPTCHA answers, never kept with a lead.
WIDGET_FIELDS = frozenset(provider.field for provider in PROVIDERS.values())


class VerifierUnavailable(Exception):
    """The answer could not be checked: the provider is unreachable, failing, or refuses our
    secret. Not the visitor's doing."""


@dataclass(frozen=True)
class CaptchaVerifier:
    """One provider's siteverify, with what a passing answer must also show."""

    provider: Provider
    verify_url: str = ""  # the provider's own when empty (tests and the local stack: a fake)
    min_score: float = 0.5  # reCAPTCHA v3
    hostnames: frozenset[str] = frozenset()  # empty: any
    action: str = ""  # empty: any
    send_ip: bool = False  # the visitor's IP address is personal data: sent only when asked

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
            raise ValueError("the CAPTCHA verify URL must be https (or http on 127.0.0.1)")

    @property
    def url(self) -> str:
        return self.verify_url or self.provider.verify_url

    def refusal(self, fields: Mapping[str, str], secret: str, remote_ip: str | None) -> str | None:
        """Why this form's CAPTCHA answer is not a person's (None: it is).

        Raises VerifierUnavailable when the provider cannot say."""
        answer = fields.get(self.provider.field, "").strip()
        if not answer:
            return "no CAPTCHA answer"
        if len(answer) > MAX_ANSWER_CHARS:
            return "the CAPTCHA answer is too long"
        verdict = self._siteverify(secret, answer, remote_ip)
        codes = verdict.get("error-codes") or []
        codes = [str(code) for code in codes] if isinstance(codes, list) else [str(codes)]
        if verdict.get("success") is not True:
            if SETUP_ERRORS.intersection(codes):
                raise VerifierUnavailable(f"{self.provider.name} refuses our secret: {codes}")
            if "internal-error" in codes:
                raise VerifierUnavailable(f"{self.provider.name} failed: {codes}")
            return f"{self.provider.name} refuses the CAPTCHA answer: {codes}"
        if self.provider.scored and "score" in verdict:
            score = verdict["score"]
            if not isinstance(score, int | float) or score < self.min_score:
                return f"reCAPTCHA's score {score} is below {self.min_score}"
        if self.hostnames and verdict.get("hostname") not in self.hostnames:
            return "the CAPTCHA was solved on another site"
        if self.action and verdict.get("action") != self.action:
            return "the CAPTCHA was solved for another action"
        return None

    def _siteverify(self, secret: str, answer: str, remote_ip: str | None) -> dict[str, object]:
        """The provider's verdict; VerifierUnavailable when it gives none."""
        fields = {"secret": secret, "response": answer}
        if self.send_ip and remote_ip:
            fields["remoteip"] = remote_ip
        if self.provider.name == "turnstile":  # a retry of a token it has just read still checks
            fields["idempotency_key"] = str(uuid.uuid4())
        name = self.provider.name
        try:
            reply = pool().request(
                "POST",
                self.url,
                body=urlencode(fields).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                retries=retry_policy(ATTEMPTS, backoff=0.2).new(respect_retry_after_header=False),
                timeout=TIMEOUT,
            )
        except HTTPError as error:  # every attempt failed to connect, or timed out
            reason = getattr(error, "reason", None) or error
            raise VerifierUnavailable(f"{name} unreachable ({type(reason).__name__})") from None
        if reply.status in RETRYABLE:
            raise VerifierUnavailable(f"{name} unavailable (HTTP {reply.status})")
        try:
            verdict = json.loads(reply.data)
        except ValueError:
            verdict = None
        if not isinstance(verdict, dict) and reply.status in WRONG_URL:
            # a verify URL that is not one (a setting of ours): no verdict, not the visitor's
            raise VerifierUnavailable(f"{name} answered HTTP {reply.status}: check the verify URL")
        # Anything else unreadable counts against the answer: a visitor may not turn a
        # verdict it cannot pass into no verdict.
        return verdict if isinstance(verdict, dict) else {"error-codes": [f"HTTP {reply.status}"]}
