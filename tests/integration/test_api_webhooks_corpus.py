"""The webhook corpus through the HTTP route: each sample posted to POST /v1/webhooks/{provider}
as the platform sends it enqueues exactly the events its .meta.json expects; a tampered body
or a stale timestamp gets 401 and enqueues nothing."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from leadscore.adapters.memory_replays import MemoryReplays
from leadscore.adapters.webhooks import EnvironmentSecrets, env_name

from tests.integration.api_client import Api, make_api
from tests.unit.test_webhooks_corpus import (
    BASIC,
    SAMPLES,
    SIGNED,
    TIMESTAMPED,
    UNSIGNED_NOW,
    Sample,
    check_events,
    sample_id,
    tamper,
)

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not SAMPLES, reason="no webhook corpus beside the project"),
]
PASSED: Counter[str] = Counter()
CONFIRMED: list[str] = []


@pytest.fixture(scope="module")
def module_api() -> Iterator[Api]:
    """One handler for the whole corpus (loading it per sample would dominate the run)."""
    from moto import mock_aws

    monkeypatch = pytest.MonkeyPatch()
    with mock_aws():
        yield make_api(monkeypatch)
    monkeypatch.undo()
    from leadscore.settings import settings

    settings.cache_clear()  # the next test must not see this module's queue
    print(
        "\nwebhook corpus through the HTTP route, passed per platform:",
        dict(sorted(PASSED.items())),
    )


@pytest.fixture
def api(module_api: Api) -> Iterator[Api]:
    deps = module_api.module.deps
    clock, confirm, secrets = deps.clock, deps.confirm_subscription, deps.secrets
    deps.confirm_subscription = CONFIRMED.append  # no network here: record, do not GET
    # Samples reuse tokens and ids (anymail's test values): each is a delivery of its own.
    deps.replays = MemoryReplays()
    module_api.queued()  # start from an empty queue
    yield module_api
    deps.clock, deps.confirm_subscription, deps.secrets = clock, confirm, secrets


def configure(
    api: Api, monkeypatch: pytest.MonkeyPatch, secrets: dict[str, str], now: datetime
) -> None:
    # Settings are read once, at the handler's load: the sample's secrets go to its deps.
    api.module.deps.secrets = EnvironmentSecrets({env_name(k): v for k, v in secrets.items()})
    api.module.deps.clock = lambda: now


def post(api: Api, sample: Sample, body: bytes | None = None, **headers: str) -> Any:
    signed_url = sample.signature.get("signed_url", "")
    query = dict(
        pair.split("=", 1) for pair in signed_url.partition("?")[2].split("&") if "=" in pair
    )
    all_headers = {"Content-Type": sample.meta["content_type"], **sample.meta.get("headers", {})}
    return api.call(
        "POST",
        f"/v1/webhooks/{sample.platform}",
        sample.body if body is None else body,
        headers={**all_headers, **headers},
        query=query or None,
    )


@pytest.mark.parametrize("sample", SAMPLES, ids=sample_id)
def test_sample_enqueues_the_expected_events(
    api: Api, monkeypatch: pytest.MonkeyPatch, sample: Sample
) -> None:
    if sample.key:  # verified with the platform's own signature
        configure(api, monkeypatch, sample.signed_secrets(), sample.signed_at() or UNSIGNED_NOW)
        answer = post(api, sample)
    else:  # platforms (or samples) without a usable signature: HTTP Basic, as documented
        configure(api, monkeypatch, {f"basic:{sample.platform}": BASIC}, UNSIGNED_NOW)
        answer = post(
            api, sample, Authorization="Basic " + base64.b64encode(BASIC.encode()).decode()
        )
    assert answer.status == 200, answer.body
    # Addresses no lead can have (Mailjet's test `invalid@invalid`) are not enqueued.
    check_events(api.queued_events(), sample)
    PASSED[sample.platform] += 1


@pytest.mark.parametrize("sample", SIGNED, ids=sample_id)
def test_tampered_sample_is_refused_and_nothing_enqueued(
    api: Api, monkeypatch: pytest.MonkeyPatch, sample: Sample
) -> None:
    configure(api, monkeypatch, sample.signed_secrets(), sample.signed_at() or UNSIGNED_NOW)
    answer = post(api, sample, tamper(sample))
    assert answer.status == 401, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert api.queued() == []


@pytest.mark.parametrize("sample", TIMESTAMPED, ids=sample_id)
def test_stale_sample_is_refused_and_nothing_enqueued(
    api: Api, monkeypatch: pytest.MonkeyPatch, sample: Sample
) -> None:
    signed_at = sample.signed_at()
    assert signed_at is not None
    configure(api, monkeypatch, sample.signed_secrets(), signed_at + timedelta(days=1))
    assert post(api, sample).status == 401
    assert api.queued() == []
