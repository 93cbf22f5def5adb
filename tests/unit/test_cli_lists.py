"""The lists' deadline column: how long ago a deadline passed, or how soon it comes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from leadscore_tools.cmd_lists import deadline, lead_table

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("due", "shown"),
    [
        (None, "-"),
        ("2026-12-05T11:59:30Z", "2026-12-05 11:59Z OVERDUE <1m"),
        ("2026-12-05T11:15:00Z", "2026-12-05 11:15Z OVERDUE 45m"),
        ("2026-12-03T12:00:01Z", "2026-12-03 12:00Z OVERDUE 47h"),
        ("2026-12-01T12:00:00Z", "2026-12-01 12:00Z OVERDUE 4d"),
        ("2026-12-05T12:00:00Z", "2026-12-05 12:00Z in <1m"),
        ("2026-12-05T14:30:00+01:00", "2026-12-05 13:30Z in 1h"),
    ],
)
def test_a_deadline_says_how_late_or_how_soon(due: str | None, shown: str) -> None:
    assert deadline(due, NOW) == shown


def test_a_long_name_is_cut_and_a_missing_value_is_a_dash() -> None:
    row = {"email": "a@b.io", "name": "N" * 40, "company": None, "account": None, "score": None}
    (_, line) = lead_table([row], NOW).splitlines()
    assert line.split() == ["-", "N" * 31 + "…", "-", "-", "-", "-", "-"]
