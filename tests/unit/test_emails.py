"""The one email rule: the spellings a person would call the same address are one lead."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from leadscore.adapters.webhooks.payload import email_address
from leadscore.domain.emails import (
    EmailError,
    earlier_lead_key,
    lead_key,
    normalize_domain,
    normalize_email,
)
from leadscore.domain.events import EventError, canonical_event
from leadscore.domain.messages import QueueMessageError, decode, encode

from tests.unit.engine_helpers import NOW, build

SAME_LEAD = {
    "jane.doe@acme-corp.com": [
        "jane.doe@acme-corp.com",
        "Jane.Doe@ACME-Corp.com",
        "  jane.doe@acme-corp.com \t\n",
        "\u00a0jane.doe@acme-corp.com\u3000",  # no-break and ideographic spaces
        "jane.doe\u200b@acme-corp.com",  # zero-width space
        "jane\u200c.doe@acme\u200d-corp.com",  # zero-width non-joiner and joiner
        "\ufeffjane.doe@acme-corp.com",  # a byte-order mark pasted from a file
        "jane.\u00addoe@acme-corp.com",  # soft hyphen
        "jane.doe@acme-corp.com\u2060\u200e",  # word joiner, left-to-right mark
        # Full-width letters, @ and dot, as a CJK keyboard types them: accepted on purpose, as
        # IDNA itself takes the full-width dot; other characters NFKC makes an @ or a dot of
        # are refused (INVALID).
        "\uff4a\uff41\uff4e\uff45.doe\uff20acme-corp\uff0ecom",
        "jane.doe@acme-corp\u3002com",  # an ideographic full stop between labels
    ],
    "anna@xn--bcher-kva.de": [
        "anna@bücher.de",
        "Anna@BÜCHER.DE",
        "anna@xn--bcher-kva.de",
        "ANNA@XN--BCHER-KVA.DE",
        "anna@bu\u0308cher.de",  # u + combining diaeresis (NFD, as macOS may send it)
        " anna@b\u200bücher.de ",
    ],
    "josé@xn--caf-dma.fr": ["José@Café.fr", "jose\u0301@cafe\u0301.fr", "JOSÉ@xn--caf-dma.fr"],
    "jane@xn--strae-oqa.de": ["jane@straße.de", "Jane@STRAßE.de", "jane@xn--strae-oqa.de"],
    # A joiner after a virama is part of the name (IDNA 2008 allows it there), a stray one is not.
    "a@xn--11b2ezcw70k.in": [
        "a@\u0915\u094d\u200d\u0937.in",
        "a@\u0915\u094d\u200d\u0937\u200b.in",
    ],
    "o'neil+leads@mail.example.co.uk": ["O'Neil+Leads@Mail.Example.CO.UK"],
}
INVALID = {
    "": "text before and after an @",
    "   ": "text before and after an @",
    "jane.doe": "text before and after an @",
    "@acme-corp.com": "text before and after an @",
    "jane@": "text before and after an @",
    "\u200b@acme-corp.com": "text before and after an @",  # only an invisible local part
    "jane@localhost": "no dot",
    # NFKC would make syntax of these: a second @, a new dot, an empty label.
    "jane\ufe6bacme.com": "an @",  # a small commercial at
    "jane@acme\ufe6bcorp.com": "stands for an @ or a dot",
    "a@\u2488.com": "stands for an @ or a dot",  # digit one full stop: "1."
    "a\u2488b@acme.com": "stands for an @ or a dot",
    "a@acme\u2025com": "stands for an @ or a dot",  # two dot leader: ".."
    "a@acme\ufe52com": "stands for an @ or a dot",  # small full stop
    "a@.com": "an empty label",
    "a@acme..com": "an empty label",
    "a@acme.com.": "an empty label",
    "a@acme.\uff0ecom": "an empty label",
    "jane doe@acme-corp.com": "a space inside",
    # What a list, a display name, a quoted local part or a stray bracket leaves: no address.
    "a@b.com,c@d.com": "more than one @",
    "a@b.com;c.com": "a character no address has",
    "jane@acme.com>": "a character no address has",
    "<jane@acme.com": "a character no address has",
    "a@b@c.com": "more than one @",
    "a@b\uff20c.com": "more than one @",
    '"x"@acme.com': "a character no address has",
    "x\uff02@acme.com": "a character no address has",  # a full-width quote
    "ja\x00ne@acme.com": "a character no address has",
    "jane@acme\x7f.com": "a character no address has",
    "jane@acme corp.com": "a space inside",
    "jane@b\u00fc\ue000cher.de": "not a valid name",  # IDNA prohibits private-use characters
    "jane@" + "ü" * 64 + ".de": "not a valid name",  # a label over 63 octets in punycode
    "j" * 246 + "@corp.com": "longer than 254",
    # 241 characters as typed, 269 in punycode
    "j" * 30 + "@" + ".".join(["x" * 50 + "ü"] * 4) + ".de": "longer than 254",
}


@pytest.mark.parametrize(
    ("canonical", "spelling"),
    [(canonical, spelling) for canonical, spellings in SAME_LEAD.items() for spelling in spellings],
)
def test_spellings_of_one_address_are_one_lead(canonical: str, spelling: str) -> None:
    assert normalize_email(spelling) == canonical
    assert lead_key(spelling) == lead_key(canonical)


def test_different_addresses_stay_different() -> None:
    addresses = [
        "jane@acme.com",
        "jane.@acme.com",
        "jane@acme.co",
        "jan@acme.com",
        "ja-ne@acme.com",
        # Distinct registrable domains under IDNA 2008 (IDNA 2003 mapped ß to ss, final
        # sigma to sigma and removed joiners): each its own lead.
        "jane@straße.de",
        "jane@strasse.de",
        "jane@ὀδυσσεύς.gr",
        "jane@ὀδυσσεύσ.gr",
        "jane@\u0915\u094d\u200d\u0937.in",
        "jane@\u0915\u094d\u0937.in",
    ]
    assert len({lead_key(address) for address in addresses}) == len(addresses)


def test_an_ascii_address_is_only_stripped_and_lower_cased() -> None:
    """Lead keys made before the rule was written down stay the same for ASCII addresses."""
    for address in ["Grace@Corp.IO", " a+b@x.y.z ", "odd!#$%&'*/=?^_`{|}~@odd.name"]:
        assert normalize_email(address) == address.strip().lower()


@pytest.mark.parametrize(("address", "reason"), INVALID.items())
def test_an_address_no_lead_can_have_is_refused_with_the_reason(address: str, reason: str) -> None:
    with pytest.raises(EmailError, match=r"^not a valid email address: ") as refused:
        normalize_email(address)
    assert reason in str(refused.value)


@pytest.mark.parametrize("value", [None, 42, ["jane@acme-corp.com"], {"email": "x@y.z"}, b"a@b.c"])
def test_anything_but_text_is_refused(value: object) -> None:
    with pytest.raises(EmailError, match=r"^required, a string$"):
        normalize_email(value)


def test_the_longest_address_is_254_characters() -> None:
    longest = "j" * (254 - len("@corp.com")) + "@corp.com"
    assert normalize_email(f"  {longest.upper()}  ") == longest
    with pytest.raises(EmailError):
        normalize_email("j" + longest)


# Letters and marks (cased letters, combining marks whose order NFKC fixes), invisible
# characters, and what stands for syntax: where normalising twice could differ from once.
UNICODE_TEXT = st.text(
    st.characters(categories=["L", "M", "Cf", "Nd"], include_characters="@.\uff20\uff0e\u2488 "),
    max_size=20,
)
ADDRESS_LIKE = (
    st.text(max_size=60)
    | st.builds("{}@{}.{}".format, st.text(max_size=20), st.text(max_size=20), st.text(max_size=8))
    | st.builds("{}@{}.{}".format, UNICODE_TEXT, UNICODE_TEXT, UNICODE_TEXT)
)


@given(ADDRESS_LIKE)
@example("\u0130\u0316@acme.com")  # İ lower-cases to i and a mark above, before the mark below
@example("e\u200d\u0301@acme.com")  # a joiner between a letter and its accent
def test_the_rule_is_idempotent_and_refuses_only_with_email_error(text: str) -> None:
    try:
        email = normalize_email(text)
    except EmailError:
        return
    assert normalize_email(email) == email
    assert email == email.strip().lower() and len(email) <= 254
    assert email.rpartition("@")[2].isascii()


def test_every_reader_applies_the_same_rule() -> None:
    """A webhook's address field, an event document and a queue message give one address."""
    spelling = " Anna@B\u200bÜCHER.de "
    canonical = normalize_email(spelling)
    assert email_address(spelling) == canonical
    assert email_address(f'"Anna B." <{spelling.strip()}>') == canonical
    email, event = canonical_event({"email": spelling, "type": "page_view"}, NOW)
    assert email == canonical
    [incoming] = decode(next(encode([(spelling, event)], NOW)))
    assert incoming.email == canonical


