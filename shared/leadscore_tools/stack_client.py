"""Talking to a running stack (the local one by default) over its HTTP API."""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlsplit

from leadscore_tools.common import CommandError

DEFAULT_KEY = "local-dev-key"


def default_url() -> str:
    port = os.environ.get("LEADSCORE_API_PORT", "3000")
    return os.environ.get("LEADSCORE_API_URL") or f"http://127.0.0.1:{port}"


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """`--api-url` and `--api-key`, defaulting to the local stack (or the environment)."""
    parser.add_argument(
        "--api-url", default=None, help="the stack's API (default: $LEADSCORE_API_URL or local)"
    )
    parser.add_argument(
        "--api-key", default=None, help="API key (default: $LEADSCORE_API_KEY or local-dev-key)"
    )


def segment(value: str) -> str:
    """One path segment, escaped (emails carry `@` and `+`)."""
    return quote(value, safe="")


class StackClient:
    def __init__(self, base_url: str, api_key: str, timeout: float = 900) -> None:
        if urlsplit(base_url).scheme not in ("http", "https"):
            raise CommandError(f"the API URL must be http:// or https://, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> StackClient:
        url = getattr(args, "api_url", None) or default_url()
        key = getattr(args, "api_key", None) or os.environ.get("LEADSCORE_API_KEY") or DEFAULT_KEY
        return cls(url, key)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Send one request; the parsed JSON answer, or CommandError with the problem's detail."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"x-api-key": self.api_key, "accept": "application/json"}
        if data is not None:
            headers["content-type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 (http or https: checked in __init__)
            self.base_url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                text = answer.read().decode()
        except urllib.error.HTTPError as error:
            raise CommandError(_problem_message(error)) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CommandError(
                f"cannot reach the stack at {self.base_url} ({reason}); is `make run` running?"
            ) from None
        return json.loads(text) if text else None


def _problem_message(error: urllib.error.HTTPError) -> str:
    try:
        problem = json.loads(error.read().decode())
    except (ValueError, OSError):
        return f"HTTP {error.code}"
    lines = [f"HTTP {error.code}: {problem.get('detail') or problem.get('title') or ''}".rstrip()]
    lines += [f"  {e.get('field')}: {e.get('message')}" for e in problem.get("errors") or []]
    return "\n".join(lines)
