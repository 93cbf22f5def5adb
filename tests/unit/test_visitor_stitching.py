"""Website visitors in the scorer: anonymous events kept under the visitor, credited to the
lead it becomes, exactly once and as if known all along (services/visitors.py)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.domain.messages import Entry, encode
from leadscore.domain.visitors import MAX_VISITORS
from leadscore.services.leads import erase_lead
from leadscore.services.scoring import score_messages
from leadscore.services.visitors import VisitPolicy

from tests.unit.scoring_helpers import (
    NOW,
    FixedModels,
    assert_scored_once,
    default_model,
    stored_state,
)

VISITOR = "v" * 22
EMAIL = "ann@acme.example"
SITE = "https://vendor.example"


class Outbox:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def publish(self, notification: Any) -> None:
        self.sent.append(notification)


def view(n: int, path: str, days_ago: float) -> Event:
    return Event(
        f"web-{n:04d}", "page_view", NOW - timedelta(days=days_ago), None,
        {"url": SITE + path}, None, "snippet",
    )  # fmt: skip


def form(n: int = 0, days_ago: float = 0, source: str | None = "form") -> Event:
    return Event(
        f"form-{n}", "form_submit", NOW - timedelta(days=days_ago), None,
        {"form": "demo-request"}, {"company": "Acme"}, source,
    )  # fmt: skip


def message(n: int, entry: Entry) -> tuple[str, str]:
    return f"m{n}", next(encode([entry], NOW))


def score(store: MemoryLeadStore, bodies: list[tuple[str, str]], **options: Any) -> Any:
    return score_messages(
        bodies, store, FixedModels(), Outbox(), clock=lambda: NOW, visitors=store, **options
    )


def history_ids(store: MemoryLeadStore, email: str) -> dict[str, str]:
    log = store.lead_log(lead_key(email))
    return {r.event.id: r.event.occurred_at.isoformat() for r in log.events}


def test_a_visitors_page_views_are_credited_when_it_posts_a_form() -> None:
    store = MemoryLeadStore()
    views = [
        view(1, "/blog/a", 3),
        view(2, "/pricing", 2),
        view(3, "/pricing", 2),
        view(4, "/careers", 1),
    ]
    outcome = score(store, [message(n, Entry(None, e, VISITOR)) for n, e in enumerate(views)])
    assert outcome.visits.kept == 4 and not store.leads  # nobody's, yet
    claim = form()
    outcome = score(store, [message(9, Entry(EMAIL, claim, VISITOR))])
    assert outcome.visits.linked == 1 and outcome.visits.credited == 4
    ids = history_ids(store, EMAIL)
    assert {e.id: e.occurred_at.isoformat() for e in [*views, claim]} == ids  # original times
    assert_scored_once(store, [(EMAIL, e) for e in [*views, claim]])
    reasons = stored_state(store, EMAIL).reasons
    assert {f"engagement.{r}" for r in ("pricing_page", "blog_page", "careers_page")} <= set(
        reasons
    )


def test_a_linked_visitors_later_views_go_straight_to_the_lead() -> None:
    store = MemoryLeadStore()
    score(store, [message(0, Entry(EMAIL, form(), VISITOR))])
    outcome = score(store, [message(1, Entry(None, view(1, "/pricing", 0), VISITOR))])
    assert outcome.visits.routed == 1 and outcome.visits.kept == 0
    assert "web-0001" in history_ids(store, EMAIL)
    assert not store.visitor_visits.get(VISITOR)  # not kept twice


def test_only_the_credit_window_is_credited() -> None:
    store = MemoryLeadStore()
    old, recent = view(1, "/pricing", 40), view(2, "/pricing", 10)
    score(store, [message(n, Entry(None, e, VISITOR)) for n, e in enumerate([old, recent])])
    score(
        store, [message(5, Entry(EMAIL, form(), VISITOR))], visit_policy=VisitPolicy(credit_days=30)
    )
    assert set(history_ids(store, EMAIL)) == {"web-0002", "form-0"}


def test_a_visitor_claimed_by_a_second_email_stays_with_the_first_lead() -> None:
    store = MemoryLeadStore()
    score(store, [message(0, Entry(None, view(1, "/pricing", 1), VISITOR))])
    score(store, [message(1, Entry(EMAIL, form(), VISITOR))])
    outcome = score(store, [message(2, Entry("eve@other.example", form(2), VISITOR))])
    assert outcome.visits.refused == 1
    assert set(history_ids(store, "eve@other.example")) == {"form-2"}  # her own post only
    score(store, [message(3, Entry(None, view(3, "/demo", 0), VISITOR))])
    assert "web-0003" in history_ids(store, EMAIL)


def test_a_trusted_source_moves_the_visitor() -> None:
    store = MemoryLeadStore()
    score(store, [message(1, Entry(EMAIL, form(), VISITOR))])
    moved = Event("crm-1", "identify", NOW, None, {}, None, None)  # POST /v1/events: trusted
    outcome = score(store, [message(2, Entry("bob@acme.example", moved, VISITOR))])
    assert outcome.visits.linked == 1 and outcome.visits.refused == 0
    score(store, [message(3, Entry(None, view(3, "/demo", 0), VISITOR))])
    assert "web-0003" in history_ids(store, "bob@acme.example")
    assert "web-0003" not in history_ids(store, EMAIL)


def test_erasing_a_lead_erases_its_visitors() -> None:
    store = MemoryLeadStore()
    score(store, [message(0, Entry(None, view(1, "/pricing", 1), VISITOR))])
    score(store, [message(1, Entry(EMAIL, form(), VISITOR))])
    erase_lead(store, [default_model()], Outbox(), EMAIL, NOW)
    assert VISITOR not in store.visitor_links and VISITOR not in store.visitor_visits
    # Its cookie comes back: an anonymous visitor again, nobody's, its old views gone.
    later = NOW + timedelta(minutes=5)
    outcome = score_messages(
        [("m9", next(encode([Entry(None, view(9, "/blog/x", 0), VISITOR)], later)))],
        store, FixedModels(), Outbox(), clock=lambda: later, visitors=store,
    )  # fmt: skip
    assert outcome.visits.kept == 1 and lead_key(EMAIL) not in {
        k for k, lead in store.leads.items() if lead.profile is not None
    }


def test_when_the_visitor_store_fails_only_visitor_messages_are_redelivered() -> None:
    store = MemoryLeadStore()

    def broken(*_: Any) -> Any:
        raise RuntimeError("throttled")

    store.links = broken  # type: ignore[method-assign]
    bodies = [
        message(0, Entry(None, view(1, "/pricing", 1), VISITOR)),
        message(1, Entry("bob@acme.example", form(1), None)),
    ]
    outcome = score(store, bodies)
    assert outcome.failed == {"m0"}
    assert "form-1" in history_ids(store, "bob@acme.example")


def test_without_a_visitor_store_visitor_messages_are_redelivered() -> None:
    store = MemoryLeadStore()
    bodies = [message(0, Entry(None, view(1, "/pricing", 1), VISITOR))]
    outcome = score_messages(bodies, store, FixedModels(), Outbox(), clock=lambda: NOW)
    assert outcome.failed == {"m0"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    views=st.lists(
        st.tuples(st.sampled_from(["/pricing", "/blog/a", "/careers", "/demo", "/", "/product/x"]),
                  st.floats(0, 25)),
        min_size=1, max_size=15,
    ),
    lead_events=st.integers(0, 4),
    batches=st.integers(1, 5),
    seed=st.integers(0, 10_000),
)  # fmt: skip
def test_crediting_equals_a_serial_replay_of_everything(
    views: list[tuple[str, float]], lead_events: int, batches: int, seed: int
) -> None:
    """Whatever the order and grouping of deliveries (duplicates included), the lead ends as
    if all its events and its visitor's had been applied once, in time order."""
    rng = random.Random(seed)
    visits = [view(n, path, days) for n, (path, days) in enumerate(views)]
    own = [
        Event(f"mail-{n}", "email_click", NOW - timedelta(days=rng.uniform(0, 25)), None,
              {"campaign": f"c{n}"}, None, "sendgrid")
        for n in range(lead_events)
    ]  # fmt: skip
    entries = [Entry(None, e, VISITOR) for e in visits] + [Entry(EMAIL, e) for e in own]
    entries.append(Entry(EMAIL, form(days_ago=rng.uniform(0, 25)), VISITOR))
    bodies = [message(n, entry) for n, entry in enumerate(entries)]
    bodies += [(f"{m}-again", body) for m, body in bodies if rng.random() < 0.3]
    rng.shuffle(bodies)
    store = MemoryLeadStore()
    cuts = sorted(rng.sample(range(1, len(bodies)), min(batches - 1, len(bodies) - 1)))
    for start, end in zip([0, *cuts], [*cuts, len(bodies)], strict=True):
        assert not score(store, bodies[start:end]).failed
    assert_scored_once(store, [(EMAIL, e.event) for e in entries])


