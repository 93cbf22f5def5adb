"""The local API gateway: requests become API Gateway (REST) proxy events; keys and unknown
routes are answered as API Gateway answers them, before any function runs."""

from __future__ import annotations

import base64
import json
from typing import Any

from leadscore_tools.local.gateway import Gateway, Request
from leadscore_tools.template import Route


class RecordingFunction:
    name = "ApiFunction"

    def __init__(self, answer: dict[str, Any] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.answer = answer or {"statusCode": 200, "headers": {}, "body": "{}"}

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return self.answer


ROUTES = [
    Route("GET", "/v1/health", False, "ApiFunction"),
    Route("POST", "/v1/forms", False, "ApiFunction"),
    Route("GET", "/v1/leads/{email}", True, "ApiFunction"),
    Route("GET", "/v1/leads/{email}/history", True, "ApiFunction"),
    Route("ANY", "/v1/files/{path+}", False, "ApiFunction"),
]


def gateway(function: RecordingFunction, binary: list[str] | None = None) -> Gateway:
    return Gateway(ROUTES, {"ApiFunction": function}, "k", "prod", binary or [], {})  # type: ignore[dict-item]


def request(method: str, path: str, body: bytes = b"", query: str = "", **headers: str) -> Request:
    pairs = [(k.replace("_", "-"), v) for k, v in headers.items()]
    return Request(method, path, query, [("Host", "127.0.0.1:3000"), *pairs], body, "127.0.0.1")


def test_a_request_becomes_a_rest_proxy_event() -> None:
    function = RecordingFunction()
    reply = gateway(function).handle(
        Request(
            "GET",
            "/v1/leads/ada%40example.com/history",
            "page=2&tag=a&tag=b",
            [("Host", "127.0.0.1:3000"), ("x-api-key", "k"), ("Accept", "a/b"), ("Accept", "c/d")],
            b"",
            "127.0.0.9",
        )
    )
    assert reply.status == 200
    [event] = function.events
    assert event["resource"] == "/v1/leads/{email}/history"
    assert event["path"] == "/v1/leads/ada%40example.com/history"
    assert event["pathParameters"] == {"email": "ada%40example.com"}
    assert event["httpMethod"] == "GET"
    assert event["headers"]["Accept"] == "c/d"
    assert event["multiValueHeaders"]["Accept"] == ["a/b", "c/d"]
    assert event["queryStringParameters"] == {"page": "2", "tag": "b"}
    assert event["multiValueQueryStringParameters"] == {"page": ["2"], "tag": ["a", "b"]}
    context = event["requestContext"]
    assert context["stage"] == "prod" and context["requestId"]
    assert context["identity"]["sourceIp"] == "127.0.0.9"
    assert context["domainName"] == "127.0.0.1:3000"
    assert context["resourcePath"] == "/v1/leads/{email}/history"
    assert event["body"] is None and event["isBase64Encoded"] is False


def test_text_bodies_pass_as_text_and_binary_ones_base64() -> None:
    function = RecordingFunction()
    api = gateway(function, binary=["image/*"])
    form = b"email=a%40b.example&form=demo"
    api.handle(request("POST", "/v1/forms", form, content_type="application/x-www-form-urlencoded"))
    api.handle(request("POST", "/v1/forms", b"\x89PNG\x00", content_type="image/png"))
    api.handle(request("POST", "/v1/forms", b"\xff\xfe", content_type="application/octet-stream"))
    text, image, raw = function.events
    assert (text["body"], text["isBase64Encoded"]) == (form.decode(), False)
    assert image["isBase64Encoded"] and base64.b64decode(image["body"]) == b"\x89PNG\x00"
    assert raw["isBase64Encoded"] and base64.b64decode(raw["body"]) == b"\xff\xfe"


def test_api_key_routes_refuse_a_missing_or_wrong_key_before_the_function() -> None:
    function = RecordingFunction()
    api = gateway(function)
    for headers in ({}, {"x_api_key": "nope"}):
        reply = api.handle(request("GET", "/v1/leads/a%40b.example", **headers))
        assert (reply.status, json.loads(reply.body)) == (403, {"message": "Forbidden"})
    assert function.events == []
    assert api.handle(request("GET", "/v1/leads/a%40b.example", x_api_key="k")).status == 200


def test_unknown_paths_and_methods_answer_missing_authentication_token() -> None:
    function = RecordingFunction()
    api = gateway(function)
    for method, path in (("GET", "/v2/health"), ("DELETE", "/v1/health"), ("GET", "/")):
        reply = api.handle(request(method, path))
        assert reply.status == 403
        assert json.loads(reply.body) == {"message": "Missing Authentication Token"}
    assert function.events == []


def test_greedy_path_parameters_and_any_method() -> None:
    function = RecordingFunction()
    gateway(function).handle(request("PUT", "/v1/files/a/b/c.txt"))
    assert function.events[0]["pathParameters"] == {"path": "a/b/c.txt"}


def test_the_most_specific_resource_wins_even_without_the_method() -> None:
    routes = [*ROUTES, Route("ANY", "/v1/{proxy+}", False, "ApiFunction")]
    function = RecordingFunction()
    api = Gateway(routes, {"ApiFunction": function}, "k", "prod", [], {})  # type: ignore[dict-item]
    api.handle(request("GET", "/v1/health"))
    api.handle(request("GET", "/v1/other/thing"))
    assert [e["resource"] for e in function.events] == ["/v1/health", "/v1/{proxy+}"]
    assert api.handle(request("DELETE", "/v1/health")).status == 403  # no fallback to proxy


def test_the_function_answer_becomes_the_http_answer() -> None:
    answer = {
        "statusCode": 303,
        "headers": {"Location": "https://example.com/thanks"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": base64.b64encode(b"\x00\x01").decode(),
        "isBase64Encoded": True,
    }
    reply = gateway(RecordingFunction(answer)).handle(request("GET", "/v1/health"))
    assert reply.status == 303
    assert ("Location", "https://example.com/thanks") in reply.headers
    assert [v for k, v in reply.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert reply.body == b"\x00\x01"


def test_a_failing_function_is_a_502_like_api_gateway() -> None:
    class Failing(RecordingFunction):
        def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
            raise RuntimeError("boom")

    reply = gateway(Failing()).handle(request("GET", "/v1/health"))
    assert (reply.status, json.loads(reply.body)) == (502, {"message": "Internal server error"})


def test_refusals_follow_the_templates_gateway_responses() -> None:
    from leadscore_tools.intrinsics import Naming
    from leadscore_tools.template import read_stack

    responses = read_stack(Naming("http://127.0.0.1:5000")).gateway_responses
    function = RecordingFunction()
    api = Gateway(ROUTES, {"ApiFunction": function}, "k", "prod", [], {}, responses)  # type: ignore[dict-item]
    for kind, answer in (
        ("MISSING_AUTHENTICATION_TOKEN", api.handle(request("GET", "/v2/nothing"))),
        ("INVALID_API_KEY", api.handle(request("GET", "/v1/leads/a%40b.example"))),
    ):
        custom = responses.get(kind) or responses.get("DEFAULT_4XX") or {}
        assert answer.status == int(custom.get("StatusCode", 403))
        headers = dict(answer.headers)
        static = (custom.get("ResponseParameters") or {}).get("Headers") or {}
        for name, value in static.items():
            assert headers[name] == value.strip("'")
        if "application/json" in (custom.get("ResponseTemplates") or {}):
            document = json.loads(answer.body)  # the template rendered to valid JSON
            assert "$context" not in answer.body.decode()
            assert document["request_id"] == headers["x-amzn-RequestId"]
    assert function.events == []
