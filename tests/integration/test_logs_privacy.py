"""No personal data in logs in clear: every function, driven with canary values, logs none.

Each test runs real handlers against moto with a lead whose email, names, phone, IP address
and company are distinctive, captures everything the function would send to CloudWatch Logs
(Powertools' JSON lines and metrics on stdout, records of the `logging` module, the exception
a handler lets out, which Lambda logs), and checks that none of those values appears, while
the lines ops need (what failed, which message, which hashed lead) are there.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError
from leadscore.adapters import model_store
from leadscore.adapters.dynamo import EventItem, LeadTable, event_sk, lead_pk
from leadscore.adapters.dynamo_rescore_jobs import DynamoRescoreJobs
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.adapters.rescore_queue import SqsRescoreQueue
from leadscore.adapters.webhooks import env_name
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.domain.messages import encode
from leadscore.services import decay as decay_service
from leadscore.services import rescore
from leadscore.services.rescore_jobs import JobOptions
from leadscore.services.scoring import score_messages
from leadscore.services.store import shard_of
from leadscore_tools.modelfiles import load_model
from leadscore_tools.template import load_template

from tests.conftest import ROOT, FakeSlack, LambdaContext, Recorder, Topic, load_function
from tests.integration.api_client import Answer, Api, make_api, proxy_event

EMAIL = "privacy.canary+1@canary-corp.example"
FIRST_NAME, LAST_NAME = "Zephyrine", "Quillfeather"
PHONE = "+1 202-555-0143"
IP = "198.51.100.77"
COMPANY = "Canarywood Holdings"
# Lower-cased on both sides; the email's local part also catches encoded forms of the email.
PERSONAL = (
    EMAIL,
    "privacy.canary",
    FIRST_NAME,
    LAST_NAME,
    PHONE,
    "555-0143",
    "5550143",
    IP,
    COMPANY,
)
PROFILE = {
    "first_name": FIRST_NAME,
    "last_name": LAST_NAME,
    "phone": PHONE,
    "company": COMPANY,
    "job_title": "VP Sales",
    "industry": "software",
    "company_size": "201-500",
    "country": "US",
}
KEY = {"x-api-key": "k"}
BASIC = "crm-hooks:correct horse battery"
GLOBALS = load_template()["Globals"]["Function"]
TEMPLATE_ENV = GLOBALS["Environment"]["Variables"]
LOG_LEVEL = GLOBALS["LoggingConfig"]["ApplicationLogLevel"]
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


# ---------------------------------------------------------------- capturing what is logged


class Logs:
    """What reaches CloudWatch Logs from a function: stdout (Powertools' JSON lines, EMF
    metrics) through capfd, records of the logging module through a root handler, and the
    exceptions a handler lets out (the Lambda runtime logs their message and traceback)."""

    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        self._capfd = capfd
        self._out: list[str] = []
        self.records: list[str] = []
        self.raised: list[str] = []

    def lines(self) -> list[str]:
        out, err = self._capfd.readouterr()
        self._out += (out + err).splitlines()
        return [*self._out, *self.records, *self.raised]

    def entries(self) -> list[dict[str, Any]]:
        """Powertools' structured lines (JSON objects on stdout)."""
        self.lines()
        found = []
        for line in self._out:
            if line.startswith("{"):
                try:
                    document = json.loads(line)
                except ValueError:
                    continue
                if isinstance(document, dict) and "message" in document:
                    found.append(document)
        return found

    def with_message(self, message: str) -> list[dict[str, Any]]:
        return [e for e in self.entries() if e.get("message") == message]

    def invoke(self, handler: Callable[..., Any], event: Any, context: Any = None) -> Any:
        """Call a handler as Lambda does; an exception it raises is logged by the runtime."""
        try:
            return handler(event, context or LambdaContext())
        except Exception as error:
            self.raised.append("".join(traceback.format_exception(error)))
            return error

    def assert_no_personal_data(self) -> None:
        lines = self.lines()
        assert lines, "nothing was captured: the check would pass vacuously"
        leaks = [
            (value, line[:600])
            for line in lines
            for value in PERSONAL
            if value.lower() in line.lower()
        ]
        assert not leaks, "personal data in clear in the logs:\n" + "\n".join(
            f"{value!r} in: {line}" for value, line in leaks
        )