def test_a_visitor_already_linked_is_not_credited_again_by_each_post() -> None:
    """A second form post naming the lead's visitor reads none of its visits again (they were
    credited when it was linked); a redelivery of the post that linked it does (a crash
    between the link and the lead's write loses nothing)."""
    store = MemoryLeadStore()
    score(store, [message(n, Entry(None, view(n, "/", 1), VISITOR)) for n in range(5)])
    first = message(10, Entry(EMAIL, form(), VISITOR))
    assert score(store, [first]).visits.credited == 5
    later = Event("form-2", "form_submit", NOW, None, {"form": "newsletter"}, None, "form")
    second = (
        "m11",
        next(encode([Entry(EMAIL, later, VISITOR)], NOW + timedelta(minutes=3))),
    )
    assert score(store, [second]).visits.credited == 0
    assert score(store, [first]).visits.credited == 5  # the same post again: its credit again
    assert len(history_ids(store, EMAIL)) == 7  # 5 views, 2 forms: each once


def test_credited_views_count_in_the_hours_the_visitor_sent_them() -> None:
    """A lead that already used part of its hourly allowance still gets every credited view
    of a visitor that sent a few an hour: as if it had been known all along."""
    store = MemoryLeadStore()
    earlier = NOW - timedelta(days=1)
    post = Event("form-0", "form_submit", earlier, None, {"form": "newsletter"}, None, "form")
    bodies = [("m0", next(encode([Entry(EMAIL, post)], earlier)))]
    score(store, bodies, untrusted_per_hour=20)
    for n in range(25):  # one view every 8 hours over 9 days, each received as it was sent
        at = NOW - timedelta(hours=8 * n + 1)
        body = next(encode([Entry(None, view(n, "/", (8 * n + 1) / 24), VISITOR)], at))
        score_messages(
            [(f"v{n}", body)], store, FixedModels(), Outbox(), clock=lambda at=at: at,
            visitors=store,
        )  # fmt: skip
    score(store, [message(99, Entry(EMAIL, form(1), VISITOR))], untrusted_per_hour=20)
    log = store.lead_log(lead_key(EMAIL))
    over = [
        r for r in log.events if any(d.get("over_hourly_allowance") for d in r.deltas["default"])
    ]
    assert len(log.events) == 27 and over == []


