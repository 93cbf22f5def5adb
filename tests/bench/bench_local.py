"""The local stack (`make run`): time to ready, and form post -> sales alert in the outbox.

Run from the project root: `.venv/bin/python -m tests.bench.bench_local`. Starts
`leadscore local` on free ports (as `make run` does, dependencies installed), measures
launch -> `/v1/health` answers, then posts demo-request forms from leads that fit well
enough to become MQLs on that one form, one at a time, and times each until its `lead.mql`
notification is published (the outbox's `published_at`). The scorer's event source has a
1 s batching window (template.yaml), so about a second of each figure is that wait.
"""

from __future__ import annotations

import statistics
import time
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


def alert_latencies(stack: LocalStackProcess) -> list[float]:
    latencies = []
    for n in range(LEADS):
        email = f"buyer{n}@fitting{n}.example"
        posted = time.time()
        status, _ = stack.request(
            "POST",
            "/v1/forms",
            form(n),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert status == 202, status
        deadline = posted + 30
        while time.time() < deadline:
            _, entries = stack.request("GET", "/_local/outbox")
            mql = [
                e
                for e in entries
                if e["message"].get("email") == email and e["message"]["kind"] == "lead.mql"
            ]
            if mql:
                published = datetime.fromisoformat(mql[0]["published_at"]).timestamp()
                latencies.append(published - posted)
                break
            time.sleep(0.02)
        else:
            raise RuntimeError(f"no MQL for {email} within 30 s")
    return latencies


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
        latencies = alert_latencies(stack)
    finally:
        status, _ = stack.stop()
    print(
        f"form post -> lead.mql in the outbox, {LEADS} leads one at a time: "
        f"p50 {percentile(latencies, 0.5) * 1000:,.0f} ms, "
        f"p95 {percentile(latencies, 0.95) * 1000:,.0f} ms, "
        f"max {max(latencies) * 1000:,.0f} ms "
        "(includes the scorer's 1 s batching window)"
    )
    print(f"Ctrl-C: exit status {status}")


if __name__ == "__main__":
    main()
