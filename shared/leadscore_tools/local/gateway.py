"""The API on loopback: each HTTP request becomes an API Gateway (REST) proxy event for the
function the template routes it to, after the route's Lambda authorizer (the template's own
function) has allowed it, as API Gateway does; without its cache, so a revoked key is refused
at once. `/console/` serves the built console, as the deployed CloudFront distribution does."""

from __future__ import annotations

import base64
import fnmatch
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from leadscore_tools.intrinsics import ACCOUNT_ID
from leadscore_tools.local.functions import FunctionMissing, LocalFunction
from leadscore_tools.local.logs import log
from leadscore_tools.template import Authorizer, Route

if TYPE_CHECKING:
    from leadscore_tools.local.console_files import ConsoleFiles

MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway's limit
REGION = "us-east-1"  # the local stack's
_TEXT_TYPES = re.compile(
    r"^(text/|application/(json|.*\+json|xml|.*\+xml|x-www-form-urlencoded|javascript))", re.I
)
_HOP_HEADERS = {"connection", "content-length", "transfer-encoding", "keep-alive"}
# The only Host values /_local/ answers: a DNS-rebinding page reaches loopback under its own
# name (`Host: attacker.example`), and must not read the outbox's names and emails.
LOOPBACK_HOST = re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?", re.ASCII | re.I)


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def json(cls, status: int, document: Any, content_type: str = "application/json") -> Reply:
        body = json.dumps(document, ensure_ascii=False, default=str).encode()
        return cls(status, [("Content-Type", content_type)], body)


# API Gateway's own answers when the template does not customise them (GatewayResponses).
_GATEWAY_DEFAULTS = {
    "MISSING_AUTHENTICATION_TOKEN": (
        403,
        "Missing Authentication Token",
        "MissingAuthenticationTokenException",
    ),
    "INVALID_API_KEY": (403, "Forbidden", "ForbiddenException"),
    "UNAUTHORIZED": (401, "Unauthorized", "UnauthorizedException"),
    "ACCESS_DENIED": (
        403,
        "User is not authorized to access this resource",
        "AccessDeniedException",
    ),
    "AUTHORIZER_FAILURE": (500, "Internal server error", "AuthorizerFailureException"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long", "RequestTooLargeException"),
    "INTEGRATION_FAILURE": (502, "Internal server error", "InternalServerErrorException"),
}


class GatewayResponses:
    """API Gateway's refusals, rendered as the API's GatewayResponses in the template say."""

    def __init__(self, responses: dict[str, dict[str, Any]]) -> None:
        self.responses = responses

    def reply(self, kind: str, request_id: str) -> Reply:
        status, message, error_type = _GATEWAY_DEFAULTS[kind]
        family = "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
        custom = self.responses.get(kind) or self.responses.get(family) or {}
        status = int(custom.get("StatusCode") or status)
        headers = [("x-amzn-ErrorType", error_type), ("x-amzn-RequestId", request_id)]
        for name, value in ((custom.get("ResponseParameters") or {}).get("Headers") or {}).items():
            if isinstance(value, str) and value.startswith("'") and value.endswith("'"):
                headers.append((name, value[1:-1]))  # only static values are emulated
        templates = custom.get("ResponseTemplates") or {}
        template = templates.get("application/json")
        if template is None:
            body = json.dumps({"message": message}).encode()
        else:
            body = (
                str(template)
                .replace("$context.error.messageString", json.dumps(message))
                .replace("$context.error.message", message)
                .replace("$context.error.responseType", kind)
                .replace("$context.requestId", request_id)
                .encode()
            )
        if not any(n.lower() == "content-type" for n, _ in headers):
            headers.append(("Content-Type", "application/json"))
        return Reply(status, headers, body)


def problem(status: int, title: str, detail: str) -> Reply:
    document = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return Reply.json(status, document, "application/problem+json")


@dataclass(frozen=True)
class Request:
    method: str
    raw_path: str  # as sent: path parameters stay percent-encoded, as API Gateway passes them
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    client_ip: str

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[-1] if values else None


class CompiledRoute:
    def __init__(self, route: Route) -> None:
        self.route = route
        pattern = re.sub(
            r"\\\{(\w+)(\\\+)?\\\}",
            lambda m: f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)",
            re.escape(route.path),
        )
        self.regex = re.compile(pattern + "/?$" if route.path != "/" else "/$")
        # API Gateway prefers literal segments to variables, and variables to greedy ones.
        self.rank = (route.path.count("+}"), route.path.count("{"), -len(route.path))

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.match(path)
        return found.groupdict() if found else None


