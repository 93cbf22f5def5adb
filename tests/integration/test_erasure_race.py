"""An erasure that lands between a scorer's read and its write, on the real table's
conditions: the lead stays gone (the window is widened by running the whole erasure there)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
from leadscore.adapters import model_store
from leadscore.adapters.dynamo import LeadTable, lead_pk
from leadscore.adapters.dynamo_store import DynamoLeadStore
from leadscore.domain.emails import lead_key
from leadscore.domain.events import Event
from leadscore.domain.messages import encode
from leadscore.services.leads import erase_lead
from leadscore.services.scoring import score_messages
from leadscore.services.store import AccountSnapshots, LeadSnapshot
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT, Recorder
from tests.helpers.profiles import VP
from tests.unit.scoring_helpers import NOW

EMAIL = "first.contact@racing.example"


class EraseAfterRead(DynamoLeadStore):
    """The DynamoDB store, with the lead erased (DELETE answered) right after the scorer's
    first read of it."""

    def __init__(self, models: model_store.CachedModels) -> None:
        super().__init__()
        self.models = models
        self.erased = False

    def read_leads(
        self,
        wanted: Mapping[str, Iterable[str]],
        model_ids: Sequence[str],
        domains: Iterable[str] = (),
        account_models: Sequence[str] = (),
    ) -> tuple[dict[str, LeadSnapshot], AccountSnapshots]:
        found = super().read_leads(wanted, model_ids, domains, account_models)
        if not self.erased:
            self.erased = True
            erase_lead(self, self.models.current(), Recorder(), EMAIL, NOW)
        return found


@pytest.fixture
def models(aws: None) -> model_store.CachedModels:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), NOW - timedelta(days=1))
    return model_store.CachedModels(ttl=60)


def body(*events: Event) -> str:
    return next(encode([(EMAIL, e) for e in events], NOW - timedelta(seconds=1)))


def items_left() -> list[str]:
    return [item.sk for item in LeadTable.query(lead_pk(lead_key(EMAIL)))]


@pytest.mark.parametrize("known", [False, True], ids=["first-event", "known-lead"])
def test_an_erasure_between_the_scorers_read_and_write_holds(
    models: model_store.CachedModels, known: bool
) -> None:
    if known:  # the lead exists: its states' versions guard the write
        first = body(Event("a-0", "page_view", NOW - timedelta(hours=1), None, {}, VP))
        score_messages([("m0", first)], DynamoLeadStore(), models, Recorder(), clock=lambda: NOW)
    store = EraseAfterRead(models)
    event = Event("a-1", "demo_request", NOW - timedelta(minutes=1), None, {}, VP)

    outcome = score_messages([("m1", body(event))], store, models, Recorder(), clock=lambda: NOW)

    assert store.erased and not outcome.failed
    assert outcome.stats.dropped_erased == 1 and outcome.stats.events_scored == 0
    left: list[str] = items_left()
    assert left[0] == "ERASED" and all(sk.startswith("GONE#") for sk in left[1:])
    assert len(left) == 1 + known  # the known lead's one event id, hashed


def test_without_the_erasure_check_the_first_event_would_revive_the_lead(
    models: model_store.CachedModels, monkeypatch: Any
) -> None:
    """The check is what holds: a write without it lands after the DELETE answered."""
    from leadscore.services import lead_scoring

    monkeypatch.setattr(lead_scoring, "_versioned", lambda record: True)  # no check is added
    store = EraseAfterRead(models)
    event = Event("a-1", "demo_request", NOW - timedelta(minutes=1), None, {}, VP)
    score_messages([("m1", body(event))], store, models, Recorder(), clock=lambda: NOW)
    assert "PROFILE" in items_left()
