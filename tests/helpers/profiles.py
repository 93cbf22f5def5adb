"""Profiles of the people the suites and benches score, as a form would send them."""

from __future__ import annotations

from typing import Any

# A VP of a target-market company: fit enough that engagement makes an MQL.
VP: dict[str, Any] = {
    "first_name": "Jane",
    "last_name": "Doe",
    "company": "Acme",
    "job_title": "VP Marketing",
    "industry": "Software",
    "company_size": "201-500",
    "country": "US",
}
# An engineer of a small company: an MQL only on engagement, which decay cools.
ENGINEER: dict[str, Any] = {"job_title": "Engineer", "country": "US", "company_size": 50}
