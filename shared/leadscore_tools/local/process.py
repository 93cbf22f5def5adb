"""`leadscore local` as a child process on free ports: for tests and benchmarks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LocalStackProcess:
    """Starts `leadscore local`, waits until /v1/health answers; `stop()` sends SIGINT.
    `site=True` serves the demo website too, on `site_port`; `environment` adds variables."""

    def __init__(
        self,
        *arguments: str,
        api_key: str = "local-dev-key",
        site: bool = False,
        environment: dict[str, str] | None = None,
    ) -> None:
        self.api_port, self.moto_port = free_port(), free_port()
        self.site_port = free_port() if site else 0
        self.environment = dict(environment or {})
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.moto_url = f"http://127.0.0.1:{self.moto_port}"
        self.api_key = api_key
        self.arguments = arguments
        self.process: subprocess.Popen[str] | None = None
        self._console: Any = None
        self.ready_seconds = 0.0

    def start(self, timeout: float = 120) -> LocalStackProcess:
        environment = {
            **os.environ,
            "LEADSCORE_API_PORT": str(self.api_port),
            "LEADSCORE_MOTO_PORT": str(self.moto_port),
            "LEADSCORE_API_KEY": self.api_key,
            "LEADSCORE_SITE_PORT": str(self.site_port),
            "PYTHONUNBUFFERED": "1",
            **self.environment,
        }
        command = Path(sys.executable).with_name("leadscore")
        started = time.perf_counter()
        # A file, not a pipe: a console nobody reads must never block the stack.
        self._console = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603 (our own command, fixed arguments)
            [str(command), "local", *self.arguments],
            env=environment,
            stdout=self._console,
            stderr=subprocess.STDOUT,
            text=True,
        )
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                output = self.console()
                raise RuntimeError(f"leadscore local exited {self.process.returncode}:\n{output}")
            try:
                if self.request("GET", "/v1/health", timeout=1)[0] == 200:
                    self.ready_seconds = time.perf_counter() - started
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"leadscore local was not ready in {timeout} s")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> tuple[int, Any]:
        """(status, parsed JSON or text); HTTP errors are answers too."""
        data: bytes | None
        headers = dict(headers or {})
        if body is None or isinstance(body, bytes):
            data = body
        else:
            data = json.dumps(body).encode()
            headers.setdefault("content-type", "application/json")
        request = urllib.request.Request(  # noqa: S310 (the stack's http URL)
            self.api_url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
                status, text = answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    def console(self) -> str:
        """What the stack printed so far."""
        self._console.seek(0)
        text: str = self._console.read()
        return text

    def stop(self, timeout: float = 30) -> tuple[int, str]:
        """Ctrl-C, as a person would; (exit status, console output)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.process.returncode, self.console()
