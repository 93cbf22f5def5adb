"""The `leadscore` command line: offline scoring and model checks, and talking to a stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from leadscore_tools import (
    cmd_account,
    cmd_analysis,
    cmd_keys,
    cmd_lists,
    cmd_local,
    cmd_offline,
    cmd_stack,
)
from leadscore_tools.common import CommandError

# Each command module registers its sub-commands: register(subparsers) -> None.
COMMAND_MODULES: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    cmd_offline.register,
    cmd_analysis.register,
    cmd_stack.register,
    cmd_account.register,
    cmd_lists.register,
    cmd_keys.register,
    cmd_local.register,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadscore", description="Score B2B leads: offline, or against a running stack."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMAND_MODULES:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
    except CommandError as error:
        print(f"leadscore: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
