"""`leadscore account DOMAIN`: an account's score, rating, status and people, from a stack."""

from __future__ import annotations

import argparse

from leadscore_tools.common import print_json
from leadscore_tools.stack_client import StackClient, add_stack_arguments, segment


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    account = commands.add_parser(
        "account",
        help="show an account's score, rating, status and its people's contributions",
        description="Print GET /v1/accounts/DOMAIN of a running stack (JSON): the account's "
        "score per model, its rating and status, and each person's share of the score.",
    )
    account.add_argument("domain", help="the company's email domain, e.g. acme.com")
    add_stack_arguments(account)
    account.set_defaults(run=run_account)


def run_account(args: argparse.Namespace) -> int:
    client = StackClient.from_args(args)
    domain = args.domain.strip().lower().removeprefix("@")
    print_json(client.request("GET", f"/v1/accounts/{segment(domain)}"))
    return 0
