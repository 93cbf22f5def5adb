"""The demo website (examples/site) on loopback, its pages pointed at the running stack's API,
and what the stack allows it: posting forms (CorsOrigins) and tracking (TrackingSites).

The pages name the API at the local stack's default address (`DEFAULT_API`), so they also
work opened as they are beside `make run`; served here, they name the API this stack runs.
A path without a file serves the page it is under: `/product/features` is `product.html`,
whose client-side router shows that view (what a single-page app's server does).
"""

from __future__ import annotations

import mimetypes
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from leadscore_tools.local.logs import log
from leadscore_tools.template import ROOT

SITE = ROOT / "examples" / "site"
DEFAULT_API = "http://127.0.0.1:3000"
DEFAULT_PORT = 8000  # also the origins allowed when the website is not served
SITE_KEY = "local-site"


def site_parameters(parameters: dict[str, str], site_port: int) -> dict[str, str]:
    """`parameters` with CorsOrigins and TrackingSites naming the website's origins, unless
    given (a parameter, LEADSCORE_CORS_ORIGINS, LEADSCORE_TRACKING_SITES)."""
    port = site_port or DEFAULT_PORT
    origins = [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
    defaults = {
        "CorsOrigins": os.environ.get("LEADSCORE_CORS_ORIGINS") or ",".join(origins),
        "TrackingSites": os.environ.get("LEADSCORE_TRACKING_SITES")
        or f"{SITE_KEY}={' '.join(origins)}",
    }
    return {**defaults, **parameters}


def serve_site(host: str, port: int, api_url: str) -> SiteServer | None:
    """The website, started; None when `port` is 0, or in use (a warning, not an error)."""
    if not port:
        return None
    try:
        site = SiteServer(host, port, api_url)
    except OSError as error:
        log.warning(
            "the demo website is not served: port %d: %s (LEADSCORE_SITE_PORT chooses "
            "another, 0 turns it off)",
            port,
            error.strerror,
        )
        return None
    site.start()
    return site


class SiteServer(ThreadingHTTPServer):
    """Serves `root` (GET and HEAD only) until `shutdown()`, in its own thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, api_url: str, root: Path = SITE) -> None:
        self.root = root.resolve()
        self.api_url = api_url
        super().__init__((host, port), _Handler)
        self._thread = threading.Thread(target=self.serve_forever, name="site", daemon=True)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)

    def page(self, path: str) -> Path | None:
        """The file a URL path serves (`/pricing` is pricing.html), never one outside the root."""
        parts = [p for p in unquote(path).split("/") if p]
        if any(p.startswith(".") or "\\" in p for p in parts):
            return None
        exact = self.root.joinpath(*parts)
        candidates = [exact / "index.html"]
        if parts:
            candidates[:0] = [exact, exact.with_name(f"{exact.name}.html")]
        # A client-side route serves the page it is under: /product/features is product.html.
        candidates += [
            self.root.joinpath(*parts[: length - 1], f"{parts[length - 1]}.html")
            for length in range(len(parts) - 1, 0, -1)
        ]
        return next((c for c in candidates if c.is_file()), None)

    def content(self, file: Path) -> bytes:
        body = file.read_bytes()
        if file.suffix == ".html" and self.api_url != DEFAULT_API:
            body = body.replace(DEFAULT_API.encode(), self.api_url.encode())
        return body


class _Handler(BaseHTTPRequestHandler):
    server: SiteServer
    server_version = "leadscore-local-site"

    def do_GET(self) -> None:
        file = self.server.page(urlsplit(self.path).path)
        if file is None:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")
            return
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        self._send(200, self.server.content(file), kind)

    do_HEAD = do_GET

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")  # an edited page shows on reload
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("site %s", format % args)
