"""The built console at /console/ on the local gateway: its files as the deployed bucket
serves them (functions/console_assets/app.py), and the stack's own config.json."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from leadscore.web_files import content_type

from leadscore_tools.local.gateway import Reply, Request, problem
from leadscore_tools.template import ROOT

CONSOLE_DIST = ROOT / "web" / "console" / "dist"


class ConsoleFiles:
    """The built console at /console/ (index.html for /console/), and its config.json from
    the local stack (`config` answers None when the template has no user pool). Only files
    inside `root` are served, whatever the path's dots and percent-escapes say."""

    def __init__(
        self, config: Callable[[], dict[str, Any] | None], root: Path = CONSOLE_DIST
    ) -> None:
        self.config = config
        self.root = root.resolve()

    def reply(self, request: Request) -> Reply:
        path = request.raw_path
        if request.method not in ("GET", "HEAD"):
            refusal = problem(405, "Method Not Allowed", "the console's files are read only")
            return Reply(refusal.status, [*refusal.headers, ("Allow", "GET, HEAD")], refusal.body)
        if path == "/console":
            return Reply(301, [("Location", "/console/")], b"")
        name = unquote(path.removeprefix("/console/")) or "index.html"
        if name == "config.json":
            return self._config()
        if not (self.root / "index.html").is_file():
            detail = "the console is not built: run make console (make run builds it)"
            return problem(503, "Service Unavailable", detail)
        file = self._file(name)
        if file is None:
            return problem(404, "Not Found", f"the console has no file {name!r}")
        kind = content_type(file.name)
        return Reply(200, [("Content-Type", kind), *_CONSOLE_HEADERS], file.read_bytes())

    def _config(self) -> Reply:
        document = self.config()
        if document is None:
            detail = "the template has no user pool: the console cannot sign in"
            return problem(503, "Service Unavailable", detail)
        reply = Reply.json(200, document)
        return Reply(200, [*reply.headers, *_CONSOLE_HEADERS], reply.body)

    def _file(self, name: str) -> Path | None:
        if "\x00" in name:
            return None
        file = (self.root / name).resolve()
        return file if file.is_relative_to(self.root) and file.is_file() else None


# A rebuilt console shows at the next reload; the browser trusts no guessed type.
_CONSOLE_HEADERS = [("Cache-Control", "no-cache"), ("X-Content-Type-Options", "nosniff")]
