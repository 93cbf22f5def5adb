"""The local stack's `/_local/` routes answer only when the request names a loopback host:
a DNS-rebinding page reaches 127.0.0.1 under its own name and must not read the outbox."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from leadscore_tools.local.gateway import ApiServer, Gateway, Reply, Request
from leadscore_tools.template import Route


class Outbox:
    """A `/_local/outbox` that remembers whether it answered."""

    def __init__(self) -> None:
        self.read = 0

    def __call__(self, request: Request, parameters: dict[str, str]) -> Reply:
        self.read += 1
        return Reply.json(200, [{"message": {"email": "ada@analytical.example"}}])


class Health:
    name = "ApiFunction"

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return {"statusCode": 200, "headers": {}, "body": '{"status": "ok"}'}


def gateway(outbox: Outbox) -> Gateway:
    routes = [Route("GET", "/v1/health", False, "ApiFunction")]
    functions: Any = {"ApiFunction": Health()}
    return Gateway(routes, functions, "k", "prod", [], {("GET", "/_local/outbox"): outbox})


def get(api: Gateway, path: str, *hosts: str) -> Reply:
    return api.handle(Request("GET", path, "", [("Host", h) for h in hosts], b"", "127.0.0.1"))


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:3000", "127.0.0.1", "localhost:3000", "localhost", "[::1]:3000", "[::1]"],
)
def test_the_local_routes_answer_a_loopback_host(host: str) -> None:
    outbox = Outbox()
    reply = get(gateway(outbox), "/_local/outbox", host)
    assert reply.status == 200 and outbox.read == 1


@pytest.mark.parametrize(
    "hosts",
    [
        ("attacker.example",),
        ("attacker.example:3000",),
        ("127.0.0.1.attacker.example:3000",),
        ("localhost.attacker.example",),
        ("localhost:3000.attacker.example",),
        ("127.0.0.1:3000@attacker.example",),
        ("127.0.0.1:3000 attacker.example",),
        ("",),
        (),
        ("127.0.0.1:3000", "attacker.example"),
        ("attacker.example", "127.0.0.1:3000"),
    ],
)
def test_any_other_host_gets_403_and_reads_nothing(hosts: tuple[str, ...]) -> None:
    outbox = Outbox()
    reply = get(gateway(outbox), "/_local/outbox", *hosts)
    assert reply.status == 403
    assert ("Content-Type", "application/problem+json") in reply.headers
    assert json.loads(reply.body)["status"] == 403
    assert b"ada@" not in reply.body
    assert outbox.read == 0


def test_the_api_answers_any_host_as_before() -> None:
    reply = get(gateway(Outbox()), "/v1/health", "api.acme.test")
    assert (reply.status, json.loads(reply.body)) == (200, {"status": "ok"})


@pytest.fixture
def server() -> Iterator[tuple[ApiServer, Outbox]]:
    outbox = Outbox()
    api = ApiServer("127.0.0.1", 0, gateway(outbox))
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    yield api, outbox
    api.shutdown()
    api.server_close()


def test_over_http_the_host_header_a_browser_sends_decides(
    server: tuple[ApiServer, Outbox],
) -> None:
    api, outbox = server
    port = api.server_address[1]
    answers = []
    for host in (f"127.0.0.1:{port}", f"rebind.attacker.example:{port}"):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/_local/outbox", headers={"Host": host})
        answer = connection.getresponse()
        answers.append((answer.status, answer.read()))
        connection.close()
    assert answers[0][0] == 200 and b"ada@" in answers[0][1]
    assert answers[1][0] == 403 and b"ada@" not in answers[1][1]
    assert outbox.read == 1
