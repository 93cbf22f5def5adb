"""`leadscore local --verbose` prints every request and every function failure; paths such as
`/v1/leads/{email}` hold addresses, which never reach the console."""

from __future__ import annotations

import http.client
import io
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from leadscore_tools.local.gateway import ApiServer, Gateway
from leadscore_tools.template import Route

ADDRESSES = ("jane.doe+leads@acme.example", "jane.doe%2Bleads%40acme.example")


class Leads:
    """Answers one lead, and fails on `/history` with the address in its error."""

    name = "ApiFunction"

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        if event["resource"].endswith("/history"):
            raise LookupError(f"no history for {event['pathParameters']['email']}")
        return {"statusCode": 200, "headers": {}, "body": "{}"}


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """The verbose console, as `leadscore local --verbose` sets it up."""
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logging.Formatter("[local] %(message)s"))
    log = logging.getLogger("local_stack")
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    yield lines
    log.removeHandler(handler)
    log.setLevel(level)


@pytest.fixture
def port() -> Iterator[int]:
    routes = [
        Route("GET", "/v1/leads/{email}", False, "ApiFunction"),
        Route("GET", "/v1/leads/{email}/history", False, "ApiFunction"),
    ]
    functions: Any = {"ApiFunction": Leads()}
    api = ApiServer("127.0.0.1", 0, Gateway(routes, functions, "k", "prod", [], {}))
    threading.Thread(target=api.serve_forever, daemon=True).start()
    yield api.server_address[1]
    api.shutdown()
    api.server_close()


def get(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)
    status = connection.getresponse().status
    connection.close()
    return status


def printed(console: io.StringIO, requests: int) -> str:
    """The console once it shows `requests` request lines (each is logged after its answer)."""
    deadline = time.monotonic() + 10
    while console.getvalue().count(" ms\n") < requests and time.monotonic() < deadline:
        time.sleep(0.01)
    return console.getvalue()


def test_a_verbose_request_line_names_no_address(console: io.StringIO, port: int) -> None:
    for address in ADDRESSES:
        assert get(port, f"/v1/leads/{address}?email={address}") == 200
    lines = printed(console, 2).splitlines()
    assert [line.rsplit(" ", 2)[0] for line in lines] == 2 * [
        "[local] GET /v1/leads/<email>?email=<email> 200"
    ]
    assert not any("jane" in line or "acme" in line for line in lines)


def test_a_function_failure_and_its_traceback_name_no_address(
    console: io.StringIO, port: int
) -> None:
    assert get(port, "/v1/leads/jane.doe%40acme.example/history") == 502
    text = printed(console, 1)
    assert "ApiFunction failed on GET /v1/leads/<email>/history" in text
    assert "LookupError: no history for <email>" in text
    assert "GET /v1/leads/<email>/history 502" in text
    assert "jane" not in text and "acme" not in text


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("GET /v1/leads/a@b.example 200", "GET /v1/leads/<email> 200"),
        ("GET /v1/leads/A%40B.EXAMPLE/history", "GET /v1/leads/<email>/history"),
        ("?email=x%2By%40b.example&form=demo", "?email=<email>&form=demo"),
        ("to 'ada@b.example', cc grace@c.example.", "to '<email>', cc <email>"),
        ("start: serving in 0.31 s", "start: serving in 0.31 s"),
    ],
)
def test_addresses_are_masked_however_written(line: str, masked: str) -> None:
    from leadscore_tools.local.logs import mask_emails

    assert mask_emails(line) == masked
