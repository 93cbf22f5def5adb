"""The console's sign-in: a Cognito ID token (`Authorization: Bearer`) verified, its scopes.

RS256 only, with the key the token's `kid` names among the pool's published keys (its JWKS,
fetched once per container and again for an unknown `kid`, at most once a minute); then the
issuer, `token_use` "id", the audience (the console's app client) and the times, with a little
leeway for clocks. The scopes come from the user's groups: sales -> sales, marketing -> admin.
Nothing here logs or keeps a token or an email.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers
from cryptography.hazmat.primitives.hashes import SHA256

GROUP_SCOPES = {"sales": "sales", "marketing": "admin"}  # contract §3's scopes
LEEWAY_SECONDS = 30  # clock skew between Cognito and the authorizer
REFETCH_SECONDS = 60  # an unknown kid fetches the keys again at most this often
FETCH_TIMEOUT_SECONDS = 3
MAX_TOKEN_CHARS = 16_384  # Cognito's ID tokens are a few KB, even with many groups
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)  # base64url without padding


class TokenRefused(ValueError):
    """The token is not a valid ID token of this pool and client, or grants no scope.

    The message says why (for the logs); it never holds the token or a claim's value."""


class KeysUnavailable(RuntimeError):
    """The pool's keys could not be fetched: the token cannot be checked now (not refused)."""


@dataclass(frozen=True)
class SignedIn:
    """Who a verified token names, and what the API lets them do."""

    subject: str  # the token's `sub`: the user's id in the pool (never the email)
    scopes: tuple[str, ...]


def presented_token(headers: Mapping[str, str]) -> str | None:
    """The token of `Authorization: Bearer <token>`, or None: no such header, another scheme,
    or an `x-api-key` sent as well (one credential per request)."""
    found = {name.lower(): value for name, value in headers.items()}
    scheme, _, token = (found.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or found.get("x-api-key"):
        return None
    return token.strip() or None


def issuer_of(region: str, pool_id: str) -> str:
    """The `iss` of the pool's tokens (moto's too: it names the real Cognito endpoint)."""
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


def fetch_json(url: str) -> Any:
    """A JSON document over HTTP(S), with a short timeout: a person is waiting."""
    if not url.startswith(("https://", "http://")):
        raise KeysUnavailable(f"not an HTTP URL: {url}")
    import urllib.request  # on the first console token only: API keys never pay for it

    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as answer:  # noqa: S310 (scheme checked above)
            return json.load(answer)
    except (OSError, ValueError) as error:
        raise KeysUnavailable(f"the user pool's keys could not be fetched: {error}") from None


class CognitoTokens:
    """Verifies the ID tokens of one user pool and app client."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        jwks_url: str,
        fetch: Callable[[str], Any] = fetch_json,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.jwks_url = jwks_url
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, RSAPublicKey] = {}
        self._fetched_at: float | None = None
        self._fetch_failed: KeysUnavailable | None = None
        self._lock = threading.Lock()  # the local stack verifies on many threads

    @classmethod
    def for_pool(
        cls, region: str, pool_id: str, client_id: str, endpoint_url: str | None = None
    ) -> CognitoTokens:
        """Deployed, the keys are at the issuer; locally at moto (`endpoint_url`)."""
        issuer = issuer_of(region, pool_id)
        base = f"{endpoint_url.rstrip('/')}/{pool_id}" if endpoint_url else issuer
        return cls(issuer, client_id, f"{base}/.well-known/jwks.json")

    def verify(self, token: str) -> SignedIn:
        """Who the token names and their scopes; TokenRefused when it does not hold."""
        if len(token) > MAX_TOKEN_CHARS:
            raise TokenRefused("the token is too long")
        parts = token.split(".")
        if len(parts) != 3 or not all(_SEGMENT.fullmatch(part) for part in parts):
            raise TokenRefused("not a signed JWT (three base64url parts)")
        header, claims = _json_part(parts[0], "header"), _json_part(parts[1], "payload")
        if header.get("alg") != "RS256":  # never "none", never HS256 keyed with a public key
            raise TokenRefused("the token is not signed with RS256")
        if "crit" in header:  # extensions Cognito never uses, which we would have to honour
            raise TokenRefused("the token requires extensions (crit)")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenRefused("the token names no key (kid)")
        key = self._key(kid)
        try:
            key.verify(_decode(parts[2]), f"{parts[0]}.{parts[1]}".encode(), PKCS1v15(), SHA256())
        except InvalidSignature:
            raise TokenRefused("the signature does not match the pool's key") from None
        return self._signed_in(claims)

    def _signed_in(self, claims: dict[str, Any]) -> SignedIn:
        if claims.get("iss") != self.issuer:
            raise TokenRefused("the token is from another issuer")
        if claims.get("token_use") != "id":
            raise TokenRefused("not an ID token")
        if claims.get("aud") != self.client_id:
            raise TokenRefused("the token is for another app client")
        now = self._clock()
        expires, issued = claims.get("exp"), claims.get("iat")
        if not _is_time(expires) or now > expires + LEEWAY_SECONDS:
            raise TokenRefused("the token has expired")
        if not _is_time(issued) or issued > now + LEEWAY_SECONDS:
            raise TokenRefused("the token is issued in the future")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise TokenRefused("the token names no user (sub)")
        groups = claims.get("cognito:groups") or []
        if not isinstance(groups, list):
            raise TokenRefused("the token's groups are not a list")
        scopes = sorted({GROUP_SCOPES[group] for group in groups if group in GROUP_SCOPES})
        if not scopes:
            raise TokenRefused("the user is in neither the sales nor the marketing group")
        return SignedIn(subject, tuple(scopes))

    def _key(self, kid: str) -> RSAPublicKey:
        """The pool's key `kid`, fetching the keys first if they were never fetched, or again
        if this kid is unknown (Cognito rotated them) and the last fetch is a minute old."""
        with self._lock:
            if kid not in self._keys and self._may_fetch():
                self._fetched_at = self._clock()
                try:
                    self._keys, self._fetch_failed = _rsa_keys(self._fetch(self.jwks_url)), None
                except KeysUnavailable as error:
                    self._fetch_failed = error  # the keys known so far stay
            key, failed = self._keys.get(kid), self._fetch_failed
        if key is None and failed is not None:
            raise KeysUnavailable(str(failed))  # not the user's fault: not a 401
        if key is None:
            raise TokenRefused("the token's key is not one of the pool's")
        return key

    def _may_fetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= REFETCH_SECONDS


def _rsa_keys(document: Any) -> dict[str, RSAPublicKey]:
    """The RS256 signing keys of a JWKS document, by kid."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeysUnavailable("the user pool's JWKS has no key list")
    keys: dict[str, RSAPublicKey] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        if entry.get("alg", "RS256") != "RS256" or entry.get("use", "sig") != "sig":
            continue
        kid, modulus, exponent = entry.get("kid"), entry.get("n"), entry.get("e")
        if not (isinstance(kid, str) and isinstance(modulus, str) and isinstance(exponent, str)):
            continue
        try:
            numbers = RSAPublicNumbers(_integer(exponent), _integer(modulus))
            keys[kid] = numbers.public_key()
        except ValueError:
            continue  # a malformed key signs nothing we accept
    return keys


def _decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise TokenRefused("a part of the token is not base64url") from None


def _integer(segment: str) -> int:
    return int.from_bytes(_decode(segment), "big")


def _json_part(segment: str, name: str) -> dict[str, Any]:
    text = _decode(segment)
    try:
        value = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise TokenRefused(f"the token's {name} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenRefused(f"the token's {name} is not a JSON object")
    return value


def _is_time(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
