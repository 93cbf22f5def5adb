"""The scorers' cache of published models: a model stored under rules since tightened does not
stop the others from scoring."""

from __future__ import annotations

from datetime import UTC, datetime

from leadscore.adapters import model_store
from leadscore.adapters.dynamo import ModelItem
from leadscore_tools.modelfiles import load_model

from tests.conftest import ROOT

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_a_stored_model_that_no_longer_validates_is_skipped_and_the_others_score(
    aws: None,
) -> None:
    model_store.publish(load_model(ROOT / "models" / "default.yaml"), NOW)
    legacy = model_store.publish(load_model(ROOT / "models" / "analytics.yaml"), NOW)
    # Published before regexes ran in RE2: a backreference, which it refuses.
    entry = ModelItem.get(model_store.CATALOG, legacy.id)
    document = dict(entry.document)
    rules = document["engagement"]["rules"]
    rules[0] = {**rules[0], "where": {"url": {"regex": r"(pricing)\1"}}}
    entry.document = document
    entry.save()

    models = model_store.CachedModels(ttl=0).current()

    assert [model.id for model in models] == ["default"]
