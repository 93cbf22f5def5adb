"""The one email rule: the canonical form of an address, which keys its lead everywhere.

Invisible (Unicode format) characters are removed, the text is NFKC-normalised, lower-cased and
NFKC-normalised again (lower-casing can leave marks out of canonical order), then stripped; a
non-ASCII domain label is written in punycode by UTS 46 non-transitional processing (IDNA 2008:
`bücher.de` is `xn--bcher-kva.de`, and `straße.de` is not `strasse.de`), so ASCII addresses stay
as they are. Valid: one `@` with text on both sides, a domain of two or more non-empty labels,
no space, control character or `<>,;"`, at most 254 characters. A full-width @ or dot (U+FF20,
U+FF0E: what a CJK keyboard types) is an `@` or a dot; any other character that NFKC turns into
one is refused (`⒈` is `1.`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

import idna

MAX_LENGTH = 254  # RFC 5321: a 256-octet path less its angle brackets
MAX_DOMAIN = 253  # RFC 1035: 255 octets on the wire, less the root label
MAX_LABEL = 63  # RFC 1035: the longest label of a domain name
# What may reach normalisation: room for invisible characters around a valid address.
MAX_INPUT_LENGTH = 4 * MAX_LENGTH
AT_SIGNS = re.compile("[@\uff20]")  # the @ and its full-width form
DOTS = re.compile("[.\u3002\uff0e\uff61]")  # the dots IDNA separates labels on
NOT_IN_ADDRESS = frozenset('<>,;"')  # what a list, a display name or a quoted part leaves
JOINERS = "\u200c\u200d"  # zero-width (non-)joiners: part of some scripts' domain names
NO_JOINERS = str.maketrans("", "", JOINERS)


class EmailError(ValueError):
    """An address no lead can have; the message says why."""


def normalize_email(value: Any) -> str:
    """The canonical form of an address; EmailError when it is not one."""
    if not isinstance(value, str):
        raise EmailError("required, a string")
    try:
        return _address(value)
    except EmailError as error:
        raise EmailError(f"not a valid email address: {error}") from None


def normalize_domain(value: Any) -> str:
    """The canonical form of a domain name, as an address's domain has it; EmailError when it
    is not one."""
    if not isinstance(value, str):
        raise EmailError("required, a string")
    try:
        if len(value) > MAX_INPUT_LENGTH:  # before the work below, whose cost grows with length
            raise EmailError(f"longer than {MAX_DOMAIN} characters")
        if AT_SIGNS.search(value):
            raise EmailError("it has an @ (a domain is what follows it)")
        domain = _fold(value).strip()
        _refuse_characters(domain)
        domain = _domain(domain)
        if len(domain) > MAX_DOMAIN:
            raise EmailError(f"longer than {MAX_DOMAIN} characters")
    except EmailError as error:
        raise EmailError(f"not a valid domain: {error}") from None
    return domain


def lead_key(email: str) -> str:
    """The pseudonymous key of a lead: a hash of its address in canonical form."""
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()[:32]


def earlier_lead_key(email: str) -> str | None:
    """The key a lead with a non-ASCII domain had before domains were written in punycode
    (its address was only stripped and lower-cased), so that erasure finds it; None when it
    is the current key."""
    address = normalize_email(email)
    local, _, domain = address.rpartition("@")
    try:
        unicode_domain = ".".join(
            idna.decode(label) if label.startswith("xn--") else label for label in domain.split(".")
        )
    except UnicodeError:  # an invalid `xn--` label: no earlier spelling to find
        return None
    earlier = hashlib.sha256(f"{local}@{unicode_domain}".encode()).hexdigest()[:32]
    return None if earlier == lead_key(address) else earlier


def _address(value: str) -> str:
    if len(value) > MAX_INPUT_LENGTH:  # before the work below, whose cost grows with length
        raise EmailError(f"longer than {MAX_LENGTH} characters")
    parts = AT_SIGNS.split(value)
    if len(parts) > 2:
        raise EmailError("it has more than one @")
    if len(parts) < 2:
        raise EmailError("it needs text before and after an @")
    local = _fold(parts[0].translate(NO_JOINERS)).lstrip()
    domain = _fold(parts[1]).rstrip()
    if not local or not domain:
        raise EmailError("it needs text before and after an @")
    _refuse_characters(local + domain)
    email = f"{local}@{_domain(domain)}"
    if len(email) > MAX_LENGTH:
        raise EmailError(f"longer than {MAX_LENGTH} characters")
    return email


def _fold(text: str) -> str:
    """`text` without invisible characters, in NFKC and lower case; EmailError when NFKC made
    an @ or a dot of another character (`⒈` is `1.`)."""
    if text.isascii():
        return text.lower()
    visible = "".join(c for c in text if c in JOINERS or unicodedata.category(c) != "Cf")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).lower())
    if _syntax(folded) != _syntax(visible):
        raise EmailError("it has a character that stands for an @ or a dot")
    return folded


def _refuse_characters(text: str) -> None:
    if any(c.isspace() for c in text):
        raise EmailError("it has a space inside")
    if any(c in NOT_IN_ADDRESS or unicodedata.category(c) == "Cc" for c in text):
        raise EmailError('it has a character no address has (one of <>,;" or a control)')


def _domain(domain: str) -> str:
    """A folded domain in punycode, its labels checked before the quadratic encoding."""
    labels = DOTS.split(domain)
    if len(labels) < 2:
        raise EmailError("the domain has no dot")
    if not all(labels):
        raise EmailError("the domain has an empty label")
    if any(len(label) > MAX_LABEL for label in labels):  # punycode is never shorter
        raise EmailError("the domain is not a valid name")
    try:
        return ".".join(_ascii_label(label) for label in labels)
    except UnicodeError:  # idna.IDNAError: a character or sequence IDNA 2008 does not allow
        raise EmailError("the domain is not a valid name") from None


def _syntax(text: str) -> tuple[int, int]:
    """How many @ and dots `text` has, full-width ones included."""
    return len(AT_SIGNS.findall(text)), len(DOTS.findall(text))


def _ascii_label(label: str) -> str:
    if label.isascii():  # as typed (lower-cased): ASCII lead keys stay what they were
        return label
    try:
        return idna.encode(label, uts46=True, transitional=False).decode("ascii")
    except idna.IDNAError:
        if not any(c in JOINERS for c in label):
            raise
        # A joiner where IDNA allows none (not after a virama, ...): pasted, not typed.
        return _ascii_label(label.translate(NO_JOINERS))
