"""CloudFormation custom resource: puts the built console and its config.json in the bucket.

The console's build (web/console/dist) is copied into this function's package as `site/`
by `make build`, so a new build is a new function version, and the template passes that
version in the resource's properties: an update of the console runs an Update here.
Every request is answered at its pre-signed ResponseURL, FAILED on any error and before
Lambda's timeout, so a stack never waits an hour for an answer that is not coming.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from leadscore.web_files import content_type

SITE = Path(__file__).parent / "site"
PREFIX = "console/"
INDEX = "index.html"
CONFIG = "config.json"
# esbuild names chunks `<name>-<8-character hash>.<ext>`: such a file never changes.
HASHED = re.compile(r"-[A-Z0-9]{8}\.[a-z0-9]+$")
NO_CACHE = "no-cache"  # the browser asks again each time (a cheap 304 while unchanged)
IMMUTABLE = "public, max-age=31536000, immutable"
SECONDS_TO_SPARE = 10  # FAILED is sent this long before Lambda's timeout cuts the work off
REASON_LIMIT = 1000  # CloudFormation takes at most 4 KB of response

logger = Logger()
_clients: dict[str, Any] = {}


def s3() -> Any:
    """The S3 client, made on first use (inside the tests' moto context) with short timeouts."""
    if "s3" not in _clients:
        config = Config(connect_timeout=5, read_timeout=20, retries={"mode": "standard"})
        _clients["s3"] = boto3.client("s3", config=config)
    return _clients["s3"]


def cache_control(name: str) -> str:
    return IMMUTABLE if HASHED.search(name) else NO_CACHE


def site_files(site: Path) -> dict[str, Path]:
    """The build's files by their path under the console (`index.html`, `chunks/x-AB12CD34.js`)."""
    files = {p.relative_to(site).as_posix(): p for p in sorted(site.rglob("*")) if p.is_file()}
    files.pop(CONFIG, None)  # written from the resource's properties instead
    return files


def config_document(properties: dict[str, Any]) -> dict[str, str]:
    """What the console reads beside index.html: the API on the same origin, and Cognito."""
    return {
        "api": "",
        "region": str(properties["Region"]),
        "userPoolId": str(properties["UserPoolId"]),
        "clientId": str(properties["UserPoolClientId"]),
        "cognitoEndpoint": str(properties["CognitoEndpoint"]),
    }


def keys_in(bucket: str) -> Iterator[str]:
    for page in s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=PREFIX):
        yield from (item["Key"] for item in page.get("Contents", []))


def delete(bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 keys at most
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        answer = s3().delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        if answer.get("Errors"):
            raise RuntimeError(f"could not delete {answer['Errors'][:3]}")


def put(bucket: str, name: str, body: bytes) -> None:
    s3().put_object(
        Bucket=bucket,
        Key=PREFIX + name,
        Body=body,
        ContentType=content_type(name),
        CacheControl=cache_control(name),
    )


def publish(bucket: str, properties: dict[str, Any]) -> None:
    """Puts the new files (index.html last, once what it loads is there), then deletes the
    files of the previous build that this one no longer has."""
    files = site_files(SITE)
    if INDEX not in files:
        raise RuntimeError(
            f"the console is not in this function's package ({SITE.name}/{INDEX} is missing): "
            "run `make build` (it builds the console) before `sam deploy`"
        )
    for name, path in files.items():
        if name != INDEX:
            put(bucket, name, path.read_bytes())
    put(bucket, CONFIG, json.dumps(config_document(properties), indent=1).encode())
    put(bucket, INDEX, files[INDEX].read_bytes())
    wanted = {PREFIX + name for name in [*files, CONFIG]}
    delete(bucket, [key for key in keys_in(bucket) if key not in wanted])
    logger.info("console published", extra={"bucket": bucket, "files": len(files) + 1})


def remove(bucket: str) -> None:
    """Empties the console's prefix, so CloudFormation can delete the bucket after it."""
    try:
        delete(bucket, list(keys_in(bucket)))
    except s3().exceptions.NoSuchBucket:
        logger.info("the console bucket is gone already", extra={"bucket": bucket})


def physical_id(bucket: str) -> str:
    return f"s3://{bucket}/{PREFIX}"


def apply(event: dict[str, Any]) -> str:
    """Does what the request asks; the resource's physical id."""
    properties = event["ResourceProperties"]
    bucket = str(properties["Bucket"])
    if event["RequestType"] == "Delete":
        remove(bucket)
        return str(event["PhysicalResourceId"])
    # A new bucket is a new physical id: CloudFormation then deletes the old one (its files).
    publish(bucket, properties)
    return physical_id(bucket)


class Answer:
    """The one answer CloudFormation gets for a request, whoever sends it first."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event
        self.lock = threading.Lock()
        self.sent = False

    def send(self, status: str, reason: str = "", resource_id: str | None = None) -> None:
        with self.lock:
            if self.sent:
                return
            self.sent = True
        event = self.event
        url = str(event["ResponseURL"])
        if not url.startswith("https://"):
            raise ValueError("the ResponseURL is not an https URL")
        fallback = event.get("PhysicalResourceId") or event["LogicalResourceId"]
        body = json.dumps(
            {
                "Status": status,
                "Reason": reason[:REASON_LIMIT],
                "PhysicalResourceId": resource_id or fallback,
                "StackId": event["StackId"],
                "RequestId": event["RequestId"],
                "LogicalResourceId": event["LogicalResourceId"],
                "NoEcho": False,
                "Data": {},
            }
        ).encode()
        # The pre-signed URL is signed for no Content-Type: send an empty one. The URL is
        # https (checked above), which is what S310 asks.
        request = Request(url, data=body, method="PUT", headers={"Content-Type": ""})  # noqa: S310
        with urlopen(request, timeout=15) as response:  # noqa: S310
            logger.info(
                "answered CloudFormation", extra={"status": status, "code": response.status}
            )


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
    answer = Answer(event)
    seconds = max(context.get_remaining_time_in_millis() / 1000 - SECONDS_TO_SPARE, 0)
    reason = f"timed out; see the log stream {context.log_stream_name}"
    deadline = threading.Timer(seconds, answer.send, ("FAILED", reason))
    deadline.daemon = True
    deadline.start()
    try:
        resource_id = apply(event)
    except Exception as error:
        logger.exception("the console assets request failed")
        answer.send("FAILED", f"{type(error).__name__}: {error}")
    else:
        answer.send("SUCCESS", resource_id=resource_id)
    finally:
        deadline.cancel()
