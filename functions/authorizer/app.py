"""The API's authorizer (API Gateway REQUEST authorizer): who calls, and with which scopes.

A scoped API key (`x-api-key`, or HTTP Basic with the key as user: the Segment source's
authorizer) is found by its SHA-256; the console's `Authorization: Bearer <ID token>` is
verified against the Cognito user pool (its groups give the scopes). The policy allows every
route of the stage and the keyed function checks the route's scope against the `scopes`
passed in the context. Anything else raises `Unauthorized` (401).
Small on purpose: it runs before every keyed request.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from leadscore.adapters.api_keys import ApiKeys, RememberedKeys, presented_key
from leadscore.adapters.cognito_tokens import CognitoTokens, TokenRefused, presented_token
from leadscore.settings import LazyClient, settings

logger = Logger()
config = settings()
# A key found is remembered a minute per container (a revocation holds within it).
keys = RememberedKeys(
    ApiKeys(
        LazyClient("dynamodb", region_name=config.region, endpoint_url=config.endpoint_url),
        config.table_name,
    )
)
# Without a pool (a template that has none), Bearer tokens are refused like unknown keys.
tokens = (
    CognitoTokens.for_pool(
        config.region, config.user_pool_id, config.user_pool_client_id, config.endpoint_url
    )
    if config.user_pool_id and config.user_pool_client_id
    else None
)


def stage_routes(method_arn: str) -> str:
    """`arn:...:api-id/stage/*`: every route of the stage (an answer may be cached per key)."""
    api, stage = method_arn.split("/", 2)[:2]
    return f"{api}/{stage}/*"


def allow(method_arn: str, principal: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": stage_routes(method_arn),
                }
            ],
        },
        "context": context,
    }


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    headers = event.get("headers") or {}
    token = presented_token(headers)
    if token is not None:
        return signed_in(token, event["methodArn"])
    # x-api-key, or HTTP Basic with the key as user (the Segment source's authorizer).
    key = presented_key(headers)
    record = keys.verify(key) if key else None
    if record is None:
        logger.info("refused an unknown or revoked API key")  # never the key itself
        raise Exception("Unauthorized")  # API Gateway answers 401 to exactly this message
    logger.info("API key accepted", extra={"key_id": record.key_id})
    scopes = " ".join(record.scopes)
    return allow(event["methodArn"], record.key_id, {"key_id": record.key_id, "scopes": scopes})


def signed_in(token: str, method_arn: str) -> dict[str, Any]:
    """A console user's answer: their `sub` and their groups' scopes. A pool whose keys cannot
    be fetched fails the authorizer (500, try again), it does not sign anyone out."""
    try:
        user = tokens.verify(token) if tokens else None
    except TokenRefused as refused:
        logger.info("refused a console token", extra={"reason": str(refused)})  # never the token
        raise Exception("Unauthorized") from None
    if user is None:
        logger.info("refused a console token: no user pool is configured")
        raise Exception("Unauthorized")
    logger.info("console user accepted", extra={"user_id": user.subject})
    scopes = " ".join(user.scopes)
    return allow(method_arn, user.subject, {"user_id": user.subject, "scopes": scopes})
