"""Cold import time of each Lambda handler module against `import boto3` alone.

Run from the project root: `.venv/bin/python tests/bench/bench_imports.py [--runs 15]`.
Each run is a fresh interpreter (what a Lambda cold start pays for the module's init), with
the environment template.yaml gives the function and the variables Lambda itself sets, so
Powertools' Tracer behaves as deployed. Bytecode is compiled first and the disk cache is warm,
as for the layer's precompiled .pyc. `--importtime api` prints the costliest imports of one
handler (`python -X importtime`), to see what a change should go after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ("api", "scorer", "decay", "rescore", "slack_notifier")

# template.yaml's Globals and per-function variables, and what the Lambda runtime sets itself
# (LAMBDA_TASK_ROOT is what makes Powertools' Tracer enable X-Ray and patch the SDKs).
LAMBDA_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "leadscore-bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "LAMBDA_TASK_ROOT": str(ROOT),
    "TABLE_NAME": "leadscore-bench",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:leadscore-sales",
    "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/leadscore-scoring",
    "RESCORE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/leadscore-rescore",
    "EVENT_RETENTION_DAYS": "400",
    "LEADSCORE_CORS_ORIGINS": "https://www.example.com",
    "LEADSCORE_WEBHOOK_SSM_PATH": "/leadscore/webhooks",
    "SLACK_WEBHOOK_PARAMETER": "/leadscore/slack-url",
    "POWERTOOLS_SERVICE_NAME": "leadscore",
    "POWERTOOLS_METRICS_NAMESPACE": "LeadScore",
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    "POWERTOOLS_LOGGER_LOG_EVENT": "false",
}

# Timed in the child: the clocks start after the interpreter is up, so only the import counts.
# Wall time is what a cold start waits; CPU time is the same work, less blurred by other
# processes on a busy machine (imports from a warm disk cache are CPU-bound).
TIMED_IMPORT = """
import time
wall, cpu = time.perf_counter(), time.process_time()
{body}
print(time.perf_counter() - wall, time.process_time() - cpu)
"""

LOAD_HANDLER = """
import importlib.util
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
"""


def environment() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    return {**keep, **LAMBDA_ENVIRONMENT}


def body(handler: str | None) -> str:
    if handler is None:
        return "import boto3"
    return LOAD_HANDLER.format(path=str(ROOT / "functions" / handler / "app.py"))


def seconds(handler: str | None) -> tuple[float, float]:
    """Wall and CPU seconds of one cold import."""
    script = TIMED_IMPORT.format(body=body(handler))
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=environment(),
        cwd=ROOT / "functions" / (handler or "api"),
        capture_output=True,
        text=True,
        check=True,
    )
    wall, cpu = done.stdout.split()[-2:]
    return float(wall), float(cpu)


def compile_bytecode() -> None:
    """The .pyc files a layer ships; the first run of each handler then reads the disk."""
    for handler in (None, *HANDLERS):
        seconds(handler)


def measure(handlers: tuple[str, ...], runs: int) -> None:
    compile_bytecode()
    samples: dict[str | None, list[tuple[float, float]]] = {n: [] for n in (None, *handlers)}
    for _ in range(runs):  # interleaved, so load on the machine spreads over every figure
        for name, times in samples.items():
            times.append(seconds(name))
    wall = {name: statistics.median(t[0] for t in times) for name, times in samples.items()}
    cpu = {name: statistics.median(t[1] for t in times) for name, times in samples.items()}
    print(f"median of {runs} fresh interpreters, Python {sys.version.split()[0]}")
    print(f"{'':<24} {'wall ms':>8} {'ratio':>6} {'cpu ms':>8} {'ratio':>6}")
    for name in samples:
        label = "import boto3" if name is None else f"functions/{name}"
        print(
            f"{label:<24} {wall[name] * 1000:8.1f} {wall[name] / wall[None]:5.2f}x"
            f" {cpu[name] * 1000:8.1f} {cpu[name] / cpu[None]:5.2f}x"
        )


def importtime(handler: str, top: int) -> None:
    """The imports that cost most in one handler's cold import (self time, then cumulative)."""
    compile_bytecode()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", body(handler)],
        env=environment(),
        cwd=ROOT / "functions" / handler,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|", 2)
        rows.append((int(own), int(cumulative), name.rstrip()))
    for title, key in (("self", 0), ("cumulative", 1)):
        print(f"-- {handler}: top {top} by {title} time (ms)")
        for row in sorted(rows, key=lambda r: r[key], reverse=True)[:top]:
            print(f"{row[0] / 1000:8.1f} {row[1] / 1000:8.1f}  {row[2]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--handler", choices=HANDLERS, action="append")
    parser.add_argument("--importtime", choices=HANDLERS, help="show one handler's import tree")
    parser.add_argument("--top", type=int, default=30)
    options = parser.parse_args()
    if options.importtime:
        importtime(options.importtime, options.top)
    else:
        measure(tuple(options.handler or HANDLERS), options.runs)


if __name__ == "__main__":
    main()
