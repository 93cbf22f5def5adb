"""Commands that talk to a running stack (the local one by default): `leadscore lead`,
`leadscore rescore` (with a progress bar) and `leadscore decay`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from leadscore_tools.common import CommandError, parse_at, print_json
from leadscore_tools.stack_client import StackClient, add_stack_arguments, segment

BAR_WIDTH = 30


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lead = commands.add_parser(
        "lead", help="show a lead's current scores (or its history) from a running stack"
    )
    lead.add_argument("email")
    lead.add_argument(
        "--history", action="store_true", help="every score change, with the rule behind it"
    )
    add_stack_arguments(lead)
    lead.set_defaults(run=run_lead)

    rescore = commands.add_parser(
        "rescore",
        help="rescore every lead with a model's current version, showing progress",
        description="Start a rescoring job on a running stack, show its progress on stderr, "
        "then print its summary (JSON). Exit status 0 when every lead was rescored.",
    )
    rescore.add_argument("model", help="model id (see `leadscore model list`)")
    rescore.add_argument(
        "--dry-run", action="store_true", help="report what would change; write nothing"
    )
    rescore.add_argument(
        "--notify", action="store_true", help="notify sales of new and lost MQLs (default: none)"
    )
    rescore.add_argument(
        "--interval", type=float, default=1.0, help="seconds between progress reads (default 1)"
    )
    rescore.add_argument(
        "--timeout", type=float, default=None, help="give up waiting after this many seconds"
    )
    add_stack_arguments(rescore)
    rescore.set_defaults(run=run_rescore)

    decay = commands.add_parser(
        "decay",
        help="run the decay and follow-up deadline job now on the local stack",
        description="Run the scheduled decay job of the local stack now, as if its schedule "
        "fired at TIME (POST /_local/schedule/decay), and print its result.",
    )
    decay.add_argument("--at", help="as of this ISO-8601 time (default: now)")
    add_stack_arguments(decay)
    decay.set_defaults(run=run_decay)


def run_lead(args: argparse.Namespace) -> int:
    client = StackClient.from_args(args)
    path = f"/v1/leads/{segment(args.email.strip())}"
    print_json(client.request("GET", path + "/history" if args.history else path))
    return 0


def run_decay(args: argparse.Namespace) -> int:
    at = parse_at(args.at)
    client = StackClient.from_args(args)
    print_json(client.request("POST", "/_local/schedule/decay", {"time": at.isoformat()}))
    return 0


def run_rescore(
    args: argparse.Namespace,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    client = StackClient.from_args(args)
    options = {"dry_run": bool(args.dry_run), "notify": bool(args.notify)}
    started = client.request("POST", f"/v1/models/{segment(args.model)}/rescore", options)
    if not isinstance(started, dict) or not isinstance(started.get("progress_url"), str):
        raise CommandError("the stack did not answer with a rescore job")
    url = started["progress_url"]
    bar = ProgressBar(sys.stderr)
    began = clock()
    while True:
        job = client.request("GET", url)
        bar.show(job)
        if job.get("status") in ("completed", "incomplete"):
            break
        if args.timeout is not None and clock() - began >= args.timeout:
            bar.close()
            raise CommandError(
                f"rescore job {started['job_id']} still running after {args.timeout:g} s; "
                f"its progress: {url}"
            )
        sleep(max(0.05, args.interval))
    bar.close()
    print_json(job)
    if job.get("status") == "incomplete":
        raise CommandError(
            f"rescore job {started['job_id']} is incomplete: {job.get('failed_chunks', 0)} "
            f"chunk(s) and {job.get('failed_pages', 0)} listing page(s) failed and wait in the "
            "rescore dead-letter queue; redrive them to finish the job"
        )
    if job.get("failures"):
        raise CommandError(
            f"{job['failures']} lead(s) could not be rescored (they kept changing); run it again"
        )
    return 0


class ProgressBar:
    """A one-line text bar on a terminal; one line per change of progress otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.terminal = stream.isatty()
        self.last = ""

    def show(self, job: dict[str, Any]) -> None:
        done, total = int(job.get("leads_done") or 0), int(job.get("leads_total") or 0)
        listing = "" if job.get("listing_complete") else "+"  # still finding leads
        share = done / total if total else (1.0 if job.get("status") == "completed" else 0.0)
        filled = round(share * BAR_WIDTH)
        line = (
            f"rescore {job.get('model')} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
            f"{done}/{total}{listing} leads {share:4.0%}, {job.get('changed', 0)} changed, "
            f"{job.get('status')}"
        )
        if job.get("status") == "queued" and job.get("starts_at"):
            line += f", starts at {job['starts_at']}"  # waits until every scorer has the version
        if line == self.last:
            return
        self.last = line
        if self.terminal:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.terminal and self.last:
            self.stream.write("\n")
            self.stream.flush()