def test_a_page_view_racing_an_erasure_does_not_bring_the_lead_back() -> None:
    """The scorer read the visitor's link, then the lead was erased (and with it the link),
    then the page view is written: it must not create the lead again."""
    store = MemoryLeadStore()
    two_days_ago = NOW - timedelta(days=2)
    post = Event("form-1", "form_submit", two_days_ago, None, {"form": "x"}, None, "form")
    score_messages(
        [("m0", next(encode([Entry(EMAIL, post, VISITOR)], two_days_ago)))], store,
        FixedModels(), Outbox(), clock=lambda: two_days_ago, visitors=store,
    )  # fmt: skip
    real_links = store.links

    def links_then_erased(visitors: Any) -> Any:
        found = real_links(visitors)
        erase_lead(store, [default_model()], Outbox(), EMAIL, NOW - timedelta(seconds=2))
        return found

    store.links = links_then_erased  # type: ignore[method-assign]
    outcome = score(store, [message(1, Entry(None, view(99, "/thanks", 0), VISITOR))])
    log = store.lead_log(lead_key(EMAIL))
    assert log.profile is None and not log.events
    assert outcome.stats.dropped_erased == 1


def test_public_sources_link_a_bounded_number_of_visitors_to_a_lead() -> None:
    store = MemoryLeadStore()
    claims = [
        message(n, Entry(EMAIL, form(n), f"attacker{n:016d}")) for n in range(MAX_VISITORS + 5)
    ]
    outcome = score(store, claims)
    assert outcome.visits.linked == MAX_VISITORS and outcome.visits.refused == 5


@pytest.mark.parametrize("count", [1, 25])
def test_credited_page_views_respect_the_untrusted_allowance(count: int) -> None:
    """Credited views are untrusted events: per hour of arrival, at most the allowance scores."""
    store = MemoryLeadStore()
    views = [view(n, "/", 1) for n in range(count)]
    score(store, [message(n, Entry(None, e, VISITOR)) for n, e in enumerate(views)])
    score(store, [message(99, Entry(EMAIL, form(), VISITOR))], untrusted_per_hour=20)
    assert len(history_ids(store, EMAIL)) == count + 1  # every one is in the history
    log = store.lead_log(lead_key(EMAIL))
    noted = [r for r in log.events if any(d["kind"] == "note" for d in r.deltas["default"])]
    assert len(noted) == max(0, count + 1 - 20)  # the form is one of the untrusted events
