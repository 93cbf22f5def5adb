"""moto in server mode, in this process, on loopback: DynamoDB, SQS, SNS (and the rest)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from leadscore_tools import moto_atomic


class PortInUse(Exception):
    """Another program listens on the port the local stack needs."""


def check_port_free(host: str, port: int, what: str) -> None:
    """Fail clearly now rather than halfway through the start (werkzeug would exit)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortInUse(
                f"{what} port {host}:{port} is in use ({error.strerror}); stop what uses it "
                f"or choose another port"
            ) from None


class ConsolePreflight:
    """Answers the CORS preflight of the console's sign-in (a browser's InitiateAuth, from
    the console's origins only): moto sends an OPTIONS without a signature to S3, which
    fails it, so the browser would never send the call. Moto's answers carry CORS headers."""

    ALLOWED_HEADERS = "Content-Type, X-Amz-Target, X-Amz-User-Agent"

    def __init__(self, application: Callable[..., Any], origins: Iterable[str]) -> None:
        self.application = application
        self.origins = frozenset(origins)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        origin = environ.get("HTTP_ORIGIN")
        preflight = environ.get("REQUEST_METHOD") == "OPTIONS" and environ.get(
            "HTTP_ACCESS_CONTROL_REQUEST_METHOD"
        )
        if not (preflight and origin in self.origins):
            return self.application(environ, start_response)
        start_response(
            "204 No Content",
            [
                ("Access-Control-Allow-Origin", origin),
                ("Access-Control-Allow-Methods", "POST"),
                ("Access-Control-Allow-Headers", self.ALLOWED_HEADERS),
                ("Access-Control-Max-Age", "600"),
                ("Vary", "Origin"),
            ],
        )
        return [b""]


class MotoServer:
    """Like moto's ThreadedMotoServer, but a port in use fails here, not in a thread
    (ThreadedMotoServer.start() would wait forever for a server that never started)."""

    def __init__(self, host: str, port: int, console_origins: Iterable[str] = ()) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        # The local stack is threaded: DynamoDB writes must be as atomic as DynamoDB's.
        moto_atomic.install()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per AWS request
        check_port_free(host, port, "the moto (AWS stand-in)")
        application = ConsolePreflight(
            DomainDispatcherApplication(create_backend_app), console_origins
        )
        try:
            self._server = make_server(
                host, port, application, threaded=True, request_handler=MotoRequestHandler
            )
        except SystemExit:  # werkzeug's answer to a port taken since the check
            raise PortInUse(f"the moto port {host}:{port} is in use") from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
