"""The console's ID tokens: what the authorizer accepts (a pool's own, fresh, for the console's
client, from a group) and every forgery or mistake it refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.hashes import SHA256
from leadscore.adapters.cognito_tokens import (
    LEEWAY_SECONDS,
    REFETCH_SECONDS,
    CognitoTokens,
    KeysUnavailable,
    SignedIn,
    TokenRefused,
    presented_token,
)

from tests.conftest import ROOT, LambdaContext, load_function

REGION, POOL, CLIENT = "us-east-1", "us-east-1_TestPool", "console-client-id"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"
NOW = 1_800_000_000.0
SUB = "7d1f3c2a-0000-4000-8000-000000000001"
EMAIL = "seller@example.com"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
        "kid": kid,
        "e": b64(numbers.e.to_bytes(3, "big")),
        "n": b64(numbers.n.to_bytes(256, "big")),
    }


def claims(**changes: Any) -> dict[str, Any]:
    found = {
        "sub": SUB,
        "iss": ISSUER,
        "aud": CLIENT,
        "token_use": "id",
        "iat": int(NOW) - 60,
        "auth_time": int(NOW) - 60,
        "exp": int(NOW) + 3540,
        "email": EMAIL,
        "cognito:groups": ["sales"],
    }
    found.update(changes)
    return {name: value for name, value in found.items() if value is not None}


def sign(
    payload: dict[str, Any],
    key: rsa.RSAPrivateKey = KEY,
    kid: str = "key-1",
    header: dict[str, Any] | None = None,
) -> str:
    head = b64(json.dumps(header or {"kid": kid, "alg": "RS256"}).encode())
    body = b64(json.dumps(payload).encode())
    signature = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), SHA256())
    return f"{head}.{body}.{b64(signature)}"


class Pool:
    """The pool's JWKS endpoint: its keys, and how often it was asked."""

    def __init__(self, *keys: dict[str, str]) -> None:
        self.keys = list(keys)
        self.fetches: list[str] = []
        self.down = False

    def fetch(self, url: str) -> Any:
        self.fetches.append(url)
        if self.down:
            raise KeysUnavailable("connection refused")
        return {"keys": self.keys}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pool() -> Pool:
    return Pool(jwk(KEY, "key-1"))


@pytest.fixture
def tokens(pool: Pool, clock: Clock) -> CognitoTokens:
    return CognitoTokens(ISSUER, CLIENT, JWKS_URL, fetch=pool.fetch, clock=clock)


@pytest.mark.parametrize(
    ("groups", "scopes"),
    [
        (["sales"], ("sales",)),
        (["marketing"], ("admin",)),
        (["marketing", "sales"], ("admin", "sales")),
        (["sales", "beta-testers"], ("sales",)),
    ],
)
def test_a_pool_token_names_its_user_and_the_scopes_of_their_groups(
    tokens: CognitoTokens, groups: list[str], scopes: tuple[str, ...]
) -> None:
    assert tokens.verify(sign(claims(**{"cognito:groups": groups}))) == SignedIn(SUB, scopes)


