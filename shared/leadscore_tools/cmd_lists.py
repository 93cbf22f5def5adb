"""`leadscore leads` and `leadscore accounts`: a stack's sales lists, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from leadscore.services.store import LEAD_SORTS

from leadscore_tools.common import CommandError
from leadscore_tools.stack_client import StackClient, add_stack_arguments

# --all reads at most this many pages (of 200 rows by default): a bound, not a dump.
MAX_PAGES = 50
ALL_PAGE_ROWS = 200
WIDEST_TEXT = 32  # a name, company or owner longer than this is cut, ending in "…"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    leads = commands.add_parser(
        "leads",
        help="list a stack's leads: the sales queue, by score, by owner, ...",
        description="Print GET /v1/leads of a running stack as a table (rating, name, "
        "company, score, owner, follow-up deadline with overdue marked, status), or the rows "
        "as JSON. The queue: --status mql --sort sla_due_at (overdue first).",
    )
    _list_arguments(leads, statuses="open, mql")
    leads.add_argument("--owner", help="only the leads of this owner (a salesperson's email)")
    leads.add_argument(
        "--sort",
        choices=LEAD_SORTS,
        help="sla_due_at: soonest deadline first, overdue first (default: -score)",
    )
    add_stack_arguments(leads)
    leads.set_defaults(run=run_leads)

    accounts = commands.add_parser(
        "accounts",
        help="list a stack's accounts by score",
        description="Print GET /v1/accounts of a running stack as a table (rating, account, "
        "score, status, MQA since), or the rows as JSON.",
    )
    _list_arguments(accounts, statuses="open, mqa")
    add_stack_arguments(accounts)
    accounts.set_defaults(run=run_accounts)


def _list_arguments(parser: argparse.ArgumentParser, statuses: str) -> None:
    parser.add_argument("--model", help="the model listed (required when several exist)")
    parser.add_argument("--status", help=f"only this status ({statuses})")
    parser.add_argument("--rating", help="only these ratings, e.g. A1,A2,B1")
    parser.add_argument("--grade", help="only this grade (A to D)")
    parser.add_argument(
        "--limit", type=int, help="rows per page, at most 200 (default 50; with --all 200)"
    )
    parser.add_argument("--cursor", help="start at this page (the previous page's cursor)")
    parser.add_argument(
        "--all",
        action="store_true",
        help=f"follow the pages to the end (at most {MAX_PAGES} pages)",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")


def run_leads(args: argparse.Namespace, now: datetime | None = None) -> int:
    return _run_list("leads", args, lambda rows: lead_table(rows, now or datetime.now(UTC)))


def run_accounts(args: argparse.Namespace) -> int:
    return _run_list("accounts", args, account_table)


def _run_list(kind: str, args: argparse.Namespace, table: Callable[[list[Any]], str]) -> int:
    rows, cursor = read_pages(StackClient.from_args(args), kind, args)
    if args.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(table(rows) if rows else f"No {kind} match.\n")
    if cursor is None:
        return 0
    more = f"more {kind}: the same command with --cursor {cursor}"
    if args.all:
        raise CommandError(f"stopped after {MAX_PAGES} pages; {more}")
    print(more, file=sys.stderr)
    return 0


def read_pages(client: StackClient, kind: str, args: argparse.Namespace) -> tuple[list[Any], Any]:
    """The rows of one page (of every page with --all, up to MAX_PAGES) and the next cursor."""
    names = ("model", "status", "rating", "grade", "owner", "sort", "limit", "cursor")
    query = {name: value for name in names if (value := getattr(args, name, None)) is not None}
    if args.all:
        query.setdefault("limit", ALL_PAGE_ROWS)
    rows: list[Any] = []
    for _ in range(MAX_PAGES if args.all else 1):
        page = client.request("GET", f"/v1/{kind}?{urlencode(query)}")
        rows += page[kind]
        query["cursor"] = cursor = page.get("next_cursor")
        if cursor is None:
            break
    return rows, cursor


def lead_table(rows: Sequence[dict[str, Any]], now: datetime) -> str:
    headings = ("RATING", "NAME", "COMPANY", "SCORE", "OWNER", "DEADLINE", "STATUS")
    lines = [
        (
            row.get("rating") or "-",
            _cut(row.get("name") or row.get("email") or row.get("account") or "-"),
            _cut(row.get("company") or row.get("account") or "-"),
            _points(row.get("score")),
            _cut(row.get("owner") or "-"),
            deadline(row.get("sla_due_at"), now),
            row.get("status") or "-",
        )
        for row in rows
    ]
    return _columns(headings, lines, right=(3,))


def account_table(rows: Sequence[dict[str, Any]]) -> str:
    headings = ("RATING", "ACCOUNT", "SCORE", "STATUS", "MQA SINCE")
    lines = [
        (
            row.get("rating") or "-",
            _cut(row["account"]),
            _points(row.get("score")),
            row.get("status") or "-",
            _moment(row.get("mqa_since")),
        )
        for row in rows
    ]
    return _columns(headings, lines, right=(2,))


def deadline(due: str | None, now: datetime) -> str:
    """A follow-up deadline, and how long ago it passed ("OVERDUE 3h") or how soon it comes."""
    if not due:
        return "-"
    moment = datetime.fromisoformat(due)
    late = (now - moment).total_seconds()
    relative = f"OVERDUE {_span(late)}" if late > 0 else f"in {_span(-late)}"
    return f"{_moment(due)} {relative}"


def _span(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 1:
        return "<1m"
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h"
    return f"{minutes // (24 * 60)}d"


def _moment(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def _points(score: Any) -> str:
    return "-" if score is None else f"{score:.1f}"


def _cut(text: str) -> str:
    """A cell: printable characters only (no escape sequence reaches the terminal), cut."""
    text = "".join(c if c.isprintable() else " " for c in text)
    return text if len(text) <= WIDEST_TEXT else text[: WIDEST_TEXT - 1] + "…"


def _columns(headings: Sequence[str], lines: Sequence[Sequence[str]], right: Sequence[int]) -> str:
    """Aligned columns under their headings; numbers (`right`) aligned right."""
    widths = [max(len(cell) for cell in column) for column in zip(headings, *lines, strict=True)]
    out = []
    for cells in (headings, *lines):
        padded = [
            cell.rjust(width) if n in right else cell.ljust(width)
            for n, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        out.append("  ".join(padded).rstrip())
    return "\n".join(out) + "\n"