class _Stdout:
    """sys.stdout as it is when written to."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class _Records(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.getLevelName(LOG_LEVEL))
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a record whose args do not fit: keep both
            message = f"{record.msg!r} % {record.args!r}"
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        text = f"{record.name} {record.levelname} {message} {extras!r}"
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.sink.append(text)


@pytest.fixture
def logs(capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Logs]:
    """Log as deployed: the template's level (Lambda's ALC sets AWS_LAMBDA_LOG_LEVEL) and its
    Powertools settings; every leadscore logger at that level while the test runs."""
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", LOG_LEVEL)
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", LOG_LEVEL)
    for name in ("POWERTOOLS_LOGGER_LOG_EVENT", "POWERTOOLS_TRACER_CAPTURE_RESPONSE"):
        monkeypatch.setenv(name, str(TEMPLATE_ENV[name]))
    service = str(TEMPLATE_ENV["POWERTOOLS_SERVICE_NAME"])
    Logger(service=service)  # makes sure the service's handler exists
    parent = logging.getLogger(service)
    before = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and name.split(".")[0] == service
    }
    for name in before:
        logging.getLogger(name).setLevel(LOG_LEVEL)
    # Powertools' handler keeps the stdout it was made with (an earlier test's capture):
    # make it write to the stdout of the moment, which capfd captures.
    handler: logging.StreamHandler[Any] = parent.powertools_handler  # type: ignore[attr-defined]
    old_stream = handler.stream  # may be closed: swapped without setStream's flush
    handler.stream = _Stdout()
    captured = Logs(capfd)
    records = _Records(captured.records)
    root_level = logging.root.level
    logging.root.addHandler(records)
    logging.root.setLevel(LOG_LEVEL)
    try:
        yield captured
    finally:
        logging.root.removeHandler(records)
        logging.root.setLevel(root_level)
        handler.stream = old_stream
        for name, logger in list(logging.root.manager.loggerDict.items()):
            if isinstance(logger, logging.Logger) and name.split(".")[0] == service:
                logger.setLevel(before.get(name, before[service]))


# ---------------------------------------------------------------- helpers


def fail_with(code: str, message: str, **response: Any) -> Callable[..., None]:
    """A botocore before-call hook that fails the call as AWS would."""

    error: Any = {"Error": {"Code": code, "Message": message}, **response}

    def hook(model: Any, **_: Any) -> None:
        raise ClientError(error, model.name)

    return hook


class DynamoHooks:
    """Hooks on pynamodb's models' client (reads) and a store's own (transactions)."""

    def __init__(self, store: Any = None) -> None:
        self._emitters = [LeadTable._get_connection().connection.client.meta.events]
        if store is not None:
            self._emitters.append(store.connection.client.meta.events)

    def register(self, name: str, hook: Callable[..., None]) -> None:
        for emitter in self._emitters:
            emitter.register(name, hook)

    def unregister(self, name: str, hook: Callable[..., None]) -> None:
        for emitter in self._emitters:
            emitter.unregister(name, hook)


def sqs_records(messages: list[tuple[str, str]], receive_count: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"handle-{message_id}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": str(receive_count)},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q",
                "awsRegion": "us-east-1",
            }
            for message_id, body in messages
        ]
    }


