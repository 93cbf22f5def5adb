"""Read template.yaml (CloudFormation tags included) so tests and the local stack share it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Loads !Ref, !Sub, !GetAtt ... as {"Ref": ...} / {"Fn::Sub": ...} like CloudFormation."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506
    return document


def table_definition(logical_id: str = "LeadsTable", path: Path = TEMPLATE) -> dict[str, Any]:
    """boto3 create_table arguments for a table declared in the template."""
    properties = load_template(path)["Resources"][logical_id]["Properties"]
    return {
        key: properties[key]
        for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
        if key in properties
    }


def ttl_attribute(logical_id: str = "LeadsTable", path: Path = TEMPLATE) -> str | None:
    spec = load_template(path)["Resources"][logical_id]["Properties"].get("TimeToLiveSpecification")
    return spec["AttributeName"] if spec and spec.get("Enabled") else None