@pytest.mark.parametrize("groups", [None, [], ["beta-testers"], "sales"])
def test_a_user_in_no_console_group_is_refused(tokens: CognitoTokens, groups: Any) -> None:
    with pytest.raises(TokenRefused):
        tokens.verify(sign(claims(**{"cognito:groups": groups})))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": int(NOW) - LEEWAY_SECONDS - 1}, "expired"),
        ({"exp": None}, "expired"),
        ({"exp": "9999999999"}, "expired"),
        ({"iat": int(NOW) + LEEWAY_SECONDS + 60}, "future"),
        ({"aud": "another-client"}, "another app client"),
        ({"aud": [CLIENT]}, "another app client"),
        ({"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}, "issuer"),
        ({"iss": None}, "issuer"),
        ({"token_use": "access"}, "not an ID token"),
        ({"sub": ""}, "no user"),
    ],
)
def test_a_token_for_someone_else_or_out_of_date_is_refused(
    tokens: CognitoTokens, changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(TokenRefused, match=reason):
        tokens.verify(sign(claims(**changes)))


def test_clocks_may_differ_by_the_leeway(tokens: CognitoTokens) -> None:
    late = claims(exp=int(NOW) - LEEWAY_SECONDS + 1, iat=int(NOW) + LEEWAY_SECONDS - 1)
    assert tokens.verify(sign(late)).subject == SUB


def test_a_tampered_payload_breaks_the_signature(tokens: CognitoTokens) -> None:
    head, _, signature = sign(claims()).split(".")
    promoted = b64(json.dumps(claims(**{"cognito:groups": ["marketing"]})).encode())
    with pytest.raises(TokenRefused, match="signature"):
        tokens.verify(f"{head}.{promoted}.{signature}")


def test_a_token_signed_by_another_key_under_the_pools_kid_is_refused(
    tokens: CognitoTokens,
) -> None:
    with pytest.raises(TokenRefused, match="signature"):
        tokens.verify(sign(claims(), key=OTHER_KEY, kid="key-1"))


def test_unsigned_and_hmac_tokens_are_refused_even_keyed_with_the_public_key(
    tokens: CognitoTokens,
) -> None:
    payload = b64(json.dumps(claims(**{"cognito:groups": ["marketing"]})).encode())
    unsigned = b64(json.dumps({"alg": "none", "kid": "key-1"}).encode())
    # HS256 "signed" with the public key, which anyone can fetch: the classic confusion.
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs256 = b64(json.dumps({"alg": "HS256", "kid": "key-1"}).encode())
    mac = hmac.new(public_pem, f"{hs256}.{payload}".encode(), hashlib.sha256).digest()
    for token in (
        f"{unsigned}.{payload}.",
        f"{unsigned}.{payload}.e30",
        f"{hs256}.{payload}.{b64(mac)}",
    ):
        with pytest.raises(TokenRefused):
            tokens.verify(token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "not a token",
        "eyJ.e30.!!!",
        "e30.e30.e30",
        "W10.e30.e30",
        "x" * 20_000,
    ],
)
def test_what_is_not_a_jwt_is_refused(tokens: CognitoTokens, token: str) -> None:
    with pytest.raises(TokenRefused):
        tokens.verify(token)


def test_a_header_demanding_extensions_is_refused(tokens: CognitoTokens) -> None:
    header = {"alg": "RS256", "kid": "key-1", "crit": ["exp"]}
    with pytest.raises(TokenRefused, match="crit"):
        tokens.verify(sign(claims(), header=header))


def test_the_keys_are_fetched_once_and_an_unknown_kid_refetches_at_most_once_a_minute(
    tokens: CognitoTokens, pool: Pool, clock: Clock
) -> None:
    for _ in range(3):
        tokens.verify(sign(claims()))
    assert pool.fetches == [JWKS_URL]
    for _ in range(3):  # a flood of made-up kids costs one fetch a minute
        with pytest.raises(TokenRefused, match="not one of the pool's"):
            tokens.verify(sign(claims(), key=OTHER_KEY, kid="made-up"))
    assert len(pool.fetches) == 1
    clock.now += REFETCH_SECONDS
    with pytest.raises(TokenRefused, match="not one of the pool's"):
        tokens.verify(sign(claims(), key=OTHER_KEY, kid="made-up"))
    assert len(pool.fetches) == 2


def test_a_rotated_key_is_found_by_fetching_again(
    tokens: CognitoTokens, pool: Pool, clock: Clock
) -> None:
    tokens.verify(sign(claims()))
    pool.keys.append(jwk(OTHER_KEY, "key-2"))
    clock.now += REFETCH_SECONDS
    rotated = claims(iat=int(clock.now), exp=int(clock.now) + 3600)
    assert tokens.verify(sign(rotated, key=OTHER_KEY, kid="key-2")).subject == SUB
    assert len(pool.fetches) == 2


def test_keys_that_cannot_be_fetched_fail_the_check_rather_than_refuse_the_user(
    tokens: CognitoTokens, pool: Pool, clock: Clock
) -> None:
    pool.down = True
    with pytest.raises(KeysUnavailable):
        tokens.verify(sign(claims()))
    with pytest.raises(KeysUnavailable):  # within the minute: no new fetch, the same answer
        tokens.verify(sign(claims()))
    assert len(pool.fetches) == 1
    pool.down = False
    clock.now += REFETCH_SECONDS
    assert tokens.verify(sign(claims())).subject == SUB