def canary_events(prefix: str, at: datetime, email: str = EMAIL) -> list[tuple[str, Event]]:
    """A hot lead: a demo request with the full profile, meetings, a page view from its IP."""
    return [
        (email, Event(f"{prefix}-d1", "demo_request", at, None, {"ip": IP}, PROFILE)),
        (email, Event(f"{prefix}-m1", "meeting_booked", at + timedelta(minutes=1))),
        (email, Event(f"{prefix}-m2", "meeting_booked", at + timedelta(minutes=2))),
        (
            email,
            Event(
                f"{prefix}-p1",
                "page_view",
                at + timedelta(minutes=3),
                None,
                {"url": f"https://vendor.example/pricing?email={quote(email)}", "ip": IP},
            ),
        ),
    ]


def publish_model(at: datetime) -> model_store.CachedModels:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), at)
    return model_store.CachedModels(ttl=0)


# ---------------------------------------------------------------- the check itself


def test_the_check_finds_a_value_logged_in_clear(logs: Logs) -> None:
    """Powertools' JSON lines, other libraries' records and raised exceptions are all read."""
    Logger(child=True).warning("lead seen", lead=EMAIL.upper())
    logging.getLogger("botocore.endpoint").info("calling %s", PHONE)
    logs.invoke(lambda event, context: {}[event], COMPANY)
    with pytest.raises(AssertionError) as found:
        logs.assert_no_personal_data()
    report = str(found.value)
    assert logs.with_message("lead seen") and any(PHONE in r for r in logs.records)
    for value in (EMAIL, PHONE, COMPANY):
        assert f"{value!r} in:" in report


# ---------------------------------------------------------------- the template


