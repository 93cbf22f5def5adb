"""Rescore Lambda: each message of the rescore queue is a list step or a chunk of a job."""

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
from leadscore.adapters.dynamo_rescore_jobs import DynamoRescoreJobs
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.adapters.model_store import DynamoModelCatalog
from leadscore.adapters.rescore_queue import SqsRescoreQueue
from leadscore.adapters.sns import SnsPublisher
from leadscore.services.rescore import Rescorer
from leadscore.settings import LazyClient, settings

logger = Logger()
tracer = Tracer(patch_modules=("botocore", "pynamodb"))  # as the scorer: AWS calls only
metrics = Metrics(namespace="LeadScore")
config = settings().require("topic_arn", "rescore_queue_url")
sqs = LazyClient("sqs", region_name=config.region, endpoint_url=config.endpoint_url)
sns = LazyClient("sns", region_name=config.region, endpoint_url=config.endpoint_url)
rescorer = Rescorer(
    SqsRescoreQueue(sqs, config.rescore_queue_url),
    SnsPublisher(sns, config.topic_arn),
    DynamoRescoreJobs(),
    DynamoLeadStore(),
    DynamoModelCatalog(),
    attempts=config.write_attempts,
    retention_days=config.event_retention_days,
    max_receives=config.rescore_max_receive_count,
)
processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    rescorer.handle(record.body, int(record.attributes.approximate_receive_count or 1))


@logger.inject_lambda_context(correlation_id_path="Records[0].messageId")
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    metrics.add_metric("RescoreMessages", MetricUnit.Count, len(event.get("Records", [])))
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
