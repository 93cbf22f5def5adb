"""API Lambda: forms, events, webhooks, leads and models over API Gateway (REST)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from leadscore.api.app import build, dependencies_from
from leadscore.settings import LazyClient, settings

logger = Logger()
# X-Ray subsegments for the AWS calls (boto3, pynamodb), as patch_all gave them, without
# the cold-start cost of importing every other library it knows (sqlite3, httpx, ...).
tracer = Tracer(patch_modules=("botocore", "pynamodb"))
metrics = Metrics(namespace="LeadScore")
sqs = LazyClient("sqs", region_name=settings().region, endpoint_url=settings().endpoint_url)
deps = dependencies_from(os.environ, sqs, settings().queue_url)
app = build(deps)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