def test_keys_other_than_rs256_signing_keys_are_ignored(clock: Clock) -> None:
    encryption = {**jwk(KEY, "key-1"), "use": "enc"}
    pool = Pool(encryption, {"kty": "EC", "kid": "key-1"}, {"kty": "RSA", "kid": "key-1"})
    tokens = CognitoTokens(ISSUER, CLIENT, JWKS_URL, fetch=pool.fetch, clock=clock)
    with pytest.raises(TokenRefused, match="not one of the pool's"):
        tokens.verify(sign(claims()))


def test_the_keys_are_at_the_issuer_deployed_and_at_moto_locally() -> None:
    deployed = CognitoTokens.for_pool(REGION, POOL, CLIENT)
    assert (deployed.issuer, deployed.jwks_url) == (ISSUER, JWKS_URL)
    local = CognitoTokens.for_pool(REGION, POOL, CLIENT, "http://127.0.0.1:5000")
    assert local.issuer == ISSUER  # moto's tokens name the real issuer
    assert local.jwks_url == f"http://127.0.0.1:5000/{POOL}/.well-known/jwks.json"


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ({"Authorization": "Bearer abc.def.ghi"}, "abc.def.ghi"),
        ({"authorization": "bearer  abc.def.ghi "}, "abc.def.ghi"),
        ({"Authorization": "Bearer abc", "x-api-key": "lsk_x"}, None),  # one credential
        ({"Authorization": "Basic bHNrX3g6"}, None),
        ({"Authorization": "Bearer "}, None),
        ({}, None),
    ],
)
def test_the_bearer_token_of_a_request(headers: dict[str, str], token: str | None) -> None:
    assert presented_token(headers) == token


# --- the authorizer function with console tokens ---

SAMPLE = json.loads((ROOT / "events" / "authorizer_request.json").read_text())


@pytest.fixture
def authorizer(aws: None, monkeypatch: pytest.MonkeyPatch, pool: Pool, clock: Clock) -> Any:
    monkeypatch.setenv("LEADSCORE_USER_POOL_ID", POOL)
    monkeypatch.setenv("LEADSCORE_USER_POOL_CLIENT_ID", CLIENT)
    module = load_function("authorizer")
    assert module.tokens.jwks_url == JWKS_URL and module.tokens.issuer == ISSUER
    module.tokens = CognitoTokens(ISSUER, CLIENT, JWKS_URL, fetch=pool.fetch, clock=clock)
    return module


def logs(caplog: pytest.LogCaptureFixture) -> str:
    """Every record the authorizer logged, with its extra fields."""
    assert caplog.records, "the authorizer logged nothing: its level is above INFO"
    return "\n".join(json.dumps(vars(record), default=str) for record in caplog.records)


def bearer(token: str) -> dict[str, Any]:
    headers = {k: v for k, v in SAMPLE["headers"].items() if k != "x-api-key"}
    return {**SAMPLE, "headers": {**headers, "Authorization": f"Bearer {token}"}}


def test_the_authorizer_lets_a_console_user_in_by_their_sub_with_their_scopes(
    authorizer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=authorizer.logger.name)
    token = sign(claims(**{"cognito:groups": ["marketing"]}))
    answer = authorizer.lambda_handler(bearer(token), LambdaContext())
    assert answer["principalId"] == SUB
    assert answer["context"] == {"user_id": SUB, "scopes": "admin"}
    [statement] = answer["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*"
    logged = logs(caplog)
    assert SUB in logged
    assert token not in logged and EMAIL not in logged and EMAIL not in json.dumps(answer)


def test_the_authorizer_refuses_a_bad_token_without_logging_it(
    authorizer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=authorizer.logger.name)
    token = sign(claims(aud="another-client"))
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.lambda_handler(bearer(token), LambdaContext())
    logged = logs(caplog)
    assert "another app client" in logged
    assert token not in logged and EMAIL not in logged


def test_the_authorizer_fails_rather_than_refuses_when_the_keys_are_unreachable(
    authorizer: Any, pool: Pool
) -> None:
    pool.down = True
    with pytest.raises(KeysUnavailable):  # API Gateway: 500, try again; the console keeps you
        authorizer.lambda_handler(bearer(sign(claims())), LambdaContext())


def test_without_a_user_pool_bearer_tokens_are_refused(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADSCORE_USER_POOL_ID", raising=False)
    module = load_function("authorizer")
    assert module.tokens is None
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        module.lambda_handler(bearer(sign(claims())), LambdaContext())
