"""`leadscore keys create|list|revoke`: scoped API keys in a stack's leads table.

Against the local stack's moto by default; `--table NAME` (the stack's LeadsTableName output)
with the AWS credentials of the environment for a deployed one. A key is printed once, at
creation: the table keeps its SHA-256 only.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from leadscore.adapters.api_keys import ApiKey, ApiKeyError, ApiKeys

from leadscore_tools.common import CommandError, print_json

T = TypeVar("T")

LOCAL_TABLE = "leadscore-LeadsTable"  # what the local stack names the template's LeadsTable


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser(
        "keys",
        help="create, list and revoke scoped API keys (ingest, sales, admin)",
        description="Manage the API keys of a stack. Scopes: ingest (POST /v1/events), sales "
        "(reading leads and accounts, feedback), admin (everything). A revoked key is refused "
        "within the authorizer's cache time (300 s) deployed, at once locally.",
    )
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument(
        "--scope", action="append", required=True, choices=("ingest", "sales", "admin")
    )
    create.add_argument("--name", required=True, help="who uses it, e.g. crm")
    listing = actions.add_parser("list", help="every key: id, name, scopes, created, revoked")
    revoke = actions.add_parser("revoke", help="revoke a key by its id (see `keys list`)")
    revoke.add_argument("key_id")
    for parser in (create, listing, revoke):
        parser.add_argument(
            "--table",
            default=None,
            help="the leads table (deployed: the LeadsTableName output; default: local)",
        )
        parser.add_argument(
            "--region", default=None, help="AWS region (default: the environment's)"
        )
    create.set_defaults(run=run_create)
    listing.set_defaults(run=run_list)
    revoke.set_defaults(run=run_revoke)


def _keys(args: argparse.Namespace) -> ApiKeys:
    import boto3

    if args.table:
        return ApiKeys(boto3.client("dynamodb", region_name=args.region), args.table)
    port = os.environ.get("LEADSCORE_MOTO_PORT", "5000")
    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 (moto's fake credentials)
    )
    return ApiKeys(client, LOCAL_TABLE)


def _call(action: str, function: Callable[..., T], *arguments: Any) -> T:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return function(*arguments)
    except ApiKeyError as error:
        raise CommandError(str(error)) from None
    except (BotoCoreError, ClientError) as error:
        raise CommandError(
            f"cannot {action} (is the table right, is `make run` running?): {error}"
        ) from None


def run_create(args: argparse.Namespace) -> int:
    keys = _keys(args)
    key, record = _call("create the key", keys.create, args.name, args.scope, datetime.now(UTC))
    print("the key is shown once: only its SHA-256 is kept", file=sys.stderr)
    print_json({"key": key, **_listed(record)})
    return 0


def run_list(args: argparse.Namespace) -> int:
    print_json([_listed(record) for record in _call("list the keys", _keys(args).list)])
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    record = _call("revoke the key", _keys(args).revoke, args.key_id, datetime.now(UTC))
    print_json(_listed(record))
    return 0


def _listed(record: ApiKey) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "name": record.name,
        "scopes": list(record.scopes),
        "created_at": record.created_at,
        "revoked_at": record.revoked_at,
    }
