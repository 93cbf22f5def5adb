"""API Lambda: the keyed routes (events, leads, accounts, models) behind the API key authorizer."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from leadscore import snapstart
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.api.app import KEYED_ROUTES, build, keyed_dependencies
from leadscore.settings import LazyClient, settings

logger = Logger()
# X-Ray subsegments for the AWS calls (boto3, pynamodb), as patch_all gave them, without
# the cold-start cost of importing every other library it knows (sqlite3, httpx, ...).
# Nothing else is recorded: no path (it holds the lead's email), no response (personal data).
tracer = Tracer(patch_modules=("botocore", "pynamodb"))
# No Metrics: the API records none; API Gateway publishes its requests, latency and errors.
# Erasing a lead publishes `account.cooled` at once: the topic is required here too.
config = settings().require("queue_url", "topic_arn")
sqs = LazyClient("sqs", region_name=config.region, endpoint_url=config.endpoint_url)
sns = LazyClient("sns", region_name=config.region, endpoint_url=config.endpoint_url)
dynamodb = LazyClient("dynamodb", region_name=config.region, endpoint_url=config.endpoint_url)
deps = keyed_dependencies(config, sqs, sns, dynamodb, DynamoLeadStore())
app = build(deps, KEYED_ROUTES)
snapstart.register_hooks()  # SnapStart: each restored copy reseeds and reconnects


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
