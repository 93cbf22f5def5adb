"""A model's tests of a value (`equals`, `in`, `words`, `regex`, `domain_list`, ...) compiled
into predicates, and how values compare (as text, as numbers, as domains)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from leadscore.domain import domains
from leadscore.domain.emails import EmailError, normalize_domain
from leadscore.domain.model_base import Test
from leadscore.domain.regexes import linear_regex

Predicate = Callable[[Any], bool]
MEMO_SIZE = 4096  # bound of each per-model memo: cleared when full
DOMAIN_TEST = frozenset({"domain_list", "exists"})


def as_text(value: Any) -> str:
    """Values compare as case-folded text; 5, 5.0 and "5" are the same."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().casefold()


def as_number(value: Any) -> float | None:
    """A number from 5, "5.0", "1,200", or a range "51-200" (its midpoint)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip().replace(",", "").replace("_", "")
    try:
        return float(text)
    except ValueError:
        low, dash, high = text.partition("-")
        if dash:
            try:
                return (float(low) + float(high)) / 2
            except ValueError:
                return None
        return float(text[:-1]) if text.endswith("+") and text[:-1].isdigit() else None


@dataclass(frozen=True, slots=True)
class DomainLists:
    """The model's domain lists joined with the built-in ones."""

    internal: frozenset[str]
    competitors: frozenset[str]
    personal: frozenset[str]
    education: frozenset[str]
    disposable: frozenset[str]
    target_accounts: frozenset[str]

    def contains(self, name: str, domain: str) -> bool:
        if name == "education":
            return domains.is_education(domain, self.education)
        listed: frozenset[str] = getattr(self, name)
        return domains.in_domains(domain, listed)


def _domain_of(value: Any) -> str:
    """The domain of an email address, or the value itself as a domain."""
    if type(value) is str:
        return domain_of_text(value)
    text = as_text(value)
    return domains.email_domain(text) if "@" in text else text


@lru_cache(maxsize=MEMO_SIZE)  # one email is looked up in several domain lists in a row
def domain_of_text(value: str) -> str:
    text = as_text(value)
    return domains.email_domain(text) if "@" in text else text


def listed_domains(names: list[str]) -> frozenset[str]:
    """A model's domain list as an address's domain is written (`bücher.de` in punycode); an
    entry that is no domain name stays as written."""
    listed = set()
    for name in names:
        try:
            listed.add(normalize_domain(name))
        except EmailError:
            listed.add(name)
    return frozenset(listed)


def _member_of(members: list[str | float | bool]) -> Predicate:
    """Membership as text ignoring case, and as numbers for numeric members ("5.0" is 5)."""
    texts = frozenset(as_text(m) for m in members)
    numbers = frozenset(
        m for m in members if isinstance(m, int | float) and not isinstance(m, bool)
    )
    if not numbers:
        return lambda v: as_text(v) in texts
    return lambda v: as_text(v) in texts or as_number(v) in numbers


def compile_test(test: Test, lists: DomainLists) -> Predicate:
    """All the tests of `test` as one predicate; a missing value passes only `exists: false`."""
    checks: list[Predicate] = []
    if test.equals is not None:
        checks.append(_member_of([test.equals]))
    if test.in_ is not None:
        checks.append(_member_of(test.in_))
    if test.not_in is not None:
        excluded = _member_of(test.not_in)
        checks.append(lambda v: not excluded(v))
    if test.min is not None or test.max is not None or test.below is not None:
        low, high, below = test.min, test.max, test.below

        def in_range(v: Any) -> bool:
            number = as_number(v)
            return (
                number is not None
                and (low is None or number >= low)
                and (high is None or number <= high)
                and (below is None or number < below)
            )

        checks.append(in_range)
    # Words and globs stay in Python's engine, linear in the value by construction: escaped
    # literals between one-character lookarounds, and fnmatch's translation, which since
    # Python 3.9 never backtracks into a `*` it has passed (CPython bpo-40480).
    if test.words is not None:
        alternatives = "|".join(re.escape(w.strip()) for w in test.words)
        words = re.compile(rf"(?<![\w])(?:{alternatives})(?![\w])", re.IGNORECASE)
        checks.append(lambda v: words.search(str(v)) is not None)
    if test.regex is not None:
        pattern = linear_regex(test.regex)  # the model's own pattern: RE2, never backtracks
        checks.append(lambda v: pattern.search(str(v)) is not None)
    if test.glob is not None:
        glob = re.compile(fnmatch.translate(test.glob), re.IGNORECASE)
        checks.append(lambda v: glob.match(str(v)) is not None)
    if test.domain_list is not None:
        list_name = test.domain_list
        listed: dict[str, bool] = {}  # domains repeat (gmail.com): remember the answers

        def in_list(value: Any) -> bool:
            domain = domain_of_text(value) if type(value) is str else _domain_of(value)
            found = listed.get(domain)
            if found is None:
                if len(listed) >= MEMO_SIZE:
                    listed.clear()
                found = listed[domain] = lists.contains(list_name, domain)
            return found

        if domain_only(test):  # the common case (`email` on a list), in one call

            def on_list(value: Any) -> bool:
                if type(value) is str:
                    return bool(value.strip()) and in_list(value)
                return not _missing(value) and in_list(value)

            return on_list
        checks.append(in_list)
    wants_missing = test.exists is False
    if wants_missing or not checks:

        def presence(value: Any) -> bool:
            return _missing(value) is wants_missing

        return presence
    if len(checks) == 1:  # the common case, without the loop
        (check,) = checks

        def single(value: Any) -> bool:
            return not _missing(value) and check(value)

        return single

    def every(value: Any) -> bool:
        return not _missing(value) and all(check(value) for check in checks)

    return every


def _missing(value: Any) -> bool:
    """No value: absent, None, an empty or blank string, an empty list."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | dict) and not value


def domain_only(test: Test) -> bool:
    """True when `test` is a domain-list test and nothing else (`exists: true` aside)."""
    given = {name for name in Test.model_fields if getattr(test, name) is not None}
    return test.domain_list is not None and test.exists is not False and given <= DOMAIN_TEST
