"""Signed form tokens: when a page got its token, so a form filled faster than a person can be
told apart, with no state kept.

A token is `1.<issued, epoch ms>.<nonce>.<HMAC-SHA256 of the three>`, base64url, signed with
the deployment's secret. It is not single-use (nothing is remembered): it proves that whoever
posts asked for it at least the minimum fill time before, and not longer than its lifetime ago.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta

VERSION = "1"
LIFETIME = timedelta(hours=1)
# Containers' clocks differ a little: a token issued by another one may look this far ahead.
CLOCK_SKEW = timedelta(seconds=5)
MAX_TOKEN_CHARS = 200
# Signed apart from any other HMAC made with the same secret.
PURPOSE = b"leadscore form token\n"


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signature(secret: str, signed: str) -> str:
    mac = hmac.new(secret.encode(), PURPOSE + signed.encode("ascii"), hashlib.sha256)
    return _encode(mac.digest())


def _epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def issue(secret: str, issued_at: datetime, nonce: bytes) -> str:
    """A token saying it was issued at `issued_at`; `nonce` makes each one different."""
    signed = f"{VERSION}.{_epoch_ms(issued_at)}.{_encode(nonce)}"
    return f"{signed}.{_signature(secret, signed)}"


def refusal(token: str, secrets: Iterable[str], now: datetime, min_fill: timedelta) -> str | None:
    """Why a form posted `now` with this token is not a person's (None: it may be).

    Any of `secrets` may have signed it (the current one, the one before a rotation)."""
    if not token:
        return "no form token"
    if len(token) > MAX_TOKEN_CHARS or not token.isascii():
        return "the form token is malformed"
    signed, _, signature = token.rpartition(".")
    version, _, rest = signed.partition(".")
    issued = rest.partition(".")[0]
    if version != VERSION or not issued.isdecimal() or len(issued) > 15:
        return "the form token is malformed"
    if not any(
        hmac.compare_digest(_signature(secret, signed), signature) for secret in secrets if secret
    ):
        return "the form token's signature does not check"
    elapsed = timedelta(milliseconds=_epoch_ms(now) - int(issued))
    if elapsed > LIFETIME:
        return "the form token has expired"
    if elapsed < -CLOCK_SKEW:
        return "the form token was issued in the future"
    if elapsed < min_fill:
        return "the form was sent sooner than the minimum fill time"
    return None
