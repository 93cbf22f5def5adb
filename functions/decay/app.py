"""Decay Lambda: on schedule, decay inactive leads and flag overdue follow-ups as of a time.

The instant comes from the event (EventBridge Scheduler input `{"time": ISO}`, or the
`time` field of a scheduled event), so a run can be replayed for any instant. A run that
nears the Lambda timeout returns `{"complete": false, "cursor": ...}`; invoke it again with
that cursor and the same time to continue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.adapters.model_store import CachedModels
from leadscore.adapters.sns import SnsPublisher
from leadscore.services.decay import run_decay
from leadscore.settings import LazyClient, settings

logger = Logger()
# X-Ray subsegments for the AWS calls (boto3, pynamodb), as patch_all gave them, without
# the cold-start cost of importing every other library it knows (sqlite3, httpx, ...).
tracer = Tracer(patch_modules=("botocore", "pynamodb"))
metrics = Metrics(namespace="LeadScore")
config = settings().require("topic_arn")
store = DynamoLeadStore()
models = CachedModels(ttl=config.model_cache_seconds)
publisher = SnsPublisher(LazyClient("sns", region_name=config.region), config.topic_arn)
MARGIN_SECONDS = 20.0  # stop this long before the timeout: one page must still fit


def scheduled_time(event: dict[str, Any]) -> datetime:
    value = event.get("time")
    if not isinstance(value, str) or not value:
        raise ValueError("the event needs a `time` (ISO 8601)")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    at = scheduled_time(event)
    outcome = run_decay(
        at,
        store,
        models,
        publisher,
        deadline=lambda: context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS,
        cursor=event.get("cursor"),
        retention_days=config.event_retention_days,
        attempts=config.write_attempts,
    )
    stats = outcome.stats
    metrics.add_metric("DueFound", MetricUnit.Count, stats.found)
    metrics.add_metric("Decayed", MetricUnit.Count, stats.decayed)
    metrics.add_metric("SlaBreached", MetricUnit.Count, stats.sla_breached)
    metrics.add_metric("Cooled", MetricUnit.Count, stats.cooled)
    metrics.add_metric("ConflictsRetried", MetricUnit.Count, stats.conflicts_retried)
    logger.info("decay run", time=at.isoformat(), **outcome.to_dict())
    return {**outcome.to_dict(), "time": at.isoformat()}
