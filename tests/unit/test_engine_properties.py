"""The engine's invariants, on generated leads and event streams (hypothesis).

- the score is the sum of its reasons, and the history's deltas add up to it;
- scores, fit and engagement stay within 0-100;
- a duplicated event changes nothing;
- the order of delivery does not change the result, also when the events are split across
  several calls with the same `now` (no decay due in between).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel
from leadscore.domain.events import Event

from tests.unit.engine_helpers import (
    NOW,
    comparable,
    history_total,
    reasons_total,
    run,
    shipped,
)

SETTINGS = settings(max_examples=150, deadline=None, database=None)

URLS = [
    "https://www.example.com/pricing",
    "https://www.example.com/pricing?plan=team",
    "https://www.example.com/blog/ten-tips",
    "https://www.example.com/careers/",
    "https://www.example.com/demo",
    "https://www.example.com/product/analytics",
    "https://www.example.com/docs/integrations/snowflake",
    "https://www.example.com/",
]
PROPERTIES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "page_view": st.fixed_dictionaries({"url": st.sampled_from(URLS)}),
    "email_open": st.fixed_dictionaries({"campaign": st.sampled_from(["c1", "c2", "c3"])}),
    "email_click": st.fixed_dictionaries({"campaign": st.sampled_from(["c1", "c2", "c3"])}),
    "email_unsubscribe": st.just({}),
    "email_bounce": st.just({}),
    "form_submit": st.fixed_dictionaries(
        {
            "form": st.sampled_from(
                ["demo-request", "contact-us", "newsletter", "whitepaper", "poll"]
            )
        }
    ),
    "download": st.fixed_dictionaries(
        {
            "asset": st.sampled_from(["a1", "a2"]),
            "content_type": st.sampled_from(["report", "video"]),
        }
    ),
    "webinar_attended": st.fixed_dictionaries(
        {"webinar": st.sampled_from(["w1", "w2"]), "topic": st.sampled_from(["BI", "CRM"])}
    ),
    "demo_request": st.just({}),
    "meeting_booked": st.just({}),
    "social_engagement": st.just({}),
    "trial_started": st.just({}),
    "custom_signal": st.just({}),
}


@st.composite
def one_event(draw: st.DrawFn, number: int) -> Event:
    kind = draw(st.sampled_from(sorted(PROPERTIES)))
    # Within 40 days: fewer than 50 daily limit windows per rule, so none is ever evicted.
    minutes = draw(st.integers(min_value=0, max_value=40 * 24 * 60))
    product = draw(st.sampled_from([None, None, "analytics", "crm"]))
    return Event(
        f"evt-{number}", kind, NOW - timedelta(minutes=minutes), product, draw(PROPERTIES[kind])
    )


@st.composite
def streams(draw: st.DrawFn) -> list[Event]:
    """Up to 40 distinct events (one id each), some delivered again."""
    size = draw(st.integers(min_value=0, max_value=40))
    events = [draw(one_event(number)) for number in range(size)]
    again = draw(st.lists(st.sampled_from(events), max_size=10)) if events else []
    return events + again


profiles = st.fixed_dictionaries(
    {
        "email": st.sampled_from(
            [
                "dana@northwind.io",
                "kim@gmail.com",
                "x@mit.edu",
                "spy@rivalsoft.com",
                "t@mailinator.com",
            ]
        ),
    },
    optional={
        "first_name": st.sampled_from(["Dana", "kim", "Asdf", "Reza"]),
        "last_name": st.sampled_from(["Reyes", "Lee", "Qwerty"]),
        "company": st.sampled_from(["Northwind", "Liberty Property", "Zxcvb Ltd"]),
        "job_title": st.sampled_from(
            ["VP of Marketing", "Head of Data", "Student", "Engineer", ""]
        ),
        "industry": st.sampled_from(["Software", "Retail", "Education"]),
        "company_size": st.sampled_from([5, "51-200", "201-500", 1500, "10000+"]),
        "annual_revenue": st.sampled_from([1_000_000, "60000000"]),
        "country": st.sampled_from(["US", "FR", "BR"]),
        "phone": st.sampled_from(["+1 555 0100", ""]),
        "data_warehouse": st.sampled_from(["Snowflake", "Oracle"]),
    },
)
models = st.sampled_from(["default.yaml", "analytics.yaml"]).map(shipped)


def assert_explained(model: CompiledModel, *results: engine.Result) -> None:
    """Reasons add up to the score, the history to the reasons; everything within 0-100."""
    state = results[-1].state
    assert reasons_total(state) == state.score
    assert history_total(*results) == state.score
    assert 0 <= state.score <= 10_000
    assert 0 <= state.fit <= 10_000
    assert 0 <= state.engagement <= 10_000
    summary = engine.summary(model, state)
    assert abs(sum(r["points"] for r in summary["reasons"]) - summary["score"]) < 1e-6


@SETTINGS
@given(models, profiles, streams())
def test_reasons_add_up_and_scores_stay_within_0_to_100(
    model: CompiledModel, profile: dict[str, Any], events: list[Event]
) -> None:
    assert_explained(model, run(model, events, profile=profile))


@SETTINGS
@given(models, profiles, streams(), st.data())
def test_duplicates_change_nothing(
    model: CompiledModel, profile: dict[str, Any], events: list[Event], data: st.DataObject
) -> None:
    once = run(model, events, profile=profile)
    repeats = data.draw(st.lists(st.sampled_from(events), max_size=15)) if events else []
    twice = run(model, events + repeats, profile=profile)
    assert twice.state == once.state
    # ...and delivered again in a later call, nothing at all happens.
    later = run(model, repeats, profile=profile, state=once.state)
    assert later.state == once.state and later.deltas == []


@SETTINGS
@given(models, profiles, streams(), st.randoms(use_true_random=False))
def test_delivery_order_does_not_change_the_result(
    model: CompiledModel, profile: dict[str, Any], events: list[Event], random: Any
) -> None:
    in_order = run(model, events, profile=profile)
    shuffled = list(events)
    random.shuffle(shuffled)
    result = run(model, shuffled, profile=profile)
    assert comparable(result.state) == comparable(in_order.state)
    assert result.state.status == in_order.state.status
    assert [t.kind for t in result.transitions] == [t.kind for t in in_order.transitions]


@SETTINGS
@given(models, profiles, streams(), st.randoms(use_true_random=False), st.integers(1, 6))
def test_split_across_calls_gives_the_same_result(
    model: CompiledModel,
    profile: dict[str, Any],
    events: list[Event],
    random: Any,
    calls: int,
) -> None:
    all_at_once = run(model, events, profile=profile)
    shuffled = list(events)
    random.shuffle(shuffled)
    cuts = sorted(random.randint(0, len(shuffled)) for _ in range(calls - 1))
    batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
    results = []
    state = None
    for batch in batches:
        before = None if state is None else state.to_dict()
        results.append(run(model, batch, profile=profile, state=state))
        assert state is None or state.to_dict() == before  # the caller's state is never changed
        state = results[-1].state
    final = results[-1].state
    assert comparable(final) == comparable(all_at_once.state)
    assert_explained(model, *results)
    # Status has hysteresis: it may differ only between the reset level and the threshold.
    thresholds = model.model.thresholds
    if final.score >= thresholds.mql * 100:
        assert final.status == all_at_once.state.status == "mql"
    if final.score < thresholds.reset * 100:
        assert final.status == all_at_once.state.status == "open"


@SETTINGS
@given(models, profiles, streams(), st.lists(st.integers(0, 400), min_size=1, max_size=4))
def test_decay_stays_explained_idempotent_and_within_range(
    model: CompiledModel, profile: dict[str, Any], events: list[Event], days: list[int]
) -> None:
    results = [run(model, events, profile=profile)]
    for day in sorted(days):
        results.append(engine.decay(model, results[-1].state, NOW + timedelta(days=day)))
        assert_explained(model, *results)
        again = engine.decay(model, results[-1].state, NOW + timedelta(days=day))
        assert again.deltas == [] and again.state == results[-1].state
    before = results[0].state
    assert results[-1].state.engagement <= before.engagement
