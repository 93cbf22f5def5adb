"""The local stack (`make run`): time to ready, and form post -> sales alert in the outbox.

Run from the project root: `.venv/bin/python -m tests.bench.bench_local`. Starts
`leadscore local` on free ports (as `make run` does, dependencies installed), measures
launch -> `/v1/health` answers, then posts demo-request forms from leads that fit well
enough to become MQLs on that one form, one at a time, and times each until its `lead.mql`
notification is published (the outbox's `published_at`); then the same for leads posted
all at once. The scorer's event source has a 1 s batching window (template.yaml), so about
a second of each figure is that wait; locally each function is one container, so a burst's
batches are scored one after another where Lambda would run several at once.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import urlencode

from leadscore_tools.local.process import LocalStackProcess

LEADS = 30
STARTS = 3


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def form(n: int) -> bytes:
    return urlencode(
        {
            "email": f"buyer{n}@fitting{n}.example",
            "first_name": f"Buyer{n}",
            "company": f"Fitting {n}",
            "job_title": "CTO",
            "industry": "software",
            "company_size": "1000",
            "annual_revenue": "60000000",
            "country": "US",
            "form": "demo-request",
        }
    ).encode()


def post(stack: LocalStackProcess, n: int) -> float:
    posted = time.time()
    status, _ = stack.request(
        "POST", "/v1/forms", form(n), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert status == 202, status
    return posted


def published_at(stack: LocalStackProcess, numbers: range, timeout: float = 60) -> dict[int, float]:
    """When each lead's lead.mql was published, waiting for all of them."""
    wanted = {f"buyer{n}@fitting{n}.example": n for n in numbers}
    found: dict[int, float] = {}
    deadline = time.time() + timeout
    while len(found) < len(wanted):
        if time.time() > deadline:
            raise RuntimeError(f"{len(wanted) - len(found)} MQLs missing after {timeout} s")
        _, entries = stack.request("GET", "/_local/outbox")
        for entry in entries:
            n = wanted.get(entry["message"].get("email"))
            if n is not None and entry["message"]["kind"] == "lead.mql":
                found[n] = datetime.fromisoformat(entry["published_at"]).timestamp()
        time.sleep(0.1)  # the figure is the stack's own publish time: polling only reads it
    return found


def one_at_a_time(stack: LocalStackProcess) -> list[float]:
    latencies = []
    for n in range(LEADS):
        posted = post(stack, n)
        latencies.append(published_at(stack, range(n, n + 1))[n] - posted)
    return latencies


def burst(stack: LocalStackProcess) -> list[float]:
    """LEADS forms posted at once from 10 clients."""
    numbers = range(1000, 1000 + LEADS)
    with ThreadPoolExecutor(10) as clients:
        posted = dict(zip(numbers, clients.map(lambda n: post(stack, n), numbers), strict=True))
    published = published_at(stack, numbers)
    return [published[n] - posted[n] for n in numbers]


def figures(latencies: list[float]) -> str:
    return (
        f"p50 {percentile(latencies, 0.5) * 1000:,.0f} ms, "
        f"p95 {percentile(latencies, 0.95) * 1000:,.0f} ms, "
        f"max {max(latencies) * 1000:,.0f} ms"
    )


def main() -> None:
    ready = []
    for attempt in range(STARTS):
        stack = LocalStackProcess("--no-schedules").start()
        ready.append(stack.ready_seconds)
        if attempt < STARTS - 1:
            stack.stop()
    print(
        f"leadscore local, launch -> ready (health answers), {STARTS} starts: "
        + ", ".join(f"{s:.1f} s" for s in ready)
        + f" (median {statistics.median(ready):.1f} s)"
    )
    try:
        sequential = one_at_a_time(stack)
        together = burst(stack)
    finally:
        status, _ = stack.stop()
    print(
        f"form post -> lead.mql in the outbox, {LEADS} leads one at a time: {figures(sequential)}"
        " (includes the scorer's 1 s batching window)"
    )
    print(f"form post -> lead.mql in the outbox, {LEADS} leads posted at once: {figures(together)}")
    print(f"Ctrl-C: exit status {status}")


if __name__ == "__main__":
    main()
