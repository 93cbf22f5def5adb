"""Scorer Lambda: SQS batches of events become durable, explained scores and sales alerts."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.adapters.dynamo_visitors import DynamoVisitors
from leadscore.adapters.model_store import CachedModels
from leadscore.adapters.queue import DeadLetterQueue
from leadscore.adapters.sns import SnsPublisher
from leadscore.services.scoring import BatchOutcome, score_messages, send_dead_letters
from leadscore.services.visitors import VisitPolicy
from leadscore.settings import LazyClient, settings

logger = Logger()
# X-Ray subsegments for the AWS calls (boto3, pynamodb), as patch_all gave them, without
# the cold-start cost of importing every other library it knows (sqlite3, httpx, ...).
tracer = Tracer(patch_modules=("botocore", "pynamodb"))
metrics = Metrics(namespace="LeadScore")
config = settings().require("topic_arn", "dead_letter_queue_url")
store = DynamoLeadStore()  # its client is made at first use
visitors = DynamoVisitors()
# Nothing is credited from further back than it is kept (TTL may lag: expired is not credited).
visit_policy = VisitPolicy(
    keep_days=config.visitor_days, credit_days=min(config.credit_days, config.visitor_days)
)
models = CachedModels(ttl=config.model_cache_seconds)
publisher = SnsPublisher(LazyClient("sns", region_name=config.region), config.topic_arn)
dead_letters = DeadLetterQueue(
    LazyClient("sqs", region_name=config.region), config.dead_letter_queue_url
)
processor = BatchProcessor(event_type=EventType.SQS)


def _record_metrics(outcome: BatchOutcome) -> None:
    stats = outcome.stats
    metrics.add_metric("EventsScored", MetricUnit.Count, stats.events_scored)
    metrics.add_metric("DuplicatesSkipped", MetricUnit.Count, stats.duplicates)
    metrics.add_metric("MQLs", MetricUnit.Count, stats.mqls)
    metrics.add_metric("Cooled", MetricUnit.Count, stats.cooled)
    metrics.add_metric("ConflictsRetried", MetricUnit.Count, stats.conflicts_retried)
    metrics.add_metric("ErasedEventsDropped", MetricUnit.Count, stats.dropped_erased)
    metrics.add_metric("MQAs", MetricUnit.Count, stats.account_mqas)
    metrics.add_metric("AccountsCooled", MetricUnit.Count, stats.account_cooled)
    metrics.add_metric("FutureDatedEvents", MetricUnit.Count, stats.future_dated)
    metrics.add_metric("DeadLettered", MetricUnit.Count, stats.dead_lettered)
    visits = outcome.visits
    metrics.add_metric("VisitsKept", MetricUnit.Count, visits.kept)
    metrics.add_metric("VisitorsLinked", MetricUnit.Count, visits.linked)
    metrics.add_metric("VisitsCredited", MetricUnit.Count, visits.credited)


@logger.inject_lambda_context(correlation_id_path="Records[0].messageId")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # The whole batch is scored together (grouped by lead, one read, one transaction);
    # the processor then reports the records that failed, one by one.
    records = event.get("Records", [])
    outcome = score_messages(
        [(r.get("messageId", ""), r.get("body", "")) for r in records],
        store,
        models,
        publisher,
        retention_days=config.event_retention_days,
        attempts=config.write_attempts,
        untrusted_per_hour=config.untrusted_events_per_hour,
        visitors=visitors,
        visit_policy=visit_policy,
    )
    send_dead_letters(outcome, dead_letters)
    _record_metrics(outcome)

    def record_handler(record: SQSRecord) -> None:
        if record.message_id in outcome.failed:
            raise RuntimeError("record not scored; SQS will redeliver it")

    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
