"""How the console's built files are served: the Content-Type of each, the same from the
bucket the console_assets function fills and from the local stack's gateway."""

from __future__ import annotations

from pathlib import PurePath

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
}


def content_type(name: str) -> str:
    """The Content-Type of a built file, by its name's suffix (bytes, for one unknown)."""
    return CONTENT_TYPES.get(PurePath(name).suffix.lower(), "application/octet-stream")
