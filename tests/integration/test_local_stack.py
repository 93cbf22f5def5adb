"""`leadscore local` end to end, over HTTP, as a developer uses it (`make run`).

One stack for the module: started as a child process on free ports, driven through its API
and its /_local routes, and stopped with Ctrl-C at the end.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from leadscore_tools.local.process import LocalStackProcess

pytestmark = pytest.mark.slow  # about half a minute: a real start, batching windows, retries

KEY = "local-test-key"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStackProcess]:
    process = LocalStackProcess("--retry-seconds", "1", "--no-schedules", api_key=KEY).start()
    yield process
    process.stop()


def lead(stack: LocalStackProcess, email: str) -> tuple[int, Any]:
    return stack.request("GET", f"/v1/leads/{quote(email)}", headers={"x-api-key": KEY})


def drain(stack: LocalStackProcess) -> None:
    status, answer = stack.request("POST", "/_local/drain")
    assert status == 200 and answer["drained"] is True


def outbox(stack: LocalStackProcess, email: str) -> list[dict[str, Any]]:
    status, entries = stack.request("GET", "/_local/outbox")
    assert status == 200
    return [e for e in entries if e["message"].get("email") == email]


def test_forms_json_and_urlencoded_are_scored_and_leads_need_the_key(
    stack: LocalStackProcess,
) -> None:
    status, answer = stack.request(
        "POST",
        "/v1/forms",
        {"email": "ada@analytical.example", "job_title": "CTO", "form": "demo-request"},
    )
    assert status == 202 and answer["status"] == "accepted"
    form = urlencode(
        {"email": "grace@cobol.example", "company_size": "51-200", "form": "contact-us"}
    ).encode()
    status, answer = stack.request(
        "POST",
        "/v1/forms",
        form,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert status == 202 and answer["event_id"]
    drain(stack)

    status, ada = lead(stack, "ada@analytical.example")
    assert status == 200
    default = next(s for s in ada["scores"] if s["model"] == "default")
    assert default["score"] > 0
    assert {r["rule"] for r in default["reasons"]} >= {"engagement.demo_form", "fit.role.executive"}
    status, grace = lead(stack, "grace@cobol.example")
    assert status == 200 and grace["profile"]["company_size"] == 51

    for headers in ({}, {"x-api-key": "wrong"}):
        status, refusal = stack.request("GET", "/v1/leads/grace%40cobol.example", headers=headers)
        assert status == refused("UNAUTHORIZED"), refusal
        assert "grace" not in json.dumps(refusal)


def refused(kind: str) -> int:
    """What API Gateway answers for `kind`: template.yaml's GatewayResponses, else its default."""
    from leadscore_tools.intrinsics import Naming
    from leadscore_tools.template import read_stack

    responses = read_stack(Naming("http://127.0.0.1:5000")).gateway_responses
    custom = responses.get(kind) or responses.get("DEFAULT_4XX") or {}
    return int(custom.get("StatusCode", 403))


def test_unknown_routes_answer_like_api_gateway(stack: LocalStackProcess) -> None:
    status, refusal = stack.request("GET", "/v1/nothing-here")
    assert status == refused("MISSING_AUTHENTICATION_TOKEN"), refusal
    assert stack.request("PATCH", "/v1/health")[0] == refused("MISSING_AUTHENTICATION_TOKEN")
    assert stack.request("GET", "/v1/health") == (200, {"status": "ok"})


