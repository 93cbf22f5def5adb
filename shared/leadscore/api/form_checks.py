"""Bot checks on form submissions beyond the honeypot, each turned on by configuration: a signed
form token with a minimum fill time, and a CAPTCHA answer checked with its provider.

A check that says "bot" drops the submission (it is answered as a person's). A check that
cannot be made (no secret set, the provider unreachable or refusing our secret) lets it through
and logs an error: our own outage or mistake must not silently lose real prospects' forms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from leadscore.adapters.captcha import PROVIDERS, CaptchaVerifier, VerifierUnavailable
from leadscore.adapters.webhooks import Secrets
from leadscore.domain import form_tokens
from leadscore.settings import SettingError, Settings

logger = Logger(child=True)
# The secrets' names (not values), kept with the webhook secrets: "form-token" is
# LEADSCORE_WEBHOOK_FORM_TOKEN locally, <WebhookSecretsPath>/form-token deployed.
TOKEN_SECRET = "form-token"  # noqa: S105
PREVIOUS_TOKEN_SECRET = "form-token:previous"  # noqa: S105 (still accepted after a rotation)
CAPTCHA_SECRET = "captcha"  # noqa: S105
TOKEN_FIELD = "_token"  # noqa: S105 (the form field a page posts its token in)


@dataclass(frozen=True)
class FormChecks:
    min_fill: timedelta = timedelta(0)  # zero: no form token needed
    captcha: CaptchaVerifier | None = None

    @classmethod
    def from_settings(cls, config: Settings) -> FormChecks:
        name = config.form_captcha_provider.strip().lower()
        if name in ("", "none"):
            return cls(timedelta(seconds=config.form_token_min_seconds))
        if name not in PROVIDERS:
            raise SettingError(
                f"LEADSCORE_FORM_CAPTCHA_PROVIDER must be none or one of {', '.join(PROVIDERS)}, "
                f"not {config.form_captcha_provider!r}"
            )
        hostnames = config.form_captcha_hostnames.lower().split(",")
        try:
            captcha = CaptchaVerifier(
                PROVIDERS[name],
                verify_url=config.form_captcha_verify_url,
                min_score=config.form_captcha_min_score,
                hostnames=frozenset(h.strip() for h in hostnames if h.strip()),
                action=config.form_captcha_action.strip(),
                send_ip=config.form_captcha_send_ip,
            )
        except ValueError as error:
            raise SettingError(f"LEADSCORE_FORM_CAPTCHA_VERIFY_URL: {error}") from None
        return cls(timedelta(seconds=config.form_token_min_seconds), captcha)

    def verdict(
        self, fields: Mapping[str, str], secrets: Secrets, now: datetime, remote_ip: str | None
    ) -> tuple[str | None, bool]:
        """Why this submission is a bot's (None: none of the checks turned on says so), and
        whether a CAPTCHA showed a person sent it."""
        if self.min_fill > timedelta(0):
            secret = secrets.get(TOKEN_SECRET)
            if not secret:
                logger.error("form tokens are on but no form-token secret is set: not checked")
            else:
                keys = (secret, secrets.get(PREVIOUS_TOKEN_SECRET) or "")
                token = fields.get(TOKEN_FIELD, "").strip()
                reason = form_tokens.refusal(token, keys, now, self.min_fill)
                if reason:
                    return reason, False
        if self.captcha is not None:
            secret = secrets.get(CAPTCHA_SECRET)
            if not secret:
                logger.error("a CAPTCHA provider is set but no captcha secret: not checked")
                return None, False
            try:
                reason = self.captcha.refusal(fields, secret, remote_ip)
                return reason, reason is None
            except VerifierUnavailable as error:
                logger.error(
                    "the CAPTCHA could not be checked: submission taken", reason=str(error)
                )
        return None, False
