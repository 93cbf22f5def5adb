"""JSON stored compressed in a Binary attribute: a format tag byte, then compact JSON deflated.

The tag names how the rest was written, so the encoding can change while older items stay
readable. A format's preset dictionary (the words deflate may refer back to before the data
begins) must never change once shipped: items written with it could no longer be read. A new
dictionary gets a new tag.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.constants import BINARY, STRING

# The words of a lead state's JSON (domain/state.py to_dict, models/default.yaml's reasons),
# the most frequent last: deflate codes a nearer match in fewer bits. Frozen with its tag.
LEAD_STATE_WORDS_V1 = "".join(
    [
        '"engagement.demo_request":{"|',
        '"engagement.demo_form":{"|',
        '"engagement.contact_form":{"|',
        '"engagement.content_form":{"',
        '"engagement.newsletter_form":{"|',
        '"engagement.other_form":{"',
        '"engagement.pricing_page":{"|',
        '"engagement.demo_or_quote_page":{"|',
        '"engagement.product_page":{"|',
        '"engagement.blog_page":{"|',
        '"engagement.careers_page":{"|',
        '"engagement.page_view":{"|',
        '"engagement.email_click":{"',
        '"engagement.email_open":{"',
        '"engagement.email_bounce":{"|',
        '"engagement.email_unsubscribe":{"|',
        '"engagement.download":{"',
        '"engagement.webinar_attended":{"',
        '"engagement.webinar_registered":{"',
        '"engagement.meeting_booked":{"|',
        '"engagement.social_engagement":{"|',
        '"flags":["spam","out_of_area","non_buyer","education_email","personal_email"],',
        '"negative.outside_service_area":[-',
        '"negative.non_buyer_title":[-',
        '"negative.education_email":[-',
        '"negative.competitor":[-',
        '"negative.personal_email":[-',
        '"disqualified":[-',
        '"spam":[-5000,1],',
        '"score.clamp":[',
        '"fit.role.executive":[',
        '"fit.role.director":[',
        '"fit.role.manager":[',
        '"fit.role.practitioner":[',
        '"fit.role.default":[',
        '"fit.industry.target":[',
        '"fit.industry.adjacent":[',
        '"fit.industry.other":[',
        '"fit.company_size.enterprise":[',
        '"fit.company_size.mid_market":[',
        '"fit.company_size.smb":[',
        '"fit.company_size.micro":[',
        '"fit.geography.core_market":[',
        '"fit.geography.served":[',
        '"fit.completion_bonus":[100,1],',
        '"fit.clamp":[',
        '"engagement.demo_request":[',
        '"engagement.demo_form":[',
        '"engagement.contact_form":[',
        '"engagement.content_form":[',
        '"engagement.newsletter_form":[',
        '"engagement.other_form":[',
        '"engagement.pricing_page":[',
        '"engagement.demo_or_quote_page":[',
        '"engagement.product_page":[',
        '"engagement.blog_page":[',
        '"engagement.careers_page":[',
        '"engagement.page_view":[',
        '"engagement.email_click":[',
        '"engagement.email_open":[',
        '"engagement.email_bounce":[',
        '"engagement.email_unsubscribe":[',
        '"engagement.download":[',
        '"engagement.webinar_attended":[',
        '"engagement.webinar_registered":[',
        '"engagement.meeting_booked":[',
        '"engagement.social_engagement":[',
        '"engagement.cap.web":[-',
        '"engagement.cap.email":[-',
        '"engagement.cap.content":[-',
        '"engagement.clamp":[-',
        '{"model_id":"default","model_version":1,"score":0,"fit":0,"engagement":0,"grade":"D",',
        '"level":4,"status":"open","mql_since":null,"sla_due_at":null,"sla_breached":false,',
        '"flags":[],"disqualified":false,"reasons":{},"rule_points":{},"limits":{},',
        '"decay_factor":1.0,"decay_kept":0,"last_activity_at":17,"recent_ids":[],"messages":{}}',
    ]
).encode()

PLAIN = 0x01  # compact JSON, raw deflate
LEAD_STATE = 0x02  # compact JSON, raw deflate primed with LEAD_STATE_WORDS_V1

DICTIONARIES: dict[int, bytes] = {PLAIN: b"", LEAD_STATE: LEAD_STATE_WORDS_V1}

_WINDOW = -15  # raw deflate: no zlib header or checksum (the tag names the format)
# An item holds at most 400 KB; what it inflates to is bounded far above any real state.
MAX_JSON_BYTES = 8 * 1024 * 1024


def encode(value: Any, tag: int = PLAIN) -> bytes:
    """The tag byte, then `value` as compact JSON deflated with the tag's dictionary."""
    compressor = zlib.compressobj(wbits=_WINDOW, zdict=_dictionary(tag))  # level 6: as small as 9
    text = json.dumps(value, separators=(",", ":")).encode()
    return bytes([tag]) + compressor.compress(text) + compressor.flush()


def decode(data: bytes) -> Any:
    """The JSON value `encode` wrote, whatever the format its tag names."""
    if not data:
        raise ValueError("a compressed JSON attribute is empty: no format tag")
    decompressor = zlib.decompressobj(wbits=_WINDOW, zdict=_dictionary(data[0]))
    text = decompressor.decompress(data[1:], MAX_JSON_BYTES)
    if decompressor.unconsumed_tail:
        raise ValueError(f"a compressed JSON attribute inflates past {MAX_JSON_BYTES} bytes")
    if not decompressor.eof:
        raise ValueError("a compressed JSON attribute is cut short")
    if decompressor.unused_data:
        raise ValueError("a compressed JSON attribute has bytes after its end")
    return json.loads(text)


def _dictionary(tag: int) -> bytes:
    try:
        return DICTIONARIES[tag]
    except KeyError:
        known = ", ".join(f"0x{t:02x}" for t in DICTIONARIES)
        raise ValueError(
            f"unknown format tag 0x{tag:02x} of a compressed JSON attribute (known: {known})"
        ) from None


class CompressedJSONAttribute(Attribute[Any]):
    """A JSON value stored by `encode` (Binary); reads every format `decode` knows, and the
    plain JSON String that items written before compression hold under the same name.

    The name stays the attribute's, its type changes: code from before compression, meeting
    a compressed item (a rollback), fails to read it (pynamodb's type check) instead of
    taking it for empty and writing the account or state over it."""

    attr_type = BINARY

    def __init__(self, *args: Any, tag: int = PLAIN, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _dictionary(tag)  # an unknown tag fails at import, not at the first write
        self.tag = tag

    def serialize(self, value: Any) -> bytes:
        return encode(value, self.tag)

    def get_value(self, value: dict[str, Any]) -> Any:
        return value[STRING] if STRING in value else super().get_value(value)

    def deserialize(self, value: bytes | str) -> Any:
        return json.loads(value) if isinstance(value, str) else decode(value)
