"""`leadscore local`: the local stack (`make run`), in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any

from leadscore_tools.common import CommandError

DEFAULT_API_KEY = "local-dev-key"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "local",
        help="run the whole system locally (moto + API + queue pollers + schedules)",
        description=(
            "Run the system of template.yaml on this machine: moto (DynamoDB, SQS, SNS) on "
            "127.0.0.1, the API through the real handler, the queue pollers, the schedules "
            "and an outbox of the sales notifications. Ctrl-C stops it. Webhook secrets come "
            "from the environment: LEADSCORE_WEBHOOK_<NAME> (see the README)."
        ),
    )
    parser.add_argument(
        "--api-port",
        type=int,
        default=os.environ.get("LEADSCORE_API_PORT") or "3000",  # argparse converts it
        help="the API's port (default: $LEADSCORE_API_PORT or 3000)",
    )
    parser.add_argument(
        "--moto-port",
        type=int,
        default=os.environ.get("LEADSCORE_MOTO_PORT") or "5000",
        help="moto's port (default: $LEADSCORE_MOTO_PORT or 5000)",
    )
    parser.add_argument(
        "--site-port",
        type=int,
        default=os.environ.get("LEADSCORE_SITE_PORT") or "8000",
        help="the demo website's port, with the tracking snippet on its pages (default: "
        "$LEADSCORE_SITE_PORT or 8000; 0: not served)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("LEADSCORE_API_KEY") or DEFAULT_API_KEY,
        help=f"the admin API key (default: $LEADSCORE_API_KEY or {DEFAULT_API_KEY}); "
        "local-ingest-key and local-sales-key have the ingest and sales scopes",
    )
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter (repeatable), e.g. CorsOrigins=https://www.example.com",
    )
    parser.add_argument(
        "--ssm",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an SSM SecureString to create in moto (repeatable), e.g. the Slack URL under "
        "the name given as --parameter SlackWebhookParameter=NAME",
    )
    parser.add_argument(
        "--no-schedules",
        action="store_true",
        help="fire schedules only on demand (POST /_local/schedule/{function})",
    )
    parser.add_argument(
        "--retry-seconds",
        type=int,
        default=2,
        help="seconds before a failed queue message is retried (default 2; AWS: the queue's "
        "VisibilityTimeout)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="the functions' logs and every request on the console",
    )
    parser.set_defaults(run=run)


def _pairs(option: str, pairs: list[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise CommandError(f"{option} {pair!r}: expected NAME=VALUE", 2)
        parameters[name] = value
    return parameters


def run(args: argparse.Namespace) -> int:
    from leadscore_tools.intrinsics import TemplateError
    from leadscore_tools.local.moto_server import PortInUse
    from leadscore_tools.local.resources import ModelFileError
    from leadscore_tools.local.stack import LocalStack, Options

    # Its own handler: Powertools filters the root handler's records of loggers named
    # like its service (`leadscore...`), and the functions' logs have their own format.
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter("[local %(asctime)s] %(message)s", "%H:%M:%S"))
    log = logging.getLogger("local_stack")
    log.addHandler(console)
    log.propagate = False
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    options = Options(
        api_port=args.api_port,
        moto_port=args.moto_port,
        api_key=args.api_key,
        parameters=_pairs("--parameter", args.parameter),
        ssm=_pairs("--ssm", args.ssm),
        schedules=not args.no_schedules,
        retry_seconds=args.retry_seconds,
        verbose=args.verbose,
        console=sys.stdout,
        site_port=args.site_port,
    )
    stack = LocalStack(options)
    stopping = threading.Event()
    # Ctrl-C and SIGTERM both stop the stack; handled explicitly because a shell starts
    # background jobs with SIGINT ignored.
    previous = {
        number: signal.signal(number, lambda *_: stopping.set())
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        try:
            stack.start()
        except PortInUse as error:
            raise CommandError(str(error), 2) from None
        except TemplateError as error:
            raise CommandError(f"template.yaml: {error}", 2) from None
        except ModelFileError as error:
            raise CommandError(str(error), 2) from None
        print(banner(stack), flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C forces it
        if stack.startup_seconds:
            print("\nstopping the local stack ... (Ctrl-C again to force)", flush=True)
        stack.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)
    print("stopped.", flush=True)
    return 0


def banner(stack: Any) -> str:
    from leadscore_tools.local.console import banner_lines

    api, key = stack.api_url, stack.options.api_key
    keys = [
        f"  {'API keys' if n == 0 else '':<13}{value:<20} {', '.join(scopes)}"
        for n, (value, scopes) in enumerate(stack.keys.items())
    ]
    spec = stack.stack
    tables = ", ".join(t.name for t in spec.tables.values())
    queues = ", ".join(q.logical_id for q in spec.queues.values())
    topics = ", ".join(t.logical_id for t in spec.topics.values())
    models = ", ".join(f"{model} v{version}" for model, version in stack.models) or "none"
    runs = stack.next_runs()
    schedules = [
        f"  {'schedule' if n == 0 else '':<13}POST {api}/_local/schedule/{name}"
        f"   ({s.expression} {s.timezone}"
        + (
            f", next {runs[s.event]:%Y-%m-%d %H:%M}Z"
            if stack.scheduler and runs.get(s.event)
            else ", on demand only"
        )
        + ")"
        for n, (name, s) in enumerate(zip(stack.schedule_names(), spec.schedules, strict=True))
    ]
    lines = [
        "",
        f"leadscore local stack ready in {stack.startup_seconds:.1f} s "
        f"({len(spec.routes)} routes, {len(stack.pollers)} queue pollers, "
        f"{len(spec.schedules)} schedules from template.yaml)",
        "",
        f"  API          {api}",
        *banner_lines(api, getattr(stack, "sign_in", None)),
        f"  form         POST {api}/v1/forms",
        *(
            [f"  website      {stack.site.url}   (examples/site, tracked: browse it, then /demo)"]
            if stack.site
            else []
        ),
        f"  outbox       GET  {api}/_local/outbox   (sales notifications, also printed here)",
        f"  drain        POST {api}/_local/drain",
        *schedules,
        f"  AWS (moto)   {stack.moto_url}   any credentials, region us-east-1",
        f"               DynamoDB {tables}; SNS {topics}",
        f"               SQS {queues}",
        *keys,
        "               (x-api-key header; ingest: POST /v1/events; sales: reading leads and "
        "accounts, feedback; admin: everything)",
        f"  models       {models}",
        "",
        "Try:",
        f"  curl -s {api}/v1/forms -d email=jane@acme.example -d first_name=Jane "
        "-d company=Acme -d job_title=CTO -d company_size=51-200 -d form=demo-request",
        f"  curl -s {api}/v1/leads/jane@acme.example -H 'x-api-key: {key}'",
        "",
        "Ctrl-C to stop.",
    ]
    return "\n".join(lines)
