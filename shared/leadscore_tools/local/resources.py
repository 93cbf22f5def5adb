"""Create what the template declares (table, queues, topics) in moto, and publish the models."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadscore_tools.template import Stack


def create_resources(stack: Stack, clients: Any) -> None:
    """Tables with their TTL, queues (dead-letter queues first, for the redrive), topics."""
    dynamodb, sqs, sns = clients.client("dynamodb"), clients.client("sqs"), clients.client("sns")
    for table in stack.tables.values():
        dynamodb.create_table(TableName=table.name, **table.definition)
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
            )
    for queue in sorted(stack.queues.values(), key=lambda q: q.dead_letter_queue is not None):
        attributes = {"VisibilityTimeout": str(queue.visibility_timeout)}
        if queue.fifo:
            attributes["FifoQueue"] = "true"
        if queue.dead_letter_queue:
            attributes["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": stack.queues[queue.dead_letter_queue].arn,
                    "maxReceiveCount": queue.max_receive_count,
                }
            )
        url = sqs.create_queue(QueueName=queue.name, Attributes=attributes)["QueueUrl"]
        if url != queue.url:  # the environment handed to the functions holds queue.url
            raise RuntimeError(f"moto named queue {queue.name} {url}, expected {queue.url}")
    for topic in stack.topics.values():
        arn = sns.create_topic(Name=topic.name)["TopicArn"]
        if arn != topic.arn:
            raise RuntimeError(f"moto named topic {topic.name} {arn}, expected {topic.arn}")


class ModelFileError(Exception):
    """A file in models/ is not a usable scoring model."""


def publish_models(directory: Path, now: datetime | None = None) -> list[tuple[str, int]]:
    """Every model file in `directory`, published as `PUT /v1/models/{id}` would."""
    from leadscore.adapters import model_store  # after the environment points pynamodb at moto
    from leadscore.domain.model import ModelError

    from leadscore_tools.modelfiles import load_model

    published = []
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            document = load_model(path)
        except ModelError as error:
            raise ModelFileError(f"{path.relative_to(directory.parent)}: {error}") from None
        model = model_store.publish(document, now or datetime.now(UTC))
        published.append((model.id, int(model.version or 0)))
    return published


class Clients:
    """boto3 clients for moto (created once: the pollers share them across threads)."""

    def __init__(self, endpoint: str, region: str = "us-east-1") -> None:
        import boto3

        self._session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 (moto's fake credentials)
            region_name=region,
        )
        self._endpoint = endpoint
        self._clients: dict[str, Any] = {}

    def client(self, name: str) -> Any:
        if name not in self._clients:
            session: Any = self._session  # boto3-stubs want a literal service name
            self._clients[name] = session.client(name, endpoint_url=self._endpoint)
        return self._clients[name]
