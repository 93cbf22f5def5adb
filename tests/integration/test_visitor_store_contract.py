"""The visitor store port's contract (services/visitor_store.py), run against both stores:
in memory, and DynamoDB inside moto; and the scorer's stitching on the real table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.client
import pytest
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.adapters.dynamo_visitors import DynamoVisitors
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.domain.messages import Entry, encode
from leadscore.domain.visitors import MAX_VISITORS
from leadscore.services.scoring import score_messages
from leadscore.services.store import LeadStore
from leadscore.services.visitor_store import Visit, VisitorLink, VisitorStore

from tests.unit.scoring_helpers import NOW, FixedModels, assert_scored_once

T0 = int(NOW.timestamp())
ANN, BOB = "ann@acme.example", "bob@acme.example"
V1, V2 = "a" * 22, "b" * 22
MOST = 20


def _memory(request: pytest.FixtureRequest) -> tuple[LeadStore, VisitorStore]:
    store = MemoryLeadStore()
    return store, store


def _dynamo(request: pytest.FixtureRequest) -> tuple[LeadStore, VisitorStore]:
    request.getfixturevalue("aws")  # moto, with the table of template.yaml
    return DynamoLeadStore(), DynamoVisitors()


STORES: dict[str, Callable[[pytest.FixtureRequest], tuple[LeadStore, VisitorStore]]] = {
    "memory": _memory,
    "dynamo": _dynamo,
}


@pytest.fixture(params=sorted(STORES))
def stores(request: pytest.FixtureRequest) -> tuple[LeadStore, VisitorStore]:
    return STORES[request.param](request)


def visit(visitor: str, n: int, days_ago: float, path: str = "/pricing") -> Visit:
    at = NOW - timedelta(days=days_ago)
    event = Event(
        f"web-{n}", "page_view", at, None, {"url": f"https://v.example{path}"}, None, "snippet"
    )
    return Visit(visitor, event, int(at.timestamp()), T0 + 90 * 86_400)


def link(visitor: str, email: str, trusted: bool = False, at: int = T0) -> VisitorLink:
    return VisitorLink(visitor, lead_key(email), email, at, trusted)


def test_visits_are_kept_once_and_read_newest_within_the_window(stores: Any) -> None:
    _, visitors = stores
    kept = [visit(V1, n, days) for n, days in enumerate([40, 20, 10, 5, 1])]
    visitors.keep(kept)
    visitors.keep(kept[-2:])  # kept again: still one each
    since = T0 - 30 * 86_400
    assert [v.event.id for v in visitors.visits(V1, since, 10)] == [
        "web-1",
        "web-2",
        "web-3",
        "web-4",
    ]
    assert [v.event.id for v in visitors.visits(V1, since, 2)] == ["web-3", "web-4"]  # latest
    assert visitors.visits(V2, since, 10) == []
    assert visitors.visits(V1, since, 10)[0] == kept[1]


def test_a_link_is_kept_and_only_a_trusted_claim_moves_it(stores: Any) -> None:
    _, visitors = stores
    assert visitors.links([V1, V2]) == {}
    assert visitors.link(link(V1, ANN), MOST) == link(V1, ANN)
    assert visitors.link(link(V1, ANN, at=T0 + 5), MOST) == link(V1, ANN)  # Ann's, from before
    assert visitors.link(link(V1, BOB), MOST) is None  # untrusted: refused
    assert visitors.links([V1])[V1].email == ANN
    assert visitors.link(link(V1, BOB, trusted=True), MOST) == link(V1, BOB, trusted=True)
    assert visitors.links([V1, V2]) == {V1: link(V1, BOB, trusted=True)}


def test_public_sources_link_at_most_so_many_visitors_to_a_lead(stores: Any) -> None:
    _, visitors = stores
    many = [f"{n:022d}" for n in range(4)]
    assert [visitors.link(link(v, ANN), 3) is not None for v in many] == [True, True, True, False]
    assert visitors.link(link(many[3], ANN, trusted=True), 3) is not None  # your systems may
    assert visitors.link(link(many[0], ANN), 3) is not None  # one it has: still its own


def test_erasing_a_lead_forgets_its_visitors_and_no_other(stores: Any) -> None:
    leads, visitors = stores
    visitors.keep([visit(V1, 1, 1), visit(V2, 2, 1)])
    assert visitors.link(link(V1, ANN), MOST) and visitors.link(link(V2, BOB), MOST)
    leads.erase(lead_key(ANN), T0 + 10, T0 + 86_400)
    assert visitors.links([V1, V2]) == {V2: link(V2, BOB)}
    assert visitors.visits(V1, 0, 10) == [] and len(visitors.visits(V2, 0, 10)) == 1


def test_a_visitor_moved_away_is_not_erased_with_its_first_lead(stores: Any) -> None:
    leads, visitors = stores
    visitors.keep([visit(V1, 1, 1)])
    assert visitors.link(link(V1, ANN), MOST)
    assert visitors.link(link(V1, BOB, trusted=True), MOST)
    leads.erase(lead_key(ANN), T0 + 10, T0 + 86_400)
    assert visitors.links([V1])[V1].email == BOB
    assert len(visitors.visits(V1, 0, 10)) == 1


def test_no_link_to_a_lead_erased_after_the_claim_arrived(stores: Any) -> None:
    leads, visitors = stores
    leads.erase(lead_key(ANN), T0 + 10, T0 + 86_400)
    assert visitors.link(link(V1, ANN, at=T0), MOST) is None  # queued before the erasure
    assert visitors.links([V1]) == {}
    assert visitors.link(link(V1, ANN, at=T0 + 20), MOST)  # the person came back afterwards


class Outbox:
    def publish(self, notification: Any) -> None:
        pass


def test_page_views_are_credited_on_the_real_table(stores: Any) -> None:
    leads, visitors = stores
    views = [
        Event(f"web-{n}", "page_view", NOW - timedelta(days=d), None,
              {"url": f"https://v.example{p}"}, None, "snippet")
        for n, (p, d) in enumerate([("/blog/a", 3), ("/pricing", 2), ("/pricing", 2),
                                    ("/careers", 1)])
    ]  # fmt: skip
    claim = Event("form-1", "form_submit", NOW, None, {"form": "demo-request"}, None, "form")
    entries = [Entry(None, e, V1) for e in views]
    bodies = [(f"m{n}", next(encode([e], NOW))) for n, e in enumerate(entries)]
    claim_body = ("m9", next(encode([Entry(ANN, claim, V1)], NOW)))

    def score(batch: list[tuple[str, str]]) -> Any:
        return score_messages(
            batch, leads, FixedModels(), Outbox(), clock=lambda: NOW, visitors=visitors
        )

    assert score(bodies).visits.kept == 4
    outcome = score([claim_body, claim_body])  # delivered twice
    assert outcome.visits.credited == 4 and not outcome.failed
    assert score([claim_body]).stats.events_scored == 0  # redelivered: nothing new
    log = leads.lead_log(lead_key(ANN))
    assert {r.event.id: r.event.occurred_at for r in log.events} == {
        e.id: e.occurred_at for e in [*views, claim]
    }
    assert_scored_once(leads, [(ANN, e) for e in [*views, claim]])
    later = Event(
        "web-9", "page_view", NOW, None, {"url": "https://v.example/demo"}, None, "snippet"
    )
    routed = score([("m10", next(encode([Entry(None, later, V1)], NOW)))])
    assert routed.visits.routed == 1
    assert "web-9" in {r.event.id for r in leads.lead_log(lead_key(ANN)).events}
    assert datetime.fromtimestamp(T0, UTC) == NOW


def test_erasing_a_lead_with_many_visitors_takes_few_requests(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Public sources link at most MAX_VISITORS visitors to a lead: erasing it stays a few
    requests per visitor, well inside the API's 29 s."""
    leads, visitors = DynamoLeadStore(), DynamoVisitors()
    claims = [
        Entry(ANN, Event(f"id-{n}", "identify", NOW, None, {}, None, "snippet"), f"{n:022d}")
        for n in range(MAX_VISITORS * 3)
    ]
    bodies = [(f"m{n}", next(encode([c], NOW))) for n, c in enumerate(claims)]
    outcome = score_messages(
        bodies, leads, FixedModels(), Outbox(), clock=lambda: NOW, visitors=visitors,
        untrusted_per_hour=10_000,
    )  # fmt: skip
    assert outcome.visits.linked == MAX_VISITORS
    calls: list[str] = []
    real = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: Any) -> Any:
        calls.append(operation)
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    leads.erase(lead_key(ANN), T0 + 60, T0 + 86_400)
    assert len(calls) <= 4 * MAX_VISITORS + 10, {op: calls.count(op) for op in set(calls)}
    assert visitors.links([c.visitor or "" for c in claims]) == {}
