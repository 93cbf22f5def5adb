"""What `sam build` produced can run: each handler imports with only its folder and the layer.

Runs after `make sam-build` (into .aws-sam/check, for this machine's architecture) or a plain
`sam build` (.aws-sam/build); skipped when neither exists. Each import runs in a fresh
python3.13 (the Lambda runtime) started with `-I -S`: no site-packages, no PYTHONPATH, no
user site, so only the function's folder, the layer's `python/` and the standard library are
there, as on Lambda. The runtime's own boto3 is not there either: the layer ships it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from leadscore_tools.template import load_template

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIRS = [ROOT / ".aws-sam" / "check", ROOT / ".aws-sam" / "build"]
RUNTIME_DEPENDENCIES = (
    "pydantic",
    "pydantic_core",
    "aws_lambda_powertools",
    "pynamodb",
    "boto3",
    "idna",
    "re2",
)
FAKE_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_LAMBDA_FUNCTION_NAME": "packaging-test",
    "TABLE_NAME": "leadscore",
    "TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:sales",
    "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/scoring",
    "RESCORE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/rescore",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/scoring-dlq",
    "LEADSCORE_WEBHOOK_SSM_PATH": "/leadscore/webhooks",
    "SLACK_WEBHOOK_PARAMETER": "/leadscore/slack-url",
    "POWERTOOLS_SERVICE_NAME": "leadscore",
    "POWERTOOLS_METRICS_NAMESPACE": "LeadScore",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "LANG": "C.UTF-8",
}
IMPORT_HANDLER = """
import importlib, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
module_name, _, handler = sys.argv[3].rpartition(".")
module = importlib.import_module(module_name)
assert callable(getattr(module, handler)), sys.argv[3]
stray = sorted(m for m in sys.modules if m.split(".")[0] == "leadscore_tools")
assert not stray, stray
print(module.__file__)
"""


def built() -> list[Path]:
    chosen = os.environ.get("LEADSCORE_SAM_BUILD_DIR")
    candidates = [Path(chosen)] if chosen else BUILD_DIRS
    return [d for d in candidates if (d / "template.yaml").is_file()]


pytestmark = pytest.mark.skipif(not built(), reason="no sam build output (make sam-build)")


def functions(build: Path) -> dict[str, dict[str, Any]]:
    resources = load_template(build / "template.yaml")["Resources"]
    return {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def layer(build: Path) -> Path:
    return build / "SharedLayer" / "python"


def layer_architecture(build: Path) -> str:
    """The machine the layer's compiled wheels are for (aarch64 or x86_64)."""
    names = {p.name for p in (layer(build) / "pydantic_core").glob("*.so")}
    assert names, "pydantic_core has no compiled module in the layer"
    return "aarch64" if any("aarch64" in n for n in names) else "x86_64"


def runtime_python() -> str | None:
    found = shutil.which("python3.13")
    if (
        found
        and subprocess.run([found, "-c", "pass"], check=False, capture_output=True).returncode == 0
    ):
        return found
    pyenv = sorted(Path.home().glob(".pyenv/versions/3.13*/bin/python3.13"))
    return str(pyenv[-1]) if pyenv else None


@pytest.mark.parametrize("build", built(), ids=lambda p: p.name)
def test_the_layer_ships_the_runtime_package_and_its_dependencies_only(build: Path) -> None:
    shipped = layer(build)
    assert (shipped / "leadscore" / "__init__.py").is_file()
    snippet = shipped / "leadscore" / "api" / "static" / "t.js"  # GET /v1/t.js serves it
    assert snippet.is_file(), "the tracking snippet is not in the layer: make tracker first"
    for dependency in RUNTIME_DEPENDENCIES:
        assert (shipped / dependency).is_dir(), f"{dependency} is missing from the layer"
    assert not list(build.rglob("leadscore_tools")), "developer tools leaked into an artifact"
    for name, properties in functions(build).items():
        code = build / properties["CodeUri"]
        assert not (code / "leadscore").exists(), f"{name} carries its own copy of leadscore"


@pytest.mark.parametrize("build", built(), ids=lambda p: p.name)
def test_every_function_of_the_template_was_built(build: Path) -> None:
    declared = {
        name
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert set(functions(build)) == declared
    for properties in functions(build).values():
        module = properties["Handler"].rpartition(".")[0]
        assert (build / properties["CodeUri"] / f"{module}.py").is_file()


@pytest.mark.parametrize("build", built(), ids=lambda p: p.name)
def test_every_handler_imports_with_only_its_folder_and_the_layer(build: Path) -> None:
    python = runtime_python()
    if python is None:
        pytest.skip("python3.13 (the Lambda runtime) is not on this machine")
    machine = platform.machine().replace("arm64", "aarch64")
    if layer_architecture(build) != machine:
        pytest.skip(f"the layer is built for {layer_architecture(build)}, this is {machine}")
    failures = {}
    for name, properties in functions(build).items():
        code = build / properties["CodeUri"]
        answer = subprocess.run(
            [
                python,
                "-I",
                "-S",
                "-c",
                IMPORT_HANDLER,
                str(code),
                str(layer(build)),
                properties["Handler"],
            ],
            check=False,
            capture_output=True,
            text=True,
            env=FAKE_ENVIRONMENT,
            cwd=code,
            timeout=120,
        )
        if answer.returncode != 0:
            failures[name] = answer.stderr[-2000:]
        else:
            assert answer.stdout.strip().startswith(str(code)), answer.stdout
    assert not failures, json.dumps(failures, indent=1)