def test_the_template_keeps_events_and_responses_out_of_logs_and_traces() -> None:
    assert str(TEMPLATE_ENV["POWERTOOLS_LOGGER_LOG_EVENT"]).lower() == "false"
    assert str(TEMPLATE_ENV["POWERTOOLS_TRACER_CAPTURE_RESPONSE"]).lower() == "false"
    for name, resource in load_template()["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        variables = (resource["Properties"].get("Environment") or {}).get("Variables") or {}
        for setting in (
            "POWERTOOLS_LOGGER_LOG_EVENT",
            "POWERTOOLS_TRACER_CAPTURE_RESPONSE",
            "POWERTOOLS_DEV",
            "POWERTOOLS_EVENT_HANDLER_DEBUG",
        ):
            assert str(variables.get(setting, "false")).lower() == "false", (name, setting)


# ---------------------------------------------------------------- API Gateway's access log


def access_log_line(context: dict[str, str]) -> str:
    """The access log line API Gateway writes for a request, from the template's format."""
    setting = load_template()["Resources"]["Api"]["Properties"]["AccessLogSetting"]
    return re.sub(
        r"\$context\.([A-Za-z.]+)", lambda m: context.get(m.group(1), "-"), setting["Format"]
    )


CANARY_REQUEST = {
    "requestId": "req-privacy-1",
    "identity.sourceIp": IP,
    "identity.userAgent": f"Mozilla/5.0 ({FIRST_NAME} {LAST_NAME})",
    "authorizer.principalId": "key-1",
    "httpMethod": "GET",
    "resourcePath": "/v1/leads/{email}",
    "path": f"/v1/leads/{quote(EMAIL)}",
    "status": "200",
}


def test_api_access_log_names_the_route_not_the_lead() -> None:
    line = json.loads(access_log_line(CANARY_REQUEST))
    assert line["requestId"] == "req-privacy-1" and line["route"] == "/v1/leads/{email}"
    assert line["status"] == "200" and line["keyId"] == "key-1"
    text = json.dumps(line).lower()
    assert [v for v in PERSONAL if v.lower() in text and v != IP] == []


def test_api_access_log_holds_no_client_ip_address() -> None:
    assert IP not in access_log_line(CANARY_REQUEST)


# ---------------------------------------------------------------- api


class CanaryApi:
    """The API handler called from the canary's IP (request context and X-Forwarded-For)."""

    def __init__(self, api: Api, logs: Logs) -> None:
        self.api = api
        self.logs = logs
        self.requests = 0

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[Answer, str]:
        headers = {"X-Forwarded-For": IP, "User-Agent": f"curl ({EMAIL})", **(headers or {})}
        if body is not None and not isinstance(body, str | bytes):
            body = json.dumps(body)
            headers.setdefault("content-type", "application/json")
        event = proxy_event(method, path, body, headers=headers)
        self.requests += 1
        request_id = f"req-privacy-{self.requests}"
        event["requestContext"]["requestId"] = request_id
        event["requestContext"]["identity"]["sourceIp"] = IP
        answer = self.logs.invoke(self.api.module.lambda_handler, event)
        assert isinstance(answer, dict), answer
        return Answer(answer["statusCode"], answer.get("headers") or {}, answer["body"]), request_id


@pytest.fixture
def canary_api(aws: None, topic: Topic, logs: Logs, monkeypatch: pytest.MonkeyPatch) -> CanaryApi:
    publish_model(datetime.now(UTC))
    api = make_api(
        monkeypatch,
        LEADSCORE_API_KEY="k",
        MODEL_CACHE_SECONDS="0",
        **{env_name("basic:postmark"): BASIC},
    )
    return CanaryApi(api, logs)


def score_what_is_queued(api: Api, logs: Logs) -> None:
    scorer = load_function("scorer")
    messages = [(m["MessageId"], m["Body"]) for m in api.queued()]
    assert messages
    answer = logs.invoke(scorer.lambda_handler, sqs_records(messages))
    assert answer == {"batchItemFailures": []}


def test_api_routes_and_their_errors_log_no_personal_data(
    canary_api: CanaryApi, logs: Logs
) -> None:
    call = canary_api.call
    form = {
        "email": EMAIL,
        **PROFILE,
        "form": "demo-request",
        "page_url": f"https://www.example.com/demo?email={quote(EMAIL)}",
        "ip_address": IP,
        "message": f"Call {FIRST_NAME} {LAST_NAME} at {PHONE}",
    }
    assert call("POST", "/v1/forms", form)[0].status == 202
    urlencoded = {"content-type": "application/x-www-form-urlencoded"}
    assert call("POST", "/v1/forms", urlencode(form), urlencoded)[0].status == 202
    events = [
        {"email": EMAIL, "type": "demo_request", "id": "e1", "profile": PROFILE},
        {"email": EMAIL, "type": "page_view", "id": "e2", "properties": {"ip": IP}},
    ]
    assert call("POST", "/v1/events", events, KEY)[0].status == 202
    postmark = {
        "RecordType": "Click",
        "Recipient": EMAIL,
        "MessageID": "pm-canary",
        "ReceivedAt": "2026-01-01T10:00:00Z",
        "OriginalLink": f"https://vendor.example/case-study?who={quote(EMAIL)}",
        "Geo": {"IP": IP},
    }
    basic = {"Authorization": "Basic " + base64.b64encode(BASIC.encode()).decode()}
    answer, _ = call("POST", "/v1/webhooks/postmark", json.dumps(postmark), basic)
    assert answer.status == 200, answer.body
    score_what_is_queued(canary_api.api, logs)

    encoded = quote(EMAIL)
    assert call("GET", f"/v1/leads/{encoded}", headers=KEY)[0].status == 200
    assert call("GET", f"/v1/leads/{encoded}/history", headers=KEY)[0].status == 200
    note = {"outcome": "won", "note": f"{FIRST_NAME} {LAST_NAME} signed, {PHONE}"}
    assert call("POST", f"/v1/leads/{encoded}/feedback", note, KEY)[0].status == 202
    account, _ = call("GET", "/v1/accounts/canary-corp.example", headers=KEY)
    assert account.status == 200 and FIRST_NAME in account.body  # its people, named

    # Refusals: the values sent are in the request, never in the logs.
    bad_email = f"{FIRST_NAME} {LAST_NAME} <privacy.canary+1 at canary-corp.example>"
    assert call("POST", "/v1/forms", {**form, "email": bad_email})[0].status == 422
    bad_events = [
        {"email": bad_email, "type": "page_view"},
        {"email": EMAIL, "type": "page_view", "occurred_at": f"{FIRST_NAME} {PHONE}"},
    ]
    assert call("POST", "/v1/events", bad_events, KEY)[0].status == 422
    assert call("GET", f"/v1/leads/{quote(bad_email)}", headers=KEY)[0].status == 422
    assert call("POST", "/v1/events", events)[0].status == 401
    wrong = {"Authorization": "Basic " + base64.b64encode(b"x:" + EMAIL.encode()).decode()}
    assert call("POST", "/v1/webhooks/postmark", json.dumps(postmark), wrong)[0].status == 401

    # Faults of a dependency: a 500 whose exception is logged, with the request's id.
    sqs_events = canary_api.api.module.sqs.meta.events
    unavailable = fail_with("ServiceUnavailable", "Service Unavailable")
    sqs_events.register("before-call.sqs.SendMessageBatch", unavailable)
    try:
        answer, queue_fault = call("POST", "/v1/forms", form)
        assert answer.status == 500
    finally:
        sqs_events.unregister("before-call.sqs.SendMessageBatch", unavailable)
    throttled = fail_with("ProvisionedThroughputExceededException", "Rate exceeded")
    DynamoHooks().register("before-call.dynamodb.Query", throttled)
    try:
        answer, table_fault = call("GET", f"/v1/leads/{encoded}", headers=KEY)
        assert answer.status == 500
    finally:
        DynamoHooks().unregister("before-call.dynamodb.Query", throttled)

    assert call("DELETE", f"/v1/leads/{encoded}", headers=KEY)[0].status == 204

    logs.assert_no_personal_data()
    failures = logs.with_message("request failed")
    assert [f["correlation_id"] for f in failures] == [queue_fault, table_fault]
    assert "ServiceUnavailable" in failures[0]["exception"]
    assert "ProvisionedThroughputExceeded" in failures[1]["exception"]
    assert all(f["level"] == "ERROR" and f["function_request_id"] for f in failures)


# ---------------------------------------------------------------- scorer


def test_scorer_batches_poison_messages_and_failed_writes_log_no_personal_data(
    aws: None, topic: Topic, logs: Logs
) -> None:
    now = datetime.now(UTC)
    publish_model(now - timedelta(days=1))
    scorer = load_function("scorer")
    key = lead_key(EMAIL)
    body = next(encode(canary_events("s", now - timedelta(minutes=10)), now))
    received_at = int(now.timestamp())
    other = next(encode([("someone@other.example", Event("o1", "page_view", now))], now))
    poison = {
        "not-json": body[: len(body) // 2],
        "bad-email": json.dumps(
            {
                "v": 1,
                "received_at": received_at,
                "events": [{"email": f"{FIRST_NAME} {LAST_NAME} <{EMAIL}", "type": "page_view"}],
            }
        ),
        "bad-time": json.dumps(
            {
                "v": 1,
                "received_at": received_at,
                "events": [
                    {
                        "email": EMAIL,
                        "type": "page_view",
                        "id": "t1",
                        "occurred_at": f"{FIRST_NAME} {PHONE} {IP}",
                    }
                ],
            }
        ),
        "not-ours": json.dumps({"email": EMAIL, "phone": PHONE, "company": COMPANY}),
    }
    # A normal batch whose MQL alert cannot be published yet (SNS down), with poison beside it.
    sns_events = scorer.publisher._client.meta.events
    sns_down = fail_with("InternalError", "Internal Error")
    sns_events.register("before-call.sns.Publish", sns_down)
    try:
        answer = logs.invoke(
            scorer.lambda_handler,
            sqs_records([("m-canary", body), *poison.items(), ("m-other", other)]),
        )
    finally:
        sns_events.unregister("before-call.sns.Publish", sns_down)
    assert isinstance(answer, dict)
    assert {f["itemIdentifier"] for f in answer["batchItemFailures"]} == {"m-canary"}
    # The poison is in the DLQ, with a reason that names no one.
    letters = topic.dead_letters()
    assert len(letters) == len(poison)
    for _, reason in letters:
        assert reason.startswith("unreadable: ")
        assert not any(secret.lower() in reason.lower() for secret in PERSONAL)
    # SQS redelivers it: the alert goes out.
    assert logs.invoke(scorer.lambda_handler, sqs_records([("m-canary", body)])) == {
        "batchItemFailures": []
    }
    assert [m["MessageAttributes"]["kind"]["Value"] for m in topic.received()] == ["lead.mql"]

    # A write throttled after botocore's retries: the batch is redelivered.
    later = next(encode(canary_events("t", now - timedelta(minutes=5)), now))
    throttled = fail_with("ThrottlingException", "Rate of requests exceeds the allowed throughput.")
    DynamoHooks(scorer.store).register("before-call.dynamodb.TransactWriteItems", throttled)
    try:
        answer = logs.invoke(scorer.lambda_handler, sqs_records([("m-throttled", later)]))
    finally:
        DynamoHooks(scorer.store).unregister("before-call.dynamodb.TransactWriteItems", throttled)
    assert isinstance(answer, BatchProcessingError)  # its only record failed: Lambda retries

    # A write that keeps conflicting with another writer.
    conflict = fail_with(
        "TransactionCanceledException",
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[ConditionalCheckFailed]",
        CancellationReasons=[{"Code": "ConditionalCheckFailed", "Message": "condition failed"}],
    )
    DynamoHooks(scorer.store).register("before-call.dynamodb.TransactWriteItems", conflict)
    try:
        answer = logs.invoke(scorer.lambda_handler, sqs_records([("m-conflict", later)]))
    finally:
        DynamoHooks(scorer.store).unregister("before-call.dynamodb.TransactWriteItems", conflict)
    assert isinstance(answer, BatchProcessingError)

    logs.assert_no_personal_data()
    unreadable = logs.with_message("unreadable scoring message")
    unreadable += logs.with_message("unreadable scoring events")  # in a message of ours
    assert sorted(e["message_id"] for e in unreadable) == sorted(poison)
    assert all(e["reason"] and e["correlation_id"] == "m-canary" for e in unreadable)
    [unpublished] = logs.with_message("publish failed; the notification stays pending")
    assert unpublished["key"] == key[:12] and "InternalError" in unpublished["exception"]
    [failed] = logs.with_message("scoring failed; the batch's records will be redelivered")
    assert "ThrottlingException" in failed["exception"]
    assert failed["correlation_id"] == "m-throttled"
    [conflicting] = logs.with_message("lead kept conflicting")
    assert conflicting["lead"] == key[:12]
    assert any('"_aws"' in line and "EventsScored" in line for line in logs.lines())  # metrics


# ---------------------------------------------------------------- decay


class ClosingTime(LambdaContext):
    """An invocation near its timeout: the decay run stops after one page with a cursor."""

    def get_remaining_time_in_millis(self) -> int:
        return 20_000


def test_decay_runs_and_failures_log_no_personal_data(
    aws: None, topic: Topic, logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = datetime(2026, 11, 1, 12, tzinfo=UTC)
    models = publish_model(at - timedelta(days=400))
    when = at - timedelta(days=2)
    # Two canary leads in the first shard of the due index, one per page: the first run
    # stops after one page and its cursor names the other lead.
    candidates = (f"privacy.canary+{n}@canary-corp.example" for n in range(2, 1000))
    emails = [email for email in candidates if shard_of(lead_key(email)) == 0][:2]
    pairs = [p for n, e in enumerate(emails) for p in canary_events(f"d{n}", when, e)]
    bodies = [(f"m{n}", b) for n, b in enumerate(encode(pairs, when))]
    assert not score_messages(
        bodies, DynamoLeadStore(), models, Recorder(), clock=lambda: when
    ).failed
    decay = load_function("decay")
    defaults = decay_service.run_decay.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "page_size", 1)  # the handler's runs page by one lead

    sns_events = decay.publisher._client.meta.events
    sns_down = fail_with("InternalError", "Internal Error")
    sns_events.register("before-call.sns.Publish", sns_down)
    try:
        first = logs.invoke(decay.lambda_handler, {"time": at.isoformat()}, ClosingTime())
    finally:
        sns_events.unregister("before-call.sns.Publish", sns_down)
    assert isinstance(first, dict) and not first["complete"] and first["cursor"]["key"]
    second = logs.invoke(decay.lambda_handler, {"time": at.isoformat(), "cursor": first["cursor"]})
    assert isinstance(second, dict) and second["complete"]
    assert [m["MessageAttributes"]["kind"]["Value"] for m in topic.received()] == [
        "lead.sla_breached"
    ]
    assert isinstance(logs.invoke(decay.lambda_handler, {"email": EMAIL}), ValueError)

    logs.assert_no_personal_data()
    runs = logs.with_message("decay run")
    assert [r["stats"]["sla_breached"] for r in runs] == [1, 1]
    assert runs[0]["cursor"]["key"] and runs[1]["complete"]
    keys = {lead_key(email)[:12] for email in emails}
    assert any(key in json.dumps(runs[0]["cursor"]) for key in keys)  # a hashed key, resumable
    [unpublished] = logs.with_message("publish failed; the notification stays pending")
    assert unpublished["key"] in keys
    assert any("ValueError" in raised for raised in logs.raised)


# ---------------------------------------------------------------- rescore


def drain(queue_url: str, worker: Any, logs: Logs, receive_count: int = 1) -> list[Any]:
    """Deliver every message of the rescore queue to the worker until it is empty."""
    sqs = boto3.client("sqs")
    answers = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        messages = [(m["MessageId"], m["Body"]) for m in batch]
        answers.append(logs.invoke(worker.lambda_handler, sqs_records(messages, receive_count)))
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return answers


def test_rescore_steps_and_a_failing_step_log_no_personal_data(
    aws: None, topic: Topic, logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = datetime(2026, 11, 1, 12, tzinfo=UTC)
    models = publish_model(at - timedelta(days=30))
    bodies = [(f"m{n}", b) for n, b in enumerate(encode(canary_events("r", at), at))]
    assert not score_messages(
        bodies, DynamoLeadStore(), models, Recorder(), clock=lambda: at
    ).failed
    # An event logged in a shape this version no longer reads: skipped, and said so.
    EventItem(
        lead_pk(lead_key(EMAIL)),
        event_sk("legacy-1"),
        event={"type": "page_view", "occurred_at": f"{FIRST_NAME} {PHONE}", "email": EMAIL},
        occurred_at=int(at.timestamp()),
        received_at=int(at.timestamp()),
    ).save()
    publish_model(at)  # a new version to rescore with
    url = boto3.client("sqs").create_queue(QueueName="rescore")["QueueUrl"]
    monkeypatch.setenv("RESCORE_QUEUE_URL", url)
    worker = load_function("rescore")
    queue = SqsRescoreQueue(boto3.client("sqs"), url)
    jobs = DynamoRescoreJobs()
    catalog = model_store.DynamoModelCatalog()

    job = rescore.start_job("default", JobOptions(notify=True), queue, jobs, catalog, at)
    assert job is not None
    answers = drain(url, worker, logs)
    assert answers and all(a == {"batchItemFailures": []} for a in answers)
    finished = jobs.read("default", str(job.job_id))
    assert finished is not None and finished.finished_at is not None

    # A chunk that fails on the last receive SQS allows: marked on the job, then the DLQ.
    def unreadable(key: str) -> Any:
        raise RuntimeError("DynamoDB is unavailable")

    monkeypatch.setattr(worker.rescorer.store, "lead_log", unreadable)
    failing = rescore.start_job(
        "default", JobOptions(), queue, jobs, catalog, at + timedelta(hours=1)
    )
    assert failing is not None
    answers = drain(url, worker, logs, receive_count=worker.settings().rescore_max_receive_count)
    assert any(isinstance(a, Exception) or (a and a["batchItemFailures"]) for a in answers)

    logs.assert_no_personal_data()
    started = logs.with_message("rescore job started")
    assert [e["job"] for e in started] == [job.job_id, failing.job_id]
    [done] = logs.with_message("rescore job finished")
    assert done["job"] == job.job_id
    [marked] = logs.with_message("rescore step failed its last attempt")
    assert marked["job"] == failing.job_id and marked["step"].startswith("CHUNK#")
    [incomplete] = logs.with_message("rescore job incomplete: steps in the DLQ")
    assert incomplete["failed"] == [marked["step"]]
    skipped = logs.with_message("unreadable logged event skipped")
    assert skipped and {(e["lead"], e["event"]) for e in skipped} == {
        (lead_key(EMAIL)[:12], "EV#legacy-1")
    }


# ---------------------------------------------------------------- slack notifier


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    # Slack's refusals echo the lead: the notifier must not log them as they are.
    with FakeSlack(error_body=f"error for {EMAIL}".encode()) as slack:
        yield slack


def test_slack_messages_and_slack_failures_log_no_personal_data(
    aws: None, fake_slack: FakeSlack, logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A name of its own: Powertools caches parameters by name across tests.
    parameter = "/leadscore/privacy-canary-slack"
    boto3.client("ssm").put_parameter(Name=parameter, Value=fake_slack.url, Type="SecureString")
    monkeypatch.setenv("SLACK_WEBHOOK_PARAMETER", parameter)
    notifier = load_function("slack_notifier")
    notification_id = f"lead.mql:default:{lead_key(EMAIL)[:16]}:1793534400"
    document = {
        "kind": "lead.mql",
        "id": notification_id,
        "email": EMAIL,
        "name": f"{FIRST_NAME} {LAST_NAME}",
        "company": COMPANY,
        "model": "default",
        "score": 81.0,
        "fit": 92.0,
        "engagement": 70.0,
        "grade": "A",
        "engagement_level": 2,
        "rating": "A2",
        "reasons": [{"rule": "engagement.demo_request", "points": 20.0, "count": 1}],
        "sla_due_at": "2026-11-03T12:00:00Z",
    }
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "Sns": {
                    "MessageId": "sns-1",
                    "Message": json.dumps(document),
                    "Subject": f"New MQL: A2 {FIRST_NAME} {LAST_NAME} ({COMPANY})",
                    "MessageAttributes": {},
                },
            }
        ]
    }
    assert logs.invoke(notifier.lambda_handler, event) == {"posted": 1}
    assert FIRST_NAME in json.dumps(fake_slack.bodies[0])  # sales sees the lead, logs do not

    fake_slack.statuses = [429] * 5  # Slack stays unavailable: SNS retries the delivery
    unavailable = logs.invoke(notifier.lambda_handler, event)
    assert "after 5 attempts" in str(unavailable)
    fake_slack.statuses = [404]  # Slack refuses it
    refused = logs.invoke(notifier.lambda_handler, event)
    assert "HTTP 404" in str(refused)

    logs.assert_no_personal_data()
    retries = logs.with_message("HTTP call failed, retrying")
    assert [r["attempt"] for r in retries] == [1, 2, 3, 4]
    assert all(r["notification_id"] == notification_id and r["reason"] for r in retries)
    assert len(logs.raised) == 2 and all("SlackError" in raised for raised in logs.raised)