def test_events_over_the_threshold_reach_the_outbox_and_decay_cools_the_lead(
    stack: LocalStackProcess,
) -> None:
    email = "linus@kernel.example"
    profile = {"first_name": "Linus", "company": "Kernel", "job_title": "VP Engineering"}
    events = [
        {"id": "k1", "email": email, "type": "demo_request", "profile": profile},
        {"id": "k2", "email": email, "type": "meeting_booked"},
        {
            "id": "k3",
            "email": email,
            "type": "page_view",
            "properties": {"url": "https://v.example/pricing"},
        },
    ]
    assert stack.request("POST", "/v1/events", events)[0] == refused("UNAUTHORIZED")
    # The banner's scoped keys: a sales key may not post events, the ingest key may not read.
    sales = stack.request("POST", "/v1/events", events, headers={"x-api-key": "local-sales-key"})
    assert sales[0] == 403 and sales[1]["status"] == 403
    ingest = {"x-api-key": "local-ingest-key"}
    assert stack.request("GET", "/v1/leads/linus%40kernel.example", headers=ingest)[0] == 403
    status, answer = stack.request("POST", "/v1/events", events, headers={"x-api-key": KEY})
    assert status == 202 and answer["accepted"] == 3
    drain(stack)

    status, linus = lead(stack, email)
    default = next(s for s in linus["scores"] if s["model"] == "default")
    assert default["status"] == "mql", default
    [mql] = [e for e in outbox(stack, email) if e["message"]["kind"] == "lead.mql"]
    assert mql["subject"].startswith("New MQL")
    assert "Linus" in mql["email_text"] and "Why:" in mql["email_text"]
    assert mql["attributes"]["kind"] == "lead.mql" and mql["attributes"]["model"] == "default"
    assert mql["message"]["score"] == default["score"]
    assert mql["published_at"]
    assert "[outbox " in stack.console() and mql["subject"] in stack.console()

    status, run = stack.request("POST", "/_local/schedule/decay", {"time": "2031-01-01T06:00:00Z"})
    assert status == 200, run
    assert run["result"]["complete"] is True
    assert run["scheduled_time"].startswith("2031-01-01T06:00:00")
    kinds = [e["message"]["kind"] for e in outbox(stack, email)]
    assert "lead.cooled" in kinds, kinds
    status, cooled = lead(stack, email)
    assert next(s for s in cooled["scores"] if s["model"] == "default")["score"] < default["score"]


def test_schedule_route_refuses_what_it_cannot_run(stack: LocalStackProcess) -> None:
    status, problem = stack.request("POST", "/_local/schedule/nothing")
    assert status == 404 and "decay" in problem["detail"]
    status, problem = stack.request("POST", "/_local/schedule/decay", {"time": "yesterday"})
    assert status == 400


def test_a_poison_message_ends_in_the_dead_letter_queue_with_its_reason(
    stack: LocalStackProcess,
) -> None:
    import boto3

    sqs = boto3.client(
        "sqs",
        endpoint_url=stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    queue_url = sqs.get_queue_url(QueueName="leadscore-ScoringQueue")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName="leadscore-ScoringDLQ")["QueueUrl"]
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])[
            "Attributes"
        ]["RedrivePolicy"]
    )
    assert redrive["deadLetterTargetArn"].endswith(":leadscore-ScoringDLQ")
    sqs.send_message(QueueUrl=queue_url, MessageBody="{not json")

    drain(stack)  # the scorer puts it in the DLQ itself: it can never be scored

    status, queues = stack.request("GET", "/_local/queues")
    assert status == 200 and queues["ScoringQueue"]["dead_letter_queue"] == "ScoringDLQ"
    assert queues["ScoringDLQ"]["visible"] >= 1 and queues["ScoringQueue"]["visible"] == 0
    moved = sqs.receive_message(
        QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    [message] = [m for m in moved.get("Messages", []) if m["Body"] == "{not json"]
    reason = message["MessageAttributes"]["reason"]["StringValue"]
    assert reason == "unreadable: body is not JSON"


def test_ctrl_c_stops_cleanly_and_frees_the_ports(stack: LocalStackProcess) -> None:
    status, console = stack.stop()
    assert status == 0, console
    assert "Ctrl-C to stop" in console and "stopped." in console
    for port in (stack.api_port, stack.moto_port):
        with socket.socket() as probe:  # a server can listen there again
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
            probe.listen()


def test_a_port_in_use_is_a_clear_error() -> None:
    import subprocess
    import sys
    from pathlib import Path

    from leadscore_tools.local.process import free_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = Path(sys.executable).with_name("leadscore")
        finished = subprocess.run(
            [str(command), "local", "--api-port", str(port), "--moto-port", str(free_port())],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert finished.returncode == 2
    assert f"127.0.0.1:{port} is in use" in finished.stderr
