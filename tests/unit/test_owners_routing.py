"""Owners and routing: who sets a lead's owner (a trusted source, never the public), the
model's routing rules (first match wins, a team shared evenly), and their validation."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml
from leadscore.adapters.memory_store import MemoryLeadStore
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.domain.messages import encode
from leadscore.domain.model import ModelError, parse_model
from leadscore.domain.routing import route
from leadscore.services import leads
from leadscore.services.scoring import score_messages
from leadscore.services.store import ProfileRecord

from tests.conftest import Recorder
from tests.helpers.profiles import VP
from tests.unit.engine_helpers import MODELS
from tests.unit.scoring_helpers import NOW, FixedModels

ANNA, BEN, KIM, SALES = (
    "anna@vendor.example",
    "ben@vendor.example",
    "kim@vendor.example",
    "sales@vendor.example",
)
ROUTING = [
    {"name": "emea", "when": {"field": "country", "in": ["GB", "DE", "FR"]}, "team": [ANNA, BEN]},
    {
        "name": "key_accounts",
        "when": {"field": "email_domain", "domain_list": "target_accounts"},
        "owner": KIM,
    },
    {"name": "default", "team": [SALES]},
]


def model_document(**changes: Any) -> dict[str, Any]:
    """models/default.yaml with an MQL threshold any demo request reaches, and routing."""
    document: dict[str, Any] = yaml.safe_load((MODELS / "default.yaml").read_text("utf-8"))
    document["thresholds"] = {"mql": 10, "reset": 5}
    document["domains"]["target_accounts"] = ["globex.example"]
    document["routing"] = ROUTING
    document.update(changes)
    return document


def routed_model(**changes: Any) -> CompiledModel:
    model = parse_model(model_document(**changes))
    return compile_model(model.model_copy(update={"version": 1}))


def problems(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ModelError) as caught:
        parse_model(document)
    return {p["path"]: p["message"] for p in caught.value.problems}


def event(event_id: str, profile: dict[str, Any] | None, source: str | None = None) -> Event:
    """A demo request (an MQL under `routed_model`); `source` "form": typed by the public."""
    properties = {"form": "demo-request"}
    return Event(event_id, "demo_request", NOW, None, properties, profile, source=source)


def send(
    store: MemoryLeadStore,
    email: str,
    *events: Event,
    model: CompiledModel | None = None,
    at: datetime = NOW,
) -> Recorder:
    [body] = encode([(email, e) for e in events], at)
    sent = Recorder()
    score_messages(
        [(f"m-{events[0].id}", body)],
        store,
        FixedModels(model or routed_model()),
        sent,
        clock=lambda: at,
    )
    return sent


def owner_of(store: MemoryLeadStore, email: str) -> tuple[Any, str | None]:
    """The stored owner and who set it (None: a trusted source)."""
    profile = store.lead_log(lead_key(email)).profile
    assert profile is not None
    return profile.profile.get("owner"), profile.untrusted.get("owner")


# -- who may set the owner ---------------------------------------------------------------


def test_a_trusted_source_sets_the_owner_and_a_form_cannot_change_it() -> None:
    store = MemoryLeadStore()
    send(store, "jane@acme.example", event("crm-1", {**VP, "owner": " Kim@Vendor.Example "}))
    assert owner_of(store, "jane@acme.example") == (KIM, None)  # canonical, and not routed

    send(store, "jane@acme.example", event("f-1", {"owner": "me@evil.example"}, source="form"))

    assert owner_of(store, "jane@acme.example") == (KIM, None)
    [record] = [
        r for r in store.lead_log(lead_key("jane@acme.example")).events if r.event.id == "f-1"
    ]
    [note] = [d for d in record.deltas["default"] if d["kind"] == "note"]
    assert note["refused_profile"] == {"owner": "me@evil.example"}  # the history shows it


def test_a_form_cannot_set_the_owner_of_a_lead_nobody_owns() -> None:
    store = MemoryLeadStore()
    model = routed_model(routing=[])
    send(
        store, "x@acme.example", event("f-1", {**VP, "owner": "me@x.example"}, "form"), model=model
    )
    assert owner_of(store, "x@acme.example") == (None, None)


def test_a_trusted_owner_replaces_a_routed_one() -> None:
    store = MemoryLeadStore()
    send(store, "jane@acme.example", event("crm-1", VP))
    assert owner_of(store, "jane@acme.example") == (SALES, "routing:default")
    later = NOW + timedelta(hours=1)
    send(store, "jane@acme.example", event("crm-2", {"owner": ANNA}), at=later)
    assert owner_of(store, "jane@acme.example") == (ANNA, None)


# -- routing rules -----------------------------------------------------------------------


def test_each_rule_kind_routes_first_match_first() -> None:
    store = MemoryLeadStore()
    send(store, "hans@acme.example", event("e-1", {**VP, "country": "DE"}))
    send(store, "kurt@globex.example", event("e-2", {**VP, "country": "DE"}))  # emea first
    send(store, "lee@globex.example", event("e-3", VP))
    send(store, "sam@acme.example", event("e-4", VP))
    assert owner_of(store, "hans@acme.example")[0] in {ANNA, BEN}
    assert owner_of(store, "hans@acme.example")[1] == "routing:emea"
    assert owner_of(store, "kurt@globex.example")[1] == "routing:emea"
    assert owner_of(store, "lee@globex.example") == (KIM, "routing:key_accounts")
    assert owner_of(store, "sam@acme.example") == (SALES, "routing:default")


def test_a_lead_is_routed_when_it_becomes_an_mql_and_the_notification_names_its_owner() -> None:
    store = MemoryLeadStore()
    quiet = Event("v-1", "page_view", NOW, None, {"url": "/blog"}, {"country": "GB"})
    send(store, "amy@acme.example", quiet)
    assert owner_of(store, "amy@acme.example") == (None, None)  # not an MQL: nobody yet

    sent = send(store, "amy@acme.example", event("e-1", None), at=NOW + timedelta(minutes=5))

    owner, source = owner_of(store, "amy@acme.example")
    assert source == "routing:emea" and owner in {ANNA, BEN}
    [mql] = [n for n in sent.sent if n.kind == "lead.mql"]
    assert mql.document["owner"] == owner and mql.attributes["owner"] == owner
    assert f"Owner:       {owner}\n" in mql.email_text


def test_an_owned_lead_keeps_its_owner_and_no_rule_means_nobody() -> None:
    store = MemoryLeadStore()
    send(store, "kim@acme.example", event("e-1", {**VP, "country": "GB", "owner": KIM}))
    assert owner_of(store, "kim@acme.example") == (KIM, None)
    sent = send(store, "no@acme.example", event("e-2", VP), model=routed_model(routing=[]))
    assert owner_of(store, "no@acme.example") == (None, None)
    [mql] = [n for n in sent.sent if n.kind == "lead.mql"]
    assert mql.document["owner"] is None and "owner" not in mql.attributes
    assert "Owner:       nobody yet\n" in mql.email_text


def test_a_team_shares_its_leads_evenly_and_a_lead_always_goes_to_the_same_member() -> None:
    team = [f"rep{n}@vendor.example" for n in range(4)]
    model = routed_model(routing=[{"name": "everyone", "team": team}])
    keys = [lead_key(f"lead{n}@corp.example") for n in range(4000)]
    owners = [route(model, key, {}) for key in keys]
    counts = Counter(found.owner for found in owners if found is not None)
    assert set(counts) == set(team)
    assert all(900 <= count <= 1100 for count in counts.values()), counts  # 1000 each, +-10 %
    assert [route(model, key, {}) for key in keys[:50]] == owners[:50]  # stateless, repeatable


def test_routing_tests_values_like_criteria_do() -> None:
    model = routed_model(
        routing=[
            {"name": "big", "when": {"field": "company_size", "min": 1000}, "owner": KIM},
            {"name": "vp", "when": {"field": "job_title", "words": ["vp"]}, "owner": ANNA},
        ]
    )
    assert route(model, "k", {"company_size": "1,500"}) == route(model, "k", {"company_size": 2e3})
    assert route(model, "k", {"company_size": "1000+"}).owner == KIM  # type: ignore[union-attr]
    assert route(model, "k", {"job_title": "VP Sales"}).owner == ANNA  # type: ignore[union-attr]
    assert route(model, "k", {"job_title": "MVP"}) is None  # no catch-all: nobody


# -- validation --------------------------------------------------------------------------


def test_routing_problems_are_listed_with_their_paths() -> None:
    document = model_document(
        routing=[
            {"name": "emea", "when": {"field": "country"}, "team": [ANNA, "not-an-email", ANNA]},
            {
                "name": "emea",
                "when": {"field": "country", "equals": "GB"},
                "owner": KIM,
                "team": [BEN],
            },
            {"name": "nobody"},
            {"name": "late", "when": {"field": "country", "domain_list": "clients"}, "owner": KIM},
        ]
    )
    found = problems(document)
    assert found["routing[0].when"].startswith("needs at least one test")
    assert found["routing[0].team[1]"].startswith("not a valid email address")
    assert found["routing[0].team[2]"] == f"{ANNA} is in the team twice"
    assert found["routing[1].name"] == "name 'emea' is used twice"
    assert found["routing[1]"] == "give either owner (one salesperson) or team (a list of them)"
    assert found["routing[2]"] == "give either owner (one salesperson) or team (a list of them)"
    assert found["routing[3]"] == "never applies: rule [2] has no `when`, so it takes every lead"
    assert found["routing[3].when.domain_list"].startswith("Input should be 'personal'")


def test_routing_is_optional_and_target_accounts_is_a_domain_list() -> None:
    model = parse_model(model_document(routing=[]))
    assert model.routing == [] and model.domains.target_accounts == ["globex.example"]
    assert problems(model_document(routing=[{"name": "x", "owner": "nobody"}])) == {
        "routing[0].owner": "not a valid email address: it needs text before and after an @"
    }


# -- sales' feedback ---------------------------------------------------------------------


class RacingStore(MemoryLeadStore):
    """A store where a scorer writes the lead's profile just before the first owner write."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = False

    def commit(self, writes: Any, refused: Any = None) -> tuple[set[str], set[str]]:
        first = writes[0].records[0] if writes and writes[0].records else None
        if not self.raced and getattr(first, "profile", {}).get("owner") == ANNA:
            self.raced = True
            send(self, "jane@acme.example", event("crm-2", {"job_title": "CTO"}))
        return super().commit(writes, refused)


