"""API key authorizer (API Gateway REQUEST authorizer): a key's scopes from its SHA-256.

API Gateway caches the answer per key (the Api's ReauthorizeEvery), so the policy allows
every route of the stage and the keyed function checks the route's scope against the
`scopes` passed in the context. An unknown or revoked key raises `Unauthorized` (401).
Small on purpose: its cold start is the first request of every key.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from leadscore.adapters.api_keys import ApiKeys, presented_key
from leadscore.settings import LazyClient, settings

logger = Logger()
config = settings()
keys = ApiKeys(
    LazyClient("dynamodb", region_name=config.region, endpoint_url=config.endpoint_url),
    config.table_name,
)


def stage_routes(method_arn: str) -> str:
    """`arn:...:api-id/stage/*`: every route of the stage (the answer is cached per key)."""
    api, stage = method_arn.split("/", 2)[:2]
    return f"{api}/{stage}/*"


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # x-api-key, or HTTP Basic with the key as user (the Segment source's authorizer).
    key = presented_key(event.get("headers") or {})
    record = keys.verify(key) if key else None
    if record is None:
        logger.info("refused an unknown or revoked API key")  # never the key itself
        raise Exception("Unauthorized")  # API Gateway answers 401 to exactly this message
    logger.info("API key accepted", extra={"key_id": record.key_id})
    return {
        "principalId": record.key_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": stage_routes(event["methodArn"]),
                }
            ],
        },
        "context": {"key_id": record.key_id, "scopes": " ".join(record.scopes)},
    }
