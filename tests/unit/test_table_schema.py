"""The table pynamodb writes to is the one template.yaml declares: keys and indexes agree."""

from __future__ import annotations

from leadscore.adapters.dynamo import table_schema
from leadscore_tools.template import table_definition, ttl_attribute


def test_pynamodb_schema_matches_the_template() -> None:
    code = table_schema()
    template = table_definition()
    assert sorted(code["attribute_definitions"], key=str) == sorted(
        template["AttributeDefinitions"], key=str
    )
    assert sorted(code["key_schema"], key=str) == sorted(template["KeySchema"], key=str)
    code_indexes = {
        i["index_name"]: (sorted(i["key_schema"], key=str), i["projection"]["ProjectionType"])
        for i in code["global_secondary_indexes"]
    }
    template_indexes = {
        i["IndexName"]: (sorted(i["KeySchema"], key=str), i["Projection"]["ProjectionType"])
        for i in template["GlobalSecondaryIndexes"]
    }
    assert code_indexes == template_indexes


def test_event_log_retention_uses_the_template_ttl_attribute() -> None:
    from leadscore.adapters.dynamo import EventItem

    assert ttl_attribute() == EventItem.expires_at.attr_name
