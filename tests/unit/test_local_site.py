"""The local stack's demo website: the origins it allows follow the port it is served on."""

from __future__ import annotations

import socket

import pytest
from leadscore.domain.sites import Sites
from leadscore_tools.local.site import serve_site, site_parameters


@pytest.fixture(autouse=True)
def _no_local_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADSCORE_CORS_ORIGINS", raising=False)
    monkeypatch.delenv("LEADSCORE_TRACKING_SITES", raising=False)


def test_forms_and_tracking_are_allowed_from_the_websites_port() -> None:
    parameters = site_parameters({"DecaySchedule": "rate(5 minutes)"}, 8123)
    assert parameters["CorsOrigins"] == "http://localhost:8123,http://127.0.0.1:8123"
    assert Sites.parse(parameters["TrackingSites"]).origins == {
        "local-site": frozenset({"http://localhost:8123", "http://127.0.0.1:8123"})
    }
    assert parameters["DecaySchedule"] == "rate(5 minutes)"


def test_without_the_website_the_default_port_is_allowed() -> None:
    parameters = site_parameters({}, 0)
    assert parameters["CorsOrigins"] == "http://localhost:8000,http://127.0.0.1:8000"
    assert parameters["TrackingSites"] == "local-site=http://localhost:8000 http://127.0.0.1:8000"


def test_settings_and_parameters_given_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_CORS_ORIGINS", "https://www.example.com")
    monkeypatch.setenv("LEADSCORE_TRACKING_SITES", "www=https://www.example.com")
    assert site_parameters({}, 8123) == {
        "CorsOrigins": "https://www.example.com",
        "TrackingSites": "www=https://www.example.com",
    }
    given = {"CorsOrigins": "https://a.example", "TrackingSites": "a=https://a.example"}
    assert site_parameters(given, 8123) == given


def test_a_port_in_use_leaves_the_website_out_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve_site("127.0.0.1", port, "http://127.0.0.1:3000") is None
    assert f"the demo website is not served: port {port}" in caplog.text
    assert serve_site("127.0.0.1", 0, "http://127.0.0.1:3000") is None
