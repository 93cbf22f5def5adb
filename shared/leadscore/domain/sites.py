"""Website tracking's site keys: which origins may send a site's behaviour (contract §3).

Configured as `key=origin origin;key2=origin` (LEADSCORE_TRACKING_SITES, the template's
TrackingSites): a key is public, it only says which allow-list a request is checked against.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SITE_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?")


class SiteError(ValueError):
    """The site keys' setting cannot be read: the function's cold start fails on it."""


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, lowercased; None for anything else."""
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    return f"{parts.scheme}://{host}" if port is None else f"{parts.scheme}://{host}:{port}"


@dataclass(frozen=True)
class Sites:
    """Site key -> the origins its pages are served from."""

    origins: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def parse(cls, setting: str) -> Sites:
        """`key=origin origin;key2=origin` -> Sites; SiteError naming what is wrong."""
        sites: dict[str, frozenset[str]] = {}
        for part in setting.split(";"):
            if not part.strip():
                continue
            key, sep, listed = part.partition("=")
            key = key.strip()
            if not sep or SITE_KEY.fullmatch(key) is None:
                raise SiteError(
                    f"site keys: {key[:40]!r} is not `key=origin ...` (key: 1-64 of A-Za-z0-9_-)"
                )
            if key in sites:
                raise SiteError(f"site keys: {key!r} is given twice")
            origins = set()
            for origin in listed.split():
                normal = origin.rstrip("/").lower()
                if ORIGIN.fullmatch(normal) is None or origin_of(normal) != normal:
                    raise SiteError(
                        f"site {key!r}: {origin[:60]!r} is not an origin (https://host[:port])"
                    )
                origins.add(normal)
            if not origins:
                raise SiteError(f"site {key!r} has no origin")
            sites[key] = frozenset(origins)
        return cls(sites)

    def allows(self, site: str, origin: str | None) -> bool:
        """Whether a page of this origin may send behaviour under this site key."""
        return origin is not None and origin.lower() in self.origins.get(site, frozenset())

    def any_allows(self, origin: str | None) -> bool:
        """Whether some site has this origin (a CORS preflight names no site)."""
        return origin is not None and any(origin.lower() in o for o in self.origins.values())
