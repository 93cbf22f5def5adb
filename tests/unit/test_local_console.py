"""The local gateway serves the built console at /console/ as CloudFront does when deployed:
index.html for /console/, each file with its type, config.json from the stack, nothing
outside the build, and a 503 saying how to build it when it is not built."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from leadscore_tools.local.console_files import ConsoleFiles
from leadscore_tools.local.gateway import ApiServer, Gateway, Reply, Request
from leadscore_tools.template import Route

CONFIG = {
    "api": "",
    "region": "us-east-1",
    "userPoolId": "us-east-1_local",
    "clientId": "client",
    "cognitoEndpoint": "http://127.0.0.1:5000/",
}
BUILD = {
    "index.html": "<!doctype html><title>console</title>",
    "app.js": "console.log(1)",
    "app.css": "body{}",
    "chunks/chunk-AB12CD34.js": "export {}",
    "icons/logo.svg": "<svg/>",
    "notes.bin": "?",
}


class Health:
    name = "PublicApiFunction"

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return {"statusCode": 200, "headers": {}, "body": '{"status": "ok"}'}


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "secret.txt").write_text("outside the build")
    root = tmp_path / "dist"
    for name, text in BUILD.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def gateway(root: Path, config: dict[str, Any] | None = CONFIG) -> Gateway:
    routes = [Route("GET", "/v1/health", False, "PublicApiFunction")]
    functions = {"PublicApiFunction": Health()}
    console = ConsoleFiles(lambda: config, root)
    return Gateway(routes, functions, "k", "prod", [], {}, console=console)  # type: ignore[arg-type]


def get(api: Gateway, path: str, method: str = "GET") -> Reply:
    return api.handle(Request(method, path, "", [("Host", "127.0.0.1:3000")], b"", "127.0.0.1"))


def header(reply: Reply, name: str) -> str | None:
    return next((v for n, v in reply.headers if n.lower() == name.lower()), None)


def test_the_console_root_is_its_index_html(dist: Path) -> None:
    reply = get(gateway(dist), "/console/")
    assert reply.status == 200
    assert reply.body == BUILD["index.html"].encode()
    assert header(reply, "Content-Type") == "text/html; charset=utf-8"
    assert header(reply, "Cache-Control") == "no-cache"
    redirect = get(gateway(dist), "/console")
    assert redirect.status == 301 and header(redirect, "Location") == "/console/"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/console/index.html", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/app.css", "text/css; charset=utf-8"),
        ("/console/chunks/chunk-AB12CD34.js", "text/javascript; charset=utf-8"),
        ("/console/icons/logo.svg", "image/svg+xml"),
        ("/console/icons%2Flogo.svg", "image/svg+xml"),
        ("/console/notes.bin", "application/octet-stream"),
    ],
)
def test_each_file_has_its_content_type(dist: Path, path: str, content_type: str) -> None:
    reply = get(gateway(dist), path)
    assert reply.status == 200, reply.body
    assert header(reply, "Content-Type") == content_type
    assert header(reply, "X-Content-Type-Options") == "nosniff"


def test_config_json_is_the_stacks_own(dist: Path) -> None:
    (dist / "config.json").write_text('{"api": "https://elsewhere.example"}')
    reply = get(gateway(dist), "/console/config.json")
    assert reply.status == 200
    assert header(reply, "Content-Type") == "application/json"
    assert header(reply, "Cache-Control") == "no-cache"
    assert json.loads(reply.body) == CONFIG


def test_config_json_without_a_user_pool_says_why(dist: Path) -> None:
    reply = get(gateway(dist, config=None), "/console/config.json")
    assert reply.status == 503
    assert "user pool" in json.loads(reply.body)["detail"]


def test_a_missing_file_is_a_404_problem(dist: Path) -> None:
    reply = get(gateway(dist), "/console/nothing.js")
    assert reply.status == 404
    assert header(reply, "Content-Type") == "application/problem+json"
    assert json.loads(reply.body)["status"] == 404
    assert get(gateway(dist), "/console/chunks").status == 404  # a folder is no file


@pytest.mark.parametrize(
    "path",
    [
        "/console/../secret.txt",
        "/console/%2e%2e/secret.txt",
        "/console/..%2fsecret.txt",
        "/console/chunks/../../secret.txt",
        "/console/chunks%2F..%2F..%2Fsecret.txt",
        "/console/%2Fetc%2Fpasswd",
        "/console//etc/passwd",
        "/console/index.html%00.js",
    ],
)
def test_nothing_outside_the_build_is_served(dist: Path, path: str) -> None:
    reply = get(gateway(dist), path)
    assert reply.status == 404, path
    assert b"outside the build" not in reply.body and b"root:" not in reply.body


def test_traversal_over_http_is_refused_too(dist: Path) -> None:
    """http.client sends the path as written: the server does not clean it up first."""
    with serving(gateway(dist)) as port:
        for path in ("/console/../secret.txt", "/console/%2e%2e/secret.txt"):
            status, body = fetch(port, path)
            assert status == 404 and b"outside the build" not in body, path
        status, body = fetch(port, "/console/app.js")
        assert status == 200 and body == BUILD["app.js"].encode()


def test_an_unbuilt_console_answers_503_with_the_command_to_build_it(tmp_path: Path) -> None:
    api = gateway(tmp_path / "dist")  # never built
    for path in ("/console/", "/console/app.js"):
        reply = get(api, path)
        assert reply.status == 503, path
        assert "run make console" in json.loads(reply.body)["detail"]
    assert get(api, "/console/config.json").status == 200  # the stack's part still answers


def test_the_console_is_read_only(dist: Path) -> None:
    reply = get(gateway(dist), "/console/app.js", method="POST")
    assert reply.status == 405 and header(reply, "Allow") == "GET, HEAD"


def test_the_api_routes_are_untouched(dist: Path) -> None:
    assert get(gateway(dist), "/v1/health").status == 200
    assert get(gateway(dist), "/consoles").status == 403  # API Gateway's unknown route


@contextmanager
def serving(api: Gateway) -> Iterator[int]:
    server = ApiServer("127.0.0.1", 0, api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def fetch(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
