"""Starting Chromium: a browser that fails to start leaves nothing behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import SessionNotCreatedException

from tests.browser.conftest import launch


def test_a_browser_that_fails_to_start_leaves_no_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def fail(**_: object) -> None:
        raise SessionNotCreatedException("chromium exited")

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(webdriver, "Chrome", fail)
    with pytest.raises(SessionNotCreatedException) as failure:
        launch()
    # Removed at once, not when the traceback (kept by a failed fixture's report) is freed.
    assert failure.traceback
    assert list(tmp_path.iterdir()) == []