def test_readers_refuse_what_the_rule_refuses() -> None:
    assert email_address("jane@localhost") is None
    for field in ["a@b.com,c@d.com", "jane@acme.com>", "a@b@c.com", '"x"@acme.com']:
        assert email_address(field) is None, field
    # A display name and its brackets are the field's, not the address's.
    assert email_address('"Doe, Jane" <jane@acme.com>') == "jane@acme.com"
    with pytest.raises(EventError, match=r"^email: not a valid email address: ") as refused:
        canonical_event({"email": "jane@localhost", "type": "page_view"}, NOW)
    assert refused.value.field == "email"
    [body] = encode(
        [("jane@localhost", canonical_event({"email": "a@b.c", "type": "x"}, NOW)[1])], NOW
    )
    with pytest.raises(QueueMessageError, match=r"events\[0\]\.email"):
        decode(body)


def test_a_long_input_or_label_is_refused_before_punycode_whose_cost_is_quadratic() -> None:
    distinct = "".join(chr(0x4E00 + i) for i in range(21_000))  # one label, 63 KB in UTF-8
    with pytest.raises(EmailError, match="longer than"):
        normalize_email(f"a@{distinct}.com")
    with pytest.raises(EmailError, match="not a valid name"):
        normalize_email(f"a@{distinct[:200]}.com")  # short enough, but no label is that long


