"""Public API Lambda: health, website forms, platform webhooks and website tracking (the
snippet, GET /v1/t.js, and what it sends, POST /v1/collect), with no API key.

Its role can enqueue events, read the webhook secrets and record replayed webhook tokens;
it reads no lead.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from leadscore import snapstart
from leadscore.api.public import build, public_dependencies
from leadscore.settings import LazyClient, settings

logger = Logger()
# X-Ray subsegments for the AWS calls (SQS, SSM) only: no path, no response.
tracer = Tracer(patch_modules=("botocore",))
config = settings().require("queue_url")
sqs = LazyClient("sqs", region_name=config.region, endpoint_url=config.endpoint_url)
deps = public_dependencies(config, sqs)
app = build(deps)
snapstart.register_hooks()  # SnapStart: each restored copy reseeds and reconnects


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
