"""`leadscore lead / rescore / decay / model publish / model list` against an HTTP server on
127.0.0.1: what they send, what they print, their progress bar and their exit status."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from leadscore_tools.cli import main

from tests.unit.engine_helpers import MODELS

Answer = tuple[int, Any]


class FakeStack:
    """Answers from `routes` ("METHOD /path" -> answer or a function of the body); records
    every request (method, path, headers, JSON body)."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer | Callable[[Any], Answer]] = {}
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        stack = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                stack.requests.append(
                    (self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                route = stack.routes.get(f"{self.command} {self.path}")
                if route is None:
                    status, document = (
                        404,
                        {"title": "Not Found", "status": 404, "detail": "no such route"},
                    )
                else:
                    status, document = route(body) if callable(route) else route
                data = json.dumps(document).encode()
                self.send_response(status)
                kind = "application/problem+json" if status >= 400 else "application/json"
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeStack]:
    fake = FakeStack()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("LEADSCORE_API_URL", fake.url)
    monkeypatch.setenv("LEADSCORE_API_KEY", "secret-key")
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def leadscore(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_lead_prints_the_scores_or_the_history(
    stack: FakeStack, capsys: pytest.CaptureFixture[str]
) -> None:
    lead = {"email": "a+b@corp.example", "scores": [{"model": "default", "score": 61.5}]}
    stack.routes["GET /v1/leads/a%2Bb%40corp.example"] = (200, lead)
    stack.routes["GET /v1/leads/a%2Bb%40corp.example/history"] = (200, {"history": []})

    status, out, _ = leadscore(capsys, "lead", "a+b@corp.example")
    assert status == 0 and json.loads(out) == lead
    assert stack.requests[-1][2]["x-api-key"] == "secret-key"

    status, out, _ = leadscore(capsys, "lead", "a+b@corp.example", "--history")
    assert status == 0 and json.loads(out) == {"history": []}


def test_an_unknown_lead_is_an_error_with_the_problem_detail(
    stack: FakeStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.routes["GET /v1/leads/nobody%40corp.example"] = (
        404,
        {"status": 404, "detail": "no lead with this email (unknown or erased)"},
    )
    status, out, err = leadscore(capsys, "lead", "nobody@corp.example")
    assert status == 1 and out == ""
    assert "HTTP 404: no lead with this email" in err


def rescore_stack(stack: FakeStack, failures: int = 0) -> None:
    progress = [
        {"status": "queued", "leads_done": 0, "leads_total": 0, "listing_complete": False,
         "starts_at": "2026-11-01T12:01:00Z"},
        {"status": "running", "leads_done": 40, "leads_total": 100, "listing_complete": True},
        {"status": "completed", "leads_done": 100, "leads_total": 100, "listing_complete": True,
         "changed": 12, "failures": failures},
    ]  # fmt: skip
    reads = iter(progress)
    stack.routes["POST /v1/models/default/rescore"] = lambda body: (
        202,
        {"job_id": "j1", "status": "queued", "progress_url": "/v1/models/default/rescore/j1"},
    )
    stack.routes["GET /v1/models/default/rescore/j1"] = lambda body: (
        200,
        {"model": "default", "job_id": "j1", **next(reads)},
    )


def test_rescore_starts_the_job_shows_progress_and_prints_the_summary(
    stack: FakeStack, capsys: pytest.CaptureFixture[str]
) -> None:
    rescore_stack(stack)
    status, out, err = leadscore(capsys, "rescore", "default", "--dry-run", "--interval", "0")
    assert status == 0
    summary = json.loads(out)
    assert summary["status"] == "completed" and summary["changed"] == 12
    started = next(r for r in stack.requests if r[0] == "POST")
    assert started[3] == {"dry_run": True, "notify": False}
    bars = err.splitlines()
    assert len(bars) == 3
    assert "[" + "." * 30 + "]" in bars[0] and "0/0+ leads" in bars[0]
    assert bars[0].endswith("queued, starts at 2026-11-01T12:01:00Z")
    assert "40/100 leads  40%" in bars[1] and "#" * 12 + "." * 18 in bars[1]
    assert "100/100 leads 100%, 12 changed, completed" in bars[2]


def test_rescore_fails_when_leads_could_not_be_rescored(
    stack: FakeStack, capsys: pytest.CaptureFixture[str]
) -> None:
    rescore_stack(stack, failures=2)
    status, out, err = leadscore(capsys, "rescore", "default", "--notify", "--interval", "0")
    assert status == 1
    assert json.loads(out)["failures"] == 2
    assert "2 lead(s) could not be rescored" in err
    assert next(r for r in stack.requests if r[0] == "POST")[3] == {
        "dry_run": False,
        "notify": True,
    }


def test_rescore_gives_up_waiting_after_the_timeout(
    stack: FakeStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.routes["POST /v1/models/default/rescore"] = (
        202,
        {"job_id": "j1", "progress_url": "/v1/models/default/rescore/j1"},
    )
    stack.routes["GET /v1/models/default/rescore/j1"] = (200, {"status": "running"})
    status, _, err = leadscore(capsys, "rescore", "default", "--interval", "0", "--timeout", "0.2")
    assert status == 1 and "still running after 0.2 s" in err


def test_rescore_stops_on_an_incomplete_job_and_says_what_to_redrive(
    stack: FakeStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.routes["POST /v1/models/default/rescore"] = (
        202,
        {"job_id": "j1", "progress_url": "/v1/models/default/rescore/j1"},
    )
    incomplete = {"status": "incomplete", "failed_chunks": 2, "failed_pages": 0}
    stack.routes["GET /v1/models/default/rescore/j1"] = (200, incomplete)
    # It must stop by itself, not wait out the timeout for a job that cannot finish.
    status, out, err = leadscore(capsys, "rescore", "default", "--interval", "0", "--timeout", "5")
    assert status == 1 and json.loads(out)["status"] == "incomplete"
    assert "2 chunk(s) and 0 listing page(s) failed" in err and "redrive" in err


def test_rescore_of_an_unknown_model(stack: FakeStack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.routes["POST /v1/models/nope/rescore"] = (404, {"detail": "no model with this id"})
    status, out, err = leadscore(capsys, "rescore", "nope")
    assert status == 1 and out == "" and "HTTP 404: no model with this id" in err


def test_decay_posts_the_time_to_the_local_schedule_route(
    stack: FakeStack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.routes["POST /_local/schedule/decay"] = lambda body: (200, {"complete": True, **body})
    status, out, _ = leadscore(capsys, "decay", "--at", "2026-11-01T12:00:00Z")
    assert status == 0 and json.loads(out) == {
        "complete": True,
        "time": "2026-11-01T12:00:00+00:00",
    }
    status, _, err = leadscore(capsys, "decay", "--at", "yesterday")
    assert status == 1 and "--at" in err


def test_model_publish_validates_then_puts_and_list_gets(
    stack: FakeStack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stack.routes["PUT /v1/models/default"] = lambda body: (200, {"id": body["id"], "version": 3})
    status, out, _ = leadscore(capsys, "model", "publish", str(MODELS / "default.yaml"))
    assert status == 0 and json.loads(out) == {"id": "default", "version": 3}
    sent = stack.requests[-1][3]
    assert sent["id"] == "default" and sent["thresholds"] == {"mql": 60, "reset": 45}

    # no id in the document: the file's stem
    text = (MODELS / "default.yaml").read_text().replace("id: default\n", "", 1)
    (tmp_path / "trial.yaml").write_text(text)
    stack.routes["PUT /v1/models/trial"] = (200, {"id": "trial", "version": 1})
    status, out, _ = leadscore(capsys, "model", "publish", str(tmp_path / "trial.yaml"))
    assert status == 0 and stack.requests[-1][3]["id"] == "trial"

    stack.routes["GET /v1/models"] = (200, {"models": [{"id": "default", "version": 3}]})
    status, out, _ = leadscore(capsys, "model", "list")
    assert status == 0 and json.loads(out)["models"][0]["version"] == 3


def test_an_invalid_model_is_not_sent(
    stack: FakeStack, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((MODELS / "default.yaml").read_text().replace("mql: 60", "mql: 600"))
    status, _, err = leadscore(capsys, "model", "publish", str(bad))
    assert status == 1 and "problem" in err and "thresholds" in err
    assert stack.requests == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "argv",
    [
        ["lead", "a@b.example"],
        ["rescore", "default"],
        ["decay"],
        ["model", "list"],
        ["model", "publish", str(MODELS / "default.yaml")],
    ],
)
def test_every_stack_command_says_when_the_stack_is_not_running(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADSCORE_API_URL", raising=False)
    monkeypatch.setenv("LEADSCORE_API_PORT", str(free_port()))
    status, out, err = leadscore(capsys, *argv)
    assert status == 1 and out == ""
    assert "cannot reach the stack at http://127.0.0.1:" in err and "make run" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["lead"],
        ["leads"],
        ["accounts"],
        ["rescore"],
        ["decay"],
        ["model", "list"],
        ["model", "publish"],
    ],
)
def test_every_stack_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    assert "--api-url" in capsys.readouterr().out