class Gateway:
    """Routes requests: `/_local/` to the local handlers, the rest as the template says."""

    def __init__(
        self,
        routes: list[Route],
        functions: dict[str, LocalFunction],
        api_key: str,
        stage: str,
        binary_media_types: list[str],
        local_routes: dict[tuple[str, str], Callable[[Request, dict[str, str]], Reply]],
        gateway_responses: dict[str, dict[str, Any]] | None = None,
        console: ConsoleFiles | None = None,
    ) -> None:
        self.refusals = GatewayResponses(gateway_responses or {})
        self.console = console
        self.routes = sorted((CompiledRoute(r) for r in routes), key=lambda r: r.rank)
        self.local_routes = sorted(
            ((m, CompiledRoute(Route(m, p, False, "")), h) for (m, p), h in local_routes.items()),
            key=lambda entry: entry[1].rank,
        )
        self.functions = functions
        self.api_key = api_key
        self.stage = stage
        self.binary_media_types = binary_media_types

    def handle(self, request: Request) -> Reply:
        path = request.raw_path
        if path.startswith("/_local/"):
            hosts = [value for name, value in request.headers if name.lower() == "host"]
            if len(hosts) != 1 or not LOOPBACK_HOST.fullmatch(hosts[0]):
                detail = "the local routes answer only for Host 127.0.0.1, localhost or [::1]"
                return problem(403, "Forbidden", detail)
            for method, compiled, handler in self.local_routes:
                parameters = compiled.match(path)
                if parameters is not None and method == request.method:
                    return handler(request, parameters)
            return problem(404, "Not Found", "no such local route")
        if self.console is not None and (path == "/console" or path.startswith("/console/")):
            return self.console.reply(request)
        # API Gateway picks the most specific resource for the path, then the method on it.
        matched = [(c, p) for c in self.routes if (p := c.match(path)) is not None]
        resource = matched[0][0].route.path if matched else None
        for compiled, parameters in matched:
            if compiled.route.path == resource and compiled.route.method in (
                request.method,
                "ANY",
            ):
                return self._invoke(compiled.route, parameters, request)
        # API Gateway's answer to a path or method it does not know.
        return self.refusals.reply("MISSING_AUTHENTICATION_TOKEN", str(uuid.uuid4()))

    def _invoke(self, route: Route, parameters: dict[str, str], request: Request) -> Reply:
        if route.api_key_required and not hmac.compare_digest(
            (request.header("x-api-key") or "").encode(), self.api_key.encode()
        ):
            return self.refusals.reply("INVALID_API_KEY", str(uuid.uuid4()))
        event = self.proxy_event(route, parameters, request)
        request_id = event["requestContext"]["requestId"]
        if route.authorizer is not None:
            allowed = self._authorize(route.authorizer, event)
            if isinstance(allowed, str):
                return self.refusals.reply(allowed, request_id)
            event["requestContext"]["authorizer"] = allowed
        function = self.functions.get(route.function)
        if function is None:
            return self.refusals.reply("INTEGRATION_FAILURE", request_id)
        try:
            result = function.invoke(event)
        except FunctionMissing:
            return self.refusals.reply("INTEGRATION_FAILURE", request_id)
        except Exception:
            log.exception("%s failed on %s %s", function.name, request.method, request.raw_path)
            return self.refusals.reply("INTEGRATION_FAILURE", request_id)
        reply = self._reply(result, request_id, function.name)
        return (
            reply if reply is not None else self.refusals.reply("INTEGRATION_FAILURE", request_id)
        )

    def _authorize(self, authorizer: Authorizer, event: dict[str, Any]) -> dict[str, Any] | str:
        """The authorizer's context for the request, or the kind of API Gateway's refusal."""
        headers = {name.lower(): value for name, value in event["headers"].items()}
        if not all(headers.get(name.lower()) for name in authorizer.headers):
            return "UNAUTHORIZED"  # API Gateway refuses without invoking the authorizer
        context = event["requestContext"]
        method_arn = (
            f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{context['apiId']}/{self.stage}/"
            f"{event['httpMethod']}{event['path']}"
        )
        request = {"type": "REQUEST", "methodArn": method_arn, **event}
        function = self.functions.get(authorizer.function)
        try:
            if function is None:
                raise FunctionMissing(authorizer.function)
            answer = function.invoke(request)
        except FunctionMissing:
            return "AUTHORIZER_FAILURE"
        except Exception as error:
            if str(error) == "Unauthorized":
                return "UNAUTHORIZED"
            log.exception("the authorizer %s failed", authorizer.function)
            return "AUTHORIZER_FAILURE"
        if not isinstance(answer, dict) or not _allows(answer.get("policyDocument"), method_arn):
            return "ACCESS_DENIED"
        return {**(answer.get("context") or {}), "principalId": answer.get("principalId")}

    def proxy_event(
        self, route: Route, parameters: dict[str, str], request: Request
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in [
            *request.headers,
            ("X-Forwarded-For", request.client_ip),
            ("X-Forwarded-Proto", "http"),
        ]:
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        pairs = parse_qsl(request.query, keep_blank_values=True)
        query: dict[str, list[str]] = {}
        for name, value in pairs:
            query.setdefault(name, []).append(value)
        encoded = self._is_binary(request)
        body: str | None = None
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            body = (
                base64.b64encode(request.body).decode() if encoded else request.body.decode("utf-8")
            )
        now = datetime.now(UTC)
        request_id = str(uuid.uuid4())
        host = request.header("host") or "127.0.0.1"
        return {
            "resource": route.path,
            "path": request.raw_path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": "local",
                "resourcePath": route.path,
                "httpMethod": request.method,
                "extendedRequestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": f"/{self.stage}{request.raw_path}",
                "accountId": ACCOUNT_ID,
                "protocol": "HTTP/1.1",
                "stage": self.stage,
                "domainPrefix": host.split(".")[0],
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "requestId": request_id,
                "identity": {
                    "sourceIp": request.client_ip,
                    "userAgent": request.header("user-agent"),
                    "apiKey": request.header("x-api-key") if route.api_key_required else None,
                    "apiKeyId": "local" if route.api_key_required else None,
                    "accountId": None,
                    "caller": None,
                    "user": None,
                    "userArn": None,
                },
                "domainName": host,
                "apiId": "local",
            },
            "body": body,
            "isBase64Encoded": encoded,
        }

    def _is_binary(self, request: Request) -> bool:
        """API Gateway base64-encodes bodies of the API's BinaryMediaTypes; bytes that are not
        UTF-8 could not travel as text at all."""
        content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
        for media_type in self.binary_media_types:
            pattern = re.escape(media_type.lower()).replace(r"\*", ".*")
            if re.fullmatch(pattern, content_type):
                return True
        try:
            request.body.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False

    def _reply(self, result: Any, request_id: str, function: str) -> Reply | None:
        if not isinstance(result, dict) or "statusCode" not in result:
            log.error("%s returned no proxy response (statusCode missing)", function)
            return None
        headers: list[tuple[str, str]] = []
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers += [(name, str(v)) for v in values]
        seen = {name.lower() for name, _ in headers}
        headers += [
            (name, str(v))
            for name, v in (result.get("headers") or {}).items()
            if name.lower() not in seen
        ]
        headers = [(n, v) for n, v in headers if n.lower() not in _HOP_HEADERS]
        if not any(n.lower() == "content-type" for n, _ in headers):
            headers.append(("Content-Type", "application/json"))
        headers.append(("x-amzn-RequestId", request_id))
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        return Reply(int(result["statusCode"]), headers, data)


