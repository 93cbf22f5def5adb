"""Calls the real API handler with API Gateway (REST) proxy events, inside moto."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from leadscore.api.deps import Dependencies
from leadscore_tools.template import load_template

from tests.conftest import LambdaContext, load_function


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def proxy_event(
    method: str,
    path: str,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    encoded = isinstance(body, bytes)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Host": "api.example.com", **(headers or {})},
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": "r-1",
            "stage": "v1",
            "httpMethod": method,
            "path": path,
            "resourcePath": path,
            "identity": {"sourceIp": "203.0.113.9"},
        },
        "body": base64.b64encode(body).decode() if encoded else body,
        "isBase64Encoded": encoded,
    }


def _public_routes() -> list[tuple[str, re.Pattern[str]]]:
    """(method, path pattern) of each route template.yaml gives the public function."""
    events = load_template()["Resources"]["PublicApiFunction"]["Properties"]["Events"]
    return [
        (
            e["Properties"]["Method"].upper(),
            re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(e["Properties"]["Path"])) + "/?"),
        )
        for e in events.values()
    ]


class SharedDeps:
    """Both functions' dependencies as one: a test's change applies to both; a read gives the
    function's that uses it (the public one's for webhooks and forms, else the keyed one's)."""

    PUBLIC = frozenset({"secrets", "confirm_subscription", "fetch_certificate", "cors_origins"})

    def __init__(self, keyed: Dependencies, public: Dependencies) -> None:
        self.keyed, self.public = keyed, public


def _shared(name: str) -> property:
    """One dependency of both (a property, so that monkeypatch restores it on both)."""

    def read(shared: SharedDeps) -> Any:
        return getattr(shared.public if name in shared.PUBLIC else shared.keyed, name)

    def write(shared: SharedDeps, value: Any) -> None:
        setattr(shared.keyed, name, value)
        setattr(shared.public, name, value)

    return property(read, write)


for _field in dataclasses.fields(Dependencies):
    setattr(SharedDeps, _field.name, _shared(_field.name))


class Functions:
    """The API's two functions (functions/api, functions/public_api) as one handler module:
    each event goes to the function template.yaml routes it to."""

    def __init__(self, keyed: ModuleType, public: ModuleType) -> None:
        self.keyed, self.public = keyed, public
        public.deps.queue = keyed.deps.queue  # one SQS client, for tests that watch `sqs`
        self.sqs = keyed.sqs
        self.deps = SharedDeps(keyed.deps, public.deps)
        self.routes = _public_routes()

    def lambda_handler(self, event: dict[str, Any], context: Any) -> Any:
        method, path = event.get("httpMethod", ""), event.get("path") or ""
        public = any(m == method and p.fullmatch(path) for m, p in self.routes)
        return (self.public if public else self.keyed).lambda_handler(event, context)


class Api:
    def __init__(self, module: ModuleType, queue_url: str, sqs: Any) -> None:
        self.module = module
        self.queue_url = queue_url
        self.sqs = sqs

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Answer:
        if body is not None and not isinstance(body, str | bytes):
            body = json.dumps(body)
            kwargs.setdefault("headers", {}).setdefault("content-type", "application/json")
        answer = self.module.lambda_handler(
            proxy_event(method, path, body, **kwargs), LambdaContext()
        )
        headers = dict(answer.get("headers") or {})
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            headers[name] = values[-1]
        return Answer(answer["statusCode"], headers, answer.get("body") or "")

    @contextmanager
    def serve(self) -> Iterator[str]:
        """The handler over HTTP on 127.0.0.1, as API Gateway puts it there: its base URL."""
        api = self

        class Gateway(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode() if length else None
                url = urlsplit(self.path)  # API Gateway passes the query apart (last value wins)
                query = dict(parse_qsl(url.query)) or None
                answer = api.call(
                    self.command, url.path, body, headers=dict(self.headers), query=query
                )
                data = answer.body.encode()
                self.send_response(answer.status)
                kind = answer.headers.get("Content-Type", "application/json")
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = forward

        server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            thread.join()
            server.server_close()

    def queued(self) -> list[dict[str, Any]]:
        """Every message body on the scoring queue (consumed)."""
        bodies = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not batch:
                return bodies
            for message in batch:
                bodies.append(message)
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def queued_events(self) -> list[dict[str, Any]]:
        return [e for m in self.queued() for e in json.loads(m["Body"])["events"]]


def make_api(monkeypatch: pytest.MonkeyPatch, **env: str) -> Api:
    import boto3

    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="scoring")["QueueUrl"]
    monkeypatch.setenv("QUEUE_URL", queue_url)
    # As the template configures the API function: rescoring has its queue too.
    rescore_url = sqs.create_queue(QueueName="rescore")["QueueUrl"]
    monkeypatch.setenv("RESCORE_QUEUE_URL", rescore_url)
    if not os.environ.get("TOPIC_ARN"):  # without the `topic` fixture: no topic, nothing published
        monkeypatch.setenv("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:no-such-topic")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Api(Functions(load_function("api"), load_function("public_api")), queue_url, sqs)  # type: ignore[arg-type]
