"""The console: JavaScript shipped (gzipped) on first load and lazily, the deployed assets'
size, and the time to an interactive queue page with N MQLs in the local stack.

Run from the project root after `make console`: `.venv/bin/python -m tests.bench.bench_console
[--mqls N] [--runs R]` (the issue's figure: 10,000 MQLs, the default).

Sizes are read from web/console/dist with the build's own accounting (web/console/sizes.mjs:
the first load is index.html, app.css, app.js and the chunks it imports statically). The
queue's time is Chromium's, from navigation start (performance.now() of the new page) to the
first queue row being shown and enabled, signed in as the sales demo user, the HTTP cache
off (a first visit) and on (a return visit); the median of R runs each. The MQLs' state
items are written straight into the stack's moto table (BatchWriteItem, as the scorer leaves
them: the queue's index holds them by deadline); moto's Query sorts the whole table, so the
API's share of that time grows with N where DynamoDB's does not.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

from tests.bench.common import ROOT

DIST = ROOT / "web" / "console" / "dist"
# The row is there, shown and enabled: the moment a person can click it.
ROW_READY = """
const row = document.querySelector('[data-testid="queue-row"]');
if (!row) return null;
const box = row.getBoundingClientRect();
const shown = box.width > 0 && box.height > 0 && getComputedStyle(row).visibility !== 'hidden';
return shown && !row.closest('[aria-busy="true"], [inert]') ? performance.now() : null;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mqls", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    if not (DIST / "index.html").is_file():
        raise SystemExit(f"{DIST}/index.html is missing: run `make console` first")
    javascript_shipped()
    deployed_assets()
    queue_time(arguments.mqls, arguments.runs)


def javascript_shipped() -> None:
    """The build's own first-load and lazy-chunk accounting (sizes.mjs), printed."""
    script = (
        "import {firstLoad, lazyChunks} from './web/console/sizes.mjs';"
        "const dist = new URL('./web/console/dist/', 'file://' + process.cwd() + '/');"
        "const first = firstLoad(dist);"
        "console.log(JSON.stringify({first, lazy: lazyChunks(dist, first)}));"
    )
    answer = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    sizes = json.loads(answer.stdout)
    first_js = [f for f in sizes["first"]["files"] if f["name"].endswith(".js")]
    lazy = sizes["lazy"]
    print("JavaScript shipped (gzipped, level 9):")
    print(
        f"  first load: {kb(sum(f['gzipped'] for f in first_js))} of JavaScript "
        f"({', '.join(f['name'] for f in first_js)}); with index.html and app.css "
        f"{kb(sizes['first']['gzipped'])} (budget 150 KB)"
    )
    print(f"  lazily: {kb(sum(c['gzipped'] for c in lazy))} in {len(lazy)} chunks")
    for chunk in sorted(lazy, key=lambda c: -c["gzipped"])[:5]:
        print(f"    {chunk['name']}: {kb(chunk['gzipped'])}")


def deployed_assets() -> None:
    files = [path for path in DIST.rglob("*") if path.is_file()]
    raw = sum(path.stat().st_size for path in files)
    packed = sum(len(gzip.compress(path.read_bytes(), 9)) for path in files)
    print(
        f"deployed assets (web/console/dist, {len(files)} files): {kb(raw)}, {kb(packed)} gzipped"
    )


def kb(size: int) -> str:
    return f"{size / 1024:.1f} KB"


def queue_time(mqls: int, runs: int) -> None:
    from leadscore_tools.local.process import LocalStackProcess

    from tests.browser.console_helpers import SALES, console

    stack = LocalStackProcess("--no-schedules").start()
    try:
        started = time.perf_counter()
        seed_mqls(stack.moto_url, mqls)
        print(
            f"\n{mqls:,} MQLs written to the local stack in {time.perf_counter() - started:.0f} s"
        )
        status, answer = stack.request(
            "GET",
            "/v1/leads?model=default&status=mql&sort=sla_due_at&limit=1",
            headers={"x-api-key": stack.api_key},
        )
        assert status == 200 and answer["leads"], answer
        with console(stack) as page:
            page.sign_in(SALES)
            for cache in ("off", "on"):
                page.driver.execute_cdp_cmd(
                    "Network.setCacheDisabled", {"cacheDisabled": cache == "off"}
                )
                times = [ready_ms(page) for _ in range(runs)]
                print(
                    f"queue page interactive (navigation -> first row clickable), HTTP cache "
                    f"{cache}: median {statistics.median(times):.0f} ms of {runs} "
                    f"({', '.join(f'{t:.0f}' for t in times)})"
                )
    finally:
        stack.stop()


def ready_ms(page: Any) -> float:
    """One navigation to the queue (a new document, the session kept in the tab)."""
    page.driver.get("about:blank")
    page.driver.get(f"{page.url}#/queue")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = page.driver.execute_script(ROW_READY)
        if found is not None:
            return float(found)
        time.sleep(0.01)
    raise RuntimeError(f"no clickable queue row in 120 s: {page.text()[:300]}")


def seed_mqls(moto_url: str, mqls: int) -> None:
    """MQL state items of the default model, deadlines spread over the last and next days."""
    import boto3

    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    [table] = dynamodb.list_tables()["TableNames"]
    # The package reads its settings once, when the table's class is made: set them first.
    os.environ.update(
        TABLE_NAME=table,
        AWS_ENDPOINT_URL=moto_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
    )
    from leadscore.adapters.dynamo import LeadTable
    from leadscore.adapters.dynamo_records import item_of

    rng, now = random.Random(7), int(datetime.now(UTC).timestamp())
    with LeadTable.batch_write() as batch:
        for n in range(mqls):
            batch.save(item_of(_mql(n, rng, now)))


def _mql(n: int, rng: random.Random, now: int) -> Any:
    from leadscore.domain.emails import lead_key
    from leadscore.domain.state import LeadState
    from leadscore.services.store import StateRecord

    email = f"person{n}@company{n % 2_000}.example"
    state = LeadState("default", 1, score=rng.randint(6_000, 10_000), grade=rng.choice("AB"))
    state.fit, state.engagement = rng.randint(6_000, 10_000), rng.randint(6_000, 10_000)
    state.level, state.last_activity_at = rng.randint(1, 2), now - rng.randint(0, 7 * 86_400)
    state.status, state.mql_since = "mql", now - rng.randint(0, 4 * 86_400)
    state.sla_due_at = state.mql_since + 48 * 3_600
    record = StateRecord(lead_key(email), "default", state, account_domain=email.split("@")[1])
    record.email, record.name, record.company = email, f"Person {n}", f"Company {n % 2_000}"
    record.owner = f"seller{n % 7}@sales.example" if n % 3 == 0 else None
    return record


if __name__ == "__main__":
    main()
