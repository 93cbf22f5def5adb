"""Compressed JSON attributes (adapters/compressed.py): round trips, format tags, and the
frozen dictionary that lead states are written with."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from leadscore.adapters.compressed import (
    DICTIONARIES,
    LEAD_STATE,
    LEAD_STATE_WORDS_V1,
    MAX_JSON_BYTES,
    PLAIN,
    CompressedJSONAttribute,
    decode,
    encode,
)
from leadscore.domain.state import LeadState


def engaged_state() -> LeadState:
    """A lead with every bounded window full: the largest state the engine keeps."""
    return LeadState(
        "default",
        model_version=3,
        score=7250,
        fit=6100,
        engagement=8800,
        grade="A",
        level=1,
        status="mql",
        mql_since=1_790_000_000,
        sla_due_at=1_790_086_400,
        flags=["spam", "nöt-ascii 🚀"],
        reasons={f"engagement.rule_{n}": [100 * n, n] for n in range(30)},
        rule_points={f"engagement.rule_{n}": 200 * n for n in range(30)},
        limits={
            "engagement.email_open": {
                f"c{n}|": [[1_790_000_000 + n, f"{n:012x}", 25]] for n in range(50)
            }
        },
        decay_factor=0.81,
        decay_kept=-150,
        last_activity_at=1_790_000_000,
        recent_ids=[f"{n * 7919:012x}" for n in range(100)],
        messages={
            f"{n:012x}": [1_790_000_000, 1_790_000_100 + n, 0, f"https://ex.example/é/{n}"]
            for n in range(20)
        },
    )


VALUES: list[Any] = [
    {},
    [],
    "",
    0,
    None,
    {"name": "Zoë Ωmega 漢字 🚀", "lone": "\ud800", "nested": {"a": [1, 2.5, True, None]}},
    LeadState("default").to_dict(),
    engaged_state().to_dict(),
    {f"{n:032x}": [300, 3600, 1950, None, True] for n in range(20)},  # an account's people
]


@pytest.mark.parametrize("tag", sorted(DICTIONARIES))
@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_every_value_comes_back_in_every_format(value: Any, tag: int) -> None:
    data = encode(value, tag)
    assert data[0] == tag
    assert decode(data) == value
    attribute = CompressedJSONAttribute(tag=tag)
    assert attribute.deserialize(attribute.serialize(value)) == value


def test_a_state_comes_back_as_the_same_state() -> None:
    state = engaged_state()
    assert LeadState.from_dict(decode(encode(state.to_dict(), LEAD_STATE))) == state


def test_a_lead_state_is_smaller_with_its_dictionary() -> None:
    small = LeadState(
        "default",
        score=38,
        engagement=75,
        flags=["spam"],
        reasons={"fit.role.practitioner": [525, 1], "spam": [-5000, 1], "fit.clamp": [3800, 1]},
        rule_points={"engagement.page_view": 75},
        last_activity_at=1_792_224_781,
        recent_ids=["30b2d1b8ee9b", "583484e701f8"],
    ).to_dict()
    text = json.dumps(small)
    assert 2 * len(encode(small, LEAD_STATE)) < len(encode(small, PLAIN)) < len(text)


def test_an_unknown_format_tag_is_named() -> None:
    data = bytes([0x7F]) + encode({"a": 1})[1:]
    with pytest.raises(ValueError, match="unknown format tag 0x7f"):
        decode(data)
    with pytest.raises(ValueError, match="no format tag"):
        decode(b"")
    with pytest.raises(ValueError, match="unknown format tag 0x09"):
        encode({}, 0x09)
    with pytest.raises(ValueError, match="unknown format tag 0x09"):
        CompressedJSONAttribute(tag=0x09)


def test_a_cut_value_is_refused() -> None:
    data = encode(engaged_state().to_dict(), LEAD_STATE)
    with pytest.raises(ValueError, match="cut short"):
        decode(data[: len(data) // 2])


def test_a_value_that_inflates_without_bound_or_runs_on_is_refused() -> None:
    bomb = encode("a" * (MAX_JSON_BYTES + 10))  # a few KB of deflate
    assert len(bomb) < 20_000
    with pytest.raises(ValueError, match="inflates past"):
        decode(bomb)
    with pytest.raises(ValueError, match="bytes after its end"):
        decode(encode({"a": 1}) + b"junk")


def test_a_json_string_as_written_before_compression_is_read() -> None:
    attribute = CompressedJSONAttribute(tag=LEAD_STATE)
    stored = {"S": json.dumps({"score": 1})}
    assert attribute.deserialize(attribute.get_value(stored)) == {"score": 1}
    written = {"B": attribute.serialize({"score": 1})}
    assert attribute.deserialize(attribute.get_value(written)) == {"score": 1}


def test_the_shipped_formats_never_change() -> None:
    """Items written with a tag are read with its dictionary forever: a new dictionary takes
    a new tag, and this test gets one more line, never a changed one."""
    shipped = {
        PLAIN: hashlib.sha256(b"").hexdigest(),
        LEAD_STATE: "c94a32033486ef4ff143f877c7455dd2b2b58a8f5306a324342796fa09d7269b",
    }
    assert {tag: hashlib.sha256(words).hexdigest() for tag, words in DICTIONARIES.items()} == (
        shipped
    )
    assert DICTIONARIES[LEAD_STATE] is LEAD_STATE_WORDS_V1
    # what the first tags wrote: the same bytes must still come back as the same value
    assert decode(bytes.fromhex("01ab564a54b232ac0500")) == {"a": 1}
    written = bytes.fromhex("02232e180de0c168686430f843126b650176b9612c2d4219e268bce10c00")
    state = LeadState("default", score=1200, reasons={"fit.role.director": [1200, 1]})
    assert LeadState.from_dict(decode(written)) == state