def test_marks_are_in_canonical_order_after_lower_casing() -> None:
    """`İ` lower-cases to `i` and a combining dot above, which goes after a mark below."""
    assert normalize_email("\u0130\u0316@acme.com") == "i\u0316\u0307@acme.com"
    assert normalize_email("e\u200d\u0301@acme.com") == "\u00e9@acme.com"


def test_an_invalid_ace_label_has_no_earlier_key() -> None:
    assert earlier_lead_key("a@xn--zz.com") is None


def test_the_earlier_key_of_an_idna_2008_domain_is_its_address_as_typed() -> None:
    typed = "jane@straße.de"
    assert earlier_lead_key(typed) == hashlib.sha256(typed.encode()).hexdigest()[:32]


DOMAIN_SPELLINGS = {
    "xn--bcher-kva.de": ["bücher.de", " BÜCHER.DE ", "bu\u0308cher.de", "b\u200bücher.de"],
    "xn--strae-oqa.de": ["straße.de", "STRAßE.de", "xn--strae-oqa.de"],
    "acme-corp.com": ["Acme-Corp.COM", "acme-corp\uff0ecom", "acme\u200d-corp.com"],
}


@pytest.mark.parametrize(
    ("canonical", "spelling"),
    [
        (canonical, spelling)
        for canonical, spellings in DOMAIN_SPELLINGS.items()
        for spelling in spellings
    ],
)
def test_a_domain_is_written_as_an_addresses_domain_is(canonical: str, spelling: str) -> None:
    assert normalize_domain(spelling) == canonical
    assert normalize_email(f"anna@{spelling.strip()}") == f"anna@{canonical}"


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        ("acme", "no dot"),
        ("acme..com", "an empty label"),
        ("acme.com.", "an empty label"),
        ("\u2488.com", "stands for an @ or a dot"),
        ("ac me.com", "a space inside"),
        ("acme.com>", "a character no address has"),
        ("anna@acme.com", "an @"),
        ("b\ue000cher.de", "not a valid name"),
        ("x" * 64 + ".com", "not a valid name"),
        (".".join(["x" * 60] * 5), "longer than 253"),
    ],
)
def test_a_name_that_is_no_domain_is_refused_with_the_reason(domain: str, reason: str) -> None:
    with pytest.raises(EmailError, match=r"^not a valid domain: ") as refused:
        normalize_domain(domain)
    assert reason in str(refused.value)


def test_a_models_domain_lists_are_written_as_addresses_domains_are() -> None:
    """A competitor listed as `Bücher.de` is the domain of anna@bücher.de's lead."""
    model = build(domains={"competitors": ["Bücher.de", "not a domain"], "internal": ["straße.de"]})
    assert model.lists.contains("competitors", "xn--bcher-kva.de")
    assert model.lists.contains("competitors", "mail.xn--bcher-kva.de")
    assert model.lists.contains("internal", "xn--strae-oqa.de")
    assert not model.lists.contains("internal", "strasse.de")
