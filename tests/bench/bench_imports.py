"""Cold import time of each Lambda handler module against `import boto3` alone.

Run from the project root: `.venv/bin/python tests/bench/bench_imports.py [--runs 15]`;
with `--build .aws-sam/check` (after `make sam-build`) it imports the built artifact instead,
as Lambda does: `python -I -S`, only the function's folder and the layer on the path.
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
HANDLERS = ("api", "public_api", "authorizer", "scorer", "decay", "rescore", "slack_notifier")
# The folder `sam build` gives each handler (its logical id in template.yaml).
BUILT = {
    "api": "ApiFunction",
    "scorer": "ScorerFunction",
    "decay": "DecayFunction",
    "rescore": "RescoreFunction",
    "slack_notifier": "SlackNotifierFunction",
}

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
    "TABLE_NAME": "leadscore-bench",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:leadscore-sales",
    "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/leadscore-scoring",
    "RESCORE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/leadscore-rescore",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/leadscore-dlq",
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


def folder(handler: str | None, build: Path | None) -> Path:
    """Where the handler's app.py is: the source tree, or its folder in a sam build."""
    name = handler or "api"
    return ROOT / "functions" / name if build is None else build / BUILT[name]


def run(handler: str | None, build: Path | None, script: str, *flags: str) -> str:
    """Run `script` in a fresh interpreter set up as the handler's Lambda; returns stderr."""
    where = folder(handler, build)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    environment.update(LAMBDA_ENVIRONMENT, LAMBDA_TASK_ROOT=str(where))
    python = [sys.executable]
    if build is not None:  # isolated, as on Lambda: the function's folder, the layer, stdlib
        python = [sys.executable, "-I", "-S"]  # -S: not even this venv's site-packages
        paths = [str(where), str(build / "SharedLayer" / "python")]
        script = f"import sys\nsys.path[:0] = {paths!r}\n{script}"
    done = subprocess.run(
        [*python, *flags, "-c", script],
        env=environment,
        cwd=where,
        capture_output=True,
        text=True,
        check=True,
    )
    return f"{done.stdout}\n{done.stderr}"


def body(handler: str | None, build: Path | None) -> str:
    if handler is None:
        return "import boto3"
    return LOAD_HANDLER.format(path=str(folder(handler, build) / "app.py"))


def seconds(handler: str | None, build: Path | None) -> tuple[float, float]:
    """Wall and CPU seconds of one cold import."""
    output = run(handler, build, TIMED_IMPORT.format(body=body(handler, build)))
    wall, cpu = output.split()[-2:]
    return float(wall), float(cpu)


def compile_bytecode(build: Path | None) -> None:
    """The .pyc files a layer ships; the first run of each handler then reads the disk."""
    for handler in (None, *HANDLERS):
        seconds(handler, build)


def measure(handlers: tuple[str, ...], runs: int, build: Path | None) -> None:
    compile_bytecode(build)
    samples: dict[str | None, list[tuple[float, float]]] = {n: [] for n in (None, *handlers)}
    for _ in range(runs):  # interleaved, so load on the machine spreads over every figure
        for name, times in samples.items():
            times.append(seconds(name, build))
    wall = {name: statistics.median(t[0] for t in times) for name, times in samples.items()}
    cpu = {name: statistics.median(t[1] for t in times) for name, times in samples.items()}
    print(f"median of {runs} fresh interpreters, {'venv' if build is None else build}")
    print(f"{'':<24} {'wall ms':>8} {'ratio':>6} {'cpu ms':>8} {'ratio':>6}")
    for name in samples:
        label = "import boto3" if name is None else f"functions/{name}"
        print(
            f"{label:<24} {wall[name] * 1000:8.1f} {wall[name] / wall[None]:5.2f}x"
            f" {cpu[name] * 1000:8.1f} {cpu[name] / cpu[None]:5.2f}x"
        )


def importtime(handler: str, top: int, build: Path | None) -> None:
    """The imports that cost most in one handler's cold import (self time, then cumulative)."""
    compile_bytecode(build)
    rows = []
    for line in run(handler, build, body(handler, build), "-X", "importtime").splitlines():
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
    parser.add_argument("--build", type=Path, help="a sam build directory (.aws-sam/check)")
    options = parser.parse_args()
    build = options.build.resolve() if options.build else None
    if options.importtime:
        importtime(options.importtime, options.top, build)
    else:
        measure(tuple(options.handler or HANDLERS), options.runs, build)


if __name__ == "__main__":
    main()