def _allows(policy: Any, method_arn: str) -> bool:
    """Whether an IAM policy allows `execute-api:Invoke` on the method (and denies it nowhere)."""
    if not isinstance(policy, dict):
        return False
    allowed = False
    for statement in policy.get("Statement") or []:
        resources = statement.get("Resource") or []
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase(method_arn, str(r)) for r in resources):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ApiServer
    server_version = "leadscore-local"

    def _handle(self) -> None:
        started = time.perf_counter()
        body = self._read_body()
        if body is None:
            reply = self.server.gateway.refusals.reply("REQUEST_TOO_LARGE", str(uuid.uuid4()))
        else:
            split = urlsplit(self.path)
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS]
            if self.headers.get("content-length"):
                headers.append(("Content-Length", self.headers["content-length"]))
            request = Request(
                method=self.command,
                raw_path=split.path or "/",
                query=split.query,
                headers=headers,
                body=body,
                client_ip=self.client_address[0],
            )
            try:
                reply = self.server.gateway.handle(request)
            except Exception:
                log.exception("the local gateway failed on %s %s", self.command, self.path)
                reply = Reply.json(500, {"message": "Internal server error"})
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)
        elapsed = (time.perf_counter() - started) * 1000
        log.debug("%s %s %d %.0f ms", self.command, self.path, reply.status, elapsed)

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            chunks = []
            size = 0
            while True:
                length = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if length == 0:
                    self.rfile.readline()
                    break
                size += length
                if size > MAX_PAYLOAD:
                    self.close_connection = True
                    return None
                chunks.append(self.rfile.read(length))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_PAYLOAD:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is logged by _handle


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, gateway: Gateway) -> None:
        self.gateway = gateway
        super().__init__((host, port), _Handler)
