"""Slack notifier Lambda: each sales notification from SNS becomes a Block Kit message."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext
from leadscore.adapters import slack
from leadscore.settings import settings

logger = Logger()
# X-Ray subsegments for the AWS calls (the SSM read), as patch_all gave them, without the
# cold-start cost of importing every other library it knows (pynamodb, sqlite3, httpx, ...).
tracer = Tracer(patch_modules=("botocore",))
config = settings()
if not config.slack_webhook_secret_arn:  # a Secrets Manager secret, else the SSM parameter
    config.require("slack_webhook_parameter")
# email -> Slack member id, to mention a lead's owner; a malformed entry fails the cold start.
members = slack.user_ids(config.slack_user_ids)


@cache
def webhook_url() -> str:
    """The incoming-webhook URL, from Secrets Manager or an SSM SecureString (never literal)."""
    if config.slack_webhook_secret_arn:
        return str(parameters.get_secret(config.slack_webhook_secret_arn))
    return str(parameters.get_parameter(config.slack_webhook_parameter, decrypt=True))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=SNSEvent)
def lambda_handler(event: SNSEvent, context: LambdaContext) -> dict[str, Any]:
    posted = 0
    for record in event.records:
        document = json.loads(record.sns.message)
        logger.append_keys(notification_id=document.get("id"), kind=document.get("kind"))
        # A failure raises: SNS retries the delivery, then the subscription's DLQ keeps it.
        slack.post(webhook_url(), slack.blocks(document, members))
        posted += 1
    return {"posted": posted}
