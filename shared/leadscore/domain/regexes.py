"""Model regexes in RE2, a linear-time engine: no pattern can make a test backtrack.

A search costs at most about one step per character of the value per instruction of the
pattern's program (RE2's NFA, when its DFA runs out of memory; the DFA is one step per
character), so a pattern is refused when its program is larger than MAX_PROGRAM.
"""

from __future__ import annotations

import re
from typing import Protocol

import re2

MAX_PATTERN_CHARS = 1_000
MAX_PROGRAM = 5_000  # RE2 instructions; a case-ignoring `\pL` alone takes about 1,200
MAX_MEMORY = 1 << 20  # bytes RE2 may use for one pattern: a larger one fails to compile
TOO_COMPLEX = "too complex for the linear-time engine (RE2)"

# What RE2 says about a construct Python accepts, and what to call it.
UNSUPPORTED = (
    ("invalid perl operator: (?=", "uses a lookahead"),
    ("invalid perl operator: (?!", "uses a lookahead"),
    ("invalid perl operator: (?<=", "uses a lookbehind"),
    ("invalid perl operator: (?<!", "uses a lookbehind"),
    ("invalid perl operator: (?P", "uses a backreference"),  # (?P=name): (?P<name> is fine
    ("invalid perl operator: (?>", "uses an atomic group"),
    ("invalid perl operator: (?(", "uses a conditional group"),
    ("invalid escape sequence: \\Z", "uses \\Z"),  # RE2 writes the end of the text \z
)


class Regex(Protocol):
    def search(self, text: str) -> object | None: ...


class RegexRefused(ValueError):
    """A pattern RE2 cannot run, or cannot run within its bounds; the message says why."""


def linear_regex(pattern: str) -> Regex:
    """`pattern` compiled by RE2, ignoring case; raise RegexRefused saying why it cannot be."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexRefused(f"a regular expression has at most {MAX_PATTERN_CHARS} characters")
    options = re2.Options()
    options.case_sensitive = False
    options.never_capture = True  # a test only asks whether it matches
    options.max_mem = MAX_MEMORY
    options.log_errors = False
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as error:
        raise RegexRefused(_why(pattern, _text(error))) from None
    if compiled.programsize > MAX_PROGRAM:
        raise RegexRefused(
            f"{TOO_COMPLEX}: its program has {compiled.programsize:,} instructions, "
            f"at most {MAX_PROGRAM:,}"
        )
    regex: Regex = compiled
    return regex


def _why(pattern: str, refusal: str) -> str:
    """A syntax error as Python words it (as before RE2), else what RE2 cannot run."""
    try:
        re.compile(pattern)
    except re.error as error:
        return f"invalid regular expression: {error}"
    if refusal.startswith("pattern too large"):
        return f"{TOO_COMPLEX}: it needs more than {MAX_MEMORY >> 20} MiB"
    digit = refusal.removeprefix("invalid escape sequence: \\")[:1]
    if refusal.startswith("invalid escape sequence: \\") and digit.isdigit():
        construct = "uses a backreference"
    elif refusal.startswith("bad repetition operator: ") and refusal.endswith("+"):
        construct = "uses a possessive quantifier"
    else:
        construct = next((name for start, name in UNSUPPORTED if refusal.startswith(start)), "")
    if construct:
        return f"{construct}, which the linear-time engine (RE2) does not support"
    return f"not supported by the linear-time engine (RE2): {refusal}"


def _text(error: Exception) -> str:
    reason = error.args[0] if error.args else error
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
