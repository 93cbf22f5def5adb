"""The issue's Mailgun replay through the deployed public function, on the moto table: the
signature block is taken once, the forged body after it is refused and nothing is enqueued."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from leadscore.adapters.webhooks import env_name

from tests.conftest import LambdaContext, load_function, table_items
from tests.integration.api_client import proxy_event

KEY = "mailgun-signing-key"
NOW = datetime.now(UTC).replace(microsecond=0)


def delivery(event: str, event_id: str, signed_at: datetime) -> str:
    timestamp, token = str(int(signed_at.timestamp())), "c" * 50
    signature = hmac.new(KEY.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    data = {
        "id": event_id,
        "event": event,
        "timestamp": signed_at.timestamp(),
        "recipient": "vp@buyer.test",
    }
    return json.dumps(
        {
            "signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": data,
        }
    )


def post(module: Any, body: str) -> dict[str, Any]:
    event = proxy_event("POST", "/v1/webhooks/mailgun", body, {"Content-Type": "application/json"})
    answer: dict[str, Any] = module.lambda_handler(event, LambdaContext())
    return answer


def test_a_replayed_mailgun_block_is_refused_by_the_public_function(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="scoring")["QueueUrl"]
    monkeypatch.setenv("QUEUE_URL", queue_url)
    monkeypatch.setenv(env_name("mailgun"), KEY)
    module = load_function("public_api")
    signed_at = NOW - timedelta(minutes=30)

    assert post(module, delivery("opened", "ev-1", signed_at))["statusCode"] == 200
    replay = post(module, delivery("complained", "forged", signed_at))
    assert replay["statusCode"] == 406, replay["body"]
    assert json.loads(replay["body"])["status"] == 406

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    events = [e for m in messages for e in json.loads(m["Body"])["events"]]
    assert [e["type"] for e in events] == ["email_open"]
    [record] = table_items("REPLAY#mailgun#").values()
    assert int(record["expires_at"]["N"]) == int(signed_at.timestamp()) + 8 * 3600 + 1800