def test_feedback_sets_a_trusted_owner_over_a_routed_one_despite_a_concurrent_write() -> None:
    store = RacingStore()
    send(store, "jane@acme.example", event("crm-1", VP))
    assert owner_of(store, "jane@acme.example") == (SALES, "routing:default")

    leads.record_feedback(
        store, "jane@acme.example", "accepted", None, None, NOW, " Anna@vendor.example"
    )

    assert store.raced and owner_of(store, "jane@acme.example") == (ANNA, None)
    profile = store.lead_log(lead_key("jane@acme.example")).profile
    assert profile is not None and profile.profile["job_title"] == "CTO"  # the scorer's, kept
    assert profile.feedback == "accepted"
    send(store, "jane@acme.example", event("f-1", {"owner": KIM}, source="form"))
    assert owner_of(store, "jane@acme.example") == (ANNA, None)


def test_feedback_owner_on_an_unknown_lead_is_not_found_and_stores_nothing() -> None:
    store = MemoryLeadStore()
    with pytest.raises(leads.LeadNotFound):
        leads.record_feedback(store, "nobody@acme.example", "won", None, None, NOW, ANNA)
    assert store.leads == {}


def test_a_lead_that_becomes_an_mql_by_a_rescore_is_routed() -> None:
    """Scored under a model with no routing and a threshold it does not reach, then rescored
    under one it reaches with routing: the rescore routes it, as the scorer would have."""
    from leadscore.services import rescore_replay

    store = MemoryLeadStore()
    cold = routed_model(routing=[], thresholds={"mql": 99, "reset": 90})
    send(store, "rita@acme.example", event("e-1", VP), model=cold)
    assert owner_of(store, "rita@acme.example") == (None, None)
    log = store.lead_log(lead_key("rita@acme.example"))
    plan = rescore_replay.plan_lead(routed_model(), log, NOW, int(NOW.timestamp()), True, 400)
    assert plan is not None and plan.write is not None and plan.after.status == "mql"
    [profile] = [r for r in plan.write.records if isinstance(r, ProfileRecord)]
    assert profile.profile["owner"] == SALES and profile.untrusted["owner"] == "routing:default"
    assert store.commit([plan.write])[1] == set()
    assert owner_of(store, "rita@acme.example") == (SALES, "routing:default")
