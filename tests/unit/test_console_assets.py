"""The console's custom resource: what lands in the bucket on Create, Update and Delete, and
the one answer CloudFormation gets at its ResponseURL, FAILED when anything goes wrong."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.request import Request

import boto3
import pytest
from moto import mock_aws

from tests.conftest import ROOT, LambdaContext, load_function

BUCKET = "leadscore-console"
RESPONSE_URL = "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?sig=1"
PROPERTIES = {
    "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:console-assets",
    "Bucket": BUCKET,
    "AssetsVersion": "arn:aws:lambda:us-east-1:123456789012:function:console-assets:3",
    "Region": "eu-west-1",
    "UserPoolId": "eu-west-1_AbCdEf123",
    "UserPoolClientId": "4example0client0id",
    "CognitoEndpoint": "https://cognito-idp.eu-west-1.amazonaws.com/",
}
BUILD = {
    "index.html": "<!doctype html><script type=module src=./app.js></script>",
    "app.js": "import('./chunk-AB12CD34.js')",
    "app.css": "body{}",
    "chunk-AB12CD34.js": "export const a = 1",
    "editor-ZX98YW76.js": "export const editor = 1",
    "icons/logo.svg": "<svg/>",
}


@dataclass
class Context(LambdaContext):
    remaining_ms: int = 60_000
    log_stream_name: str = "2025/01/01/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass
class CloudFormation:
    """Stands in for the pre-signed ResponseURL: records each answer PUT to it."""

    answers: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def urlopen(self, request: Request, timeout: float) -> Any:
        self.requests.append(request)
        assert isinstance(request.data, bytes)
        self.answers.append(json.loads(request.data))
        return Reply()


class Reply:
    status = 200

    def __enter__(self) -> Reply:
        return self

    def __exit__(self, *args: object) -> None:
        pass


def write_build(site: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text)


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_build(tmp_path, BUILD)
    return tmp_path


@pytest.fixture
def function(s3: Any, site: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = load_function("console_assets")
    monkeypatch.setattr(module, "SITE", site)
    return module


@pytest.fixture
def cloudformation(function: ModuleType, monkeypatch: pytest.MonkeyPatch) -> CloudFormation:
    fake = CloudFormation()
    monkeypatch.setattr(function, "urlopen", fake.urlopen)
    return fake


def request(kind: str, properties: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": kind,
        "ResponseURL": RESPONSE_URL,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/leadscore/1",
        "RequestId": f"request-{kind}",
        "ResourceType": "Custom::ConsoleAssets",
        "LogicalResourceId": "ConsoleAssets",
        "ResourceProperties": properties or PROPERTIES,
        **extra,
    }


def objects(s3: Any) -> dict[str, dict[str, Any]]:
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=BUCKET, Key=item["Key"]) for item in listed}


def test_create_puts_every_file_with_its_type_and_caching_and_the_config(
    function: ModuleType, cloudformation: CloudFormation, s3: Any
) -> None:
    function.lambda_handler(request("Create"), Context())
    stored = objects(s3)
    assert set(stored) == {f"console/{name}" for name in [*BUILD, "config.json"]}
    assert stored["console/index.html"]["Body"].read().decode() == BUILD["index.html"]
    types = {key: item["ContentType"] for key, item in stored.items()}
    assert types["console/index.html"] == "text/html; charset=utf-8"
    assert types["console/app.js"] == "text/javascript; charset=utf-8"
    assert types["console/app.css"] == "text/css; charset=utf-8"
    assert types["console/icons/logo.svg"] == "image/svg+xml"
    assert types["console/config.json"] == "application/json"
    caching = {key: item["CacheControl"] for key, item in stored.items()}
    for name in ("index.html", "config.json", "app.js", "app.css", "icons/logo.svg"):
        assert caching[f"console/{name}"] == "no-cache", name
    for name in ("chunk-AB12CD34.js", "editor-ZX98YW76.js"):
        assert caching[f"console/{name}"] == "public, max-age=31536000, immutable", name
    assert json.loads(stored["console/config.json"]["Body"].read()) == {
        "api": "",
        "region": "eu-west-1",
        "userPoolId": "eu-west-1_AbCdEf123",
        "clientId": "4example0client0id",
        "cognitoEndpoint": "https://cognito-idp.eu-west-1.amazonaws.com/",
    }
    [answer] = cloudformation.answers
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == f"s3://{BUCKET}/console/"
    assert answer["RequestId"] == "request-Create"
    assert answer["LogicalResourceId"] == "ConsoleAssets"
    assert answer["StackId"].endswith(":stack/leadscore/1")
    [sent] = cloudformation.requests
    assert sent.full_url == RESPONSE_URL and sent.get_method() == "PUT"
    assert sent.get_header("Content-type") == ""  # the pre-signed URL signs none


def test_a_config_json_in_the_build_is_replaced_by_the_stacks_own(
    function: ModuleType, cloudformation: CloudFormation, s3: Any, site: Path
) -> None:
    write_build(site, {"config.json": '{"api": "http://127.0.0.1:3000"}'})
    function.lambda_handler(request("Create"), Context())
    config = json.loads(s3.get_object(Bucket=BUCKET, Key="console/config.json")["Body"].read())
    assert config["api"] == "" and config["userPoolId"] == "eu-west-1_AbCdEf123"


def test_update_puts_the_new_build_and_deletes_what_it_no_longer_has(
    function: ModuleType, cloudformation: CloudFormation, s3: Any, site: Path
) -> None:
    function.lambda_handler(request("Create"), Context())
    s3.put_object(Bucket=BUCKET, Key="elsewhere/keep.txt", Body=b"not the console's")
    (site / "chunk-AB12CD34.js").unlink()
    (site / "icons" / "logo.svg").unlink()
    write_build(site, {"chunk-QQ77RR55.js": "export const a = 2", "app.js": "v2"})
    physical = f"s3://{BUCKET}/console/"
    update = request(
        "Update",
        {**PROPERTIES, "UserPoolClientId": "new-client"},
        PhysicalResourceId=physical,
        OldResourceProperties=PROPERTIES,
    )
    function.lambda_handler(update, Context())
    stored = objects(s3)
    assert set(stored) == {
        "elsewhere/keep.txt",
        *(f"console/{name}" for name in
          ("index.html", "app.js", "app.css", "chunk-QQ77RR55.js", "editor-ZX98YW76.js",
           "config.json")),
    }  # fmt: skip
    assert stored["console/app.js"]["Body"].read() == b"v2"
    assert json.loads(stored["console/config.json"]["Body"].read())["clientId"] == "new-client"
    assert [a["Status"] for a in cloudformation.answers] == ["SUCCESS", "SUCCESS"]
    assert cloudformation.answers[-1]["PhysicalResourceId"] == physical


def test_delete_empties_the_console_and_keeps_its_physical_id(
    function: ModuleType, cloudformation: CloudFormation, s3: Any
) -> None:
    function.lambda_handler(request("Create"), Context())
    s3.put_object(Bucket=BUCKET, Key="elsewhere/keep.txt", Body=b"x")
    delete = request("Delete", PhysicalResourceId=f"s3://{BUCKET}/console/")
    function.lambda_handler(delete, Context())
    assert set(objects(s3)) == {"elsewhere/keep.txt"}
    answer = cloudformation.answers[-1]
    assert answer["Status"] == "SUCCESS"
    assert answer["PhysicalResourceId"] == f"s3://{BUCKET}/console/"


def test_delete_succeeds_when_the_bucket_is_already_gone(
    function: ModuleType, cloudformation: CloudFormation, s3: Any
) -> None:
    gone = {**PROPERTIES, "Bucket": "deleted-by-hand"}
    function.lambda_handler(request("Delete", gone, PhysicalResourceId="ConsoleAssets"), Context())
    [answer] = cloudformation.answers
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == "ConsoleAssets"


def test_a_package_without_the_built_console_fails_the_deploy_and_says_why(
    function: ModuleType, cloudformation: CloudFormation, s3: Any, site: Path
) -> None:
    (site / "index.html").unlink()
    function.lambda_handler(request("Create"), Context())
    [answer] = cloudformation.answers
    assert answer["Status"] == "FAILED"
    assert "make build" in answer["Reason"]
    assert answer["PhysicalResourceId"] == "ConsoleAssets"  # CloudFormation needs one
    assert objects(s3) == {}


@pytest.mark.parametrize(
    "properties",
    [
        {**PROPERTIES, "Bucket": "no-such-bucket"},
        {k: v for k, v in PROPERTIES.items() if k != "UserPoolId"},
    ],
    ids=["missing bucket", "missing property"],
)
def test_any_error_is_answered_failed(
    function: ModuleType, cloudformation: CloudFormation, properties: dict[str, Any]
) -> None:
    function.lambda_handler(request("Create", properties), Context())
    [answer] = cloudformation.answers
    assert answer["Status"] == "FAILED" and answer["Reason"]


def test_a_failed_update_keeps_the_physical_id(
    function: ModuleType, cloudformation: CloudFormation, site: Path
) -> None:
    (site / "index.html").unlink()
    physical = f"s3://{BUCKET}/console/"
    function.lambda_handler(request("Update", PhysicalResourceId=physical), Context())
    [answer] = cloudformation.answers
    assert answer["Status"] == "FAILED" and answer["PhysicalResourceId"] == physical


def test_the_sample_create_event_is_answered_at_its_response_url(
    function: ModuleType, cloudformation: CloudFormation, s3: Any
) -> None:
    """events/console_assets_create.json, as CloudFormation sends it (sam local invoke -e)."""
    sample = json.loads((ROOT / "events" / "console_assets_create.json").read_text())
    s3.create_bucket(Bucket=sample["ResourceProperties"]["Bucket"])
    function.lambda_handler(sample, Context())
    [answer] = cloudformation.answers
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert cloudformation.requests[0].full_url == sample["ResponseURL"]
    assert answer["RequestId"] == sample["RequestId"]


def test_work_that_outlasts_the_function_is_answered_failed_before_its_timeout(
    function: ModuleType, cloudformation: CloudFormation, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow(event: dict[str, Any]) -> str:
        time.sleep(0.5)
        return "late"

    monkeypatch.setattr(function, "apply", slow)
    spare_ms = function.SECONDS_TO_SPARE * 1000
    function.lambda_handler(request("Create"), Context(remaining_ms=spare_ms + 100))
    [answer] = cloudformation.answers  # exactly one: the late SUCCESS is not sent
    assert answer["Status"] == "FAILED" and "timed out" in answer["Reason"]


def test_the_local_stack_serves_each_file_with_the_type_the_bucket_gives_it(
    function: ModuleType,
) -> None:
    """The bucket's files and the local gateway's take their types from one table (the
    layer's leadscore.web_files)."""
    from leadscore import web_files
    from leadscore_tools.local import console_files

    assert function.content_type is web_files.content_type
    assert console_files.content_type is web_files.content_type
    assert web_files.content_type("assets/app-ABCD1234.js") == "text/javascript; charset=utf-8"
