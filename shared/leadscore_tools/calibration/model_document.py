"""The calibrated model as a document: fit criteria per attribute, written as readable YAML."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from leadscore_tools.backtest import Backtest
from leadscore_tools.calibration.attributes import Attribute
from leadscore_tools.calibration.settings import Settings
from leadscore_tools.history_csv import History


class _Flow(dict[str, Any]):
    """A mapping written on one line, as the hand-written models do for criteria and rules."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    _Flow, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, True)
)


def model_document(
    attributes: Sequence[Attribute],
    base: float,
    base_model: Mapping[str, Any],
    model_id: str,
    name: str,
) -> dict[str, Any]:
    """The model: one fit category per attribute; engagement, spam and SLA from the base model."""
    categories = []
    for attribute in attributes:
        category: dict[str, Any] = {
            "name": attribute.name,
            "weight": attribute.weight,
            "field": attribute.column,
            "criteria": _criteria(attribute),
        }
        if attribute.other.criterion_points:
            category["default_points"] = attribute.other.criterion_points
        categories.append(category)
    document: dict[str, Any] = {
        "id": model_id,
        "name": name,
        "description": "",
    }
    if "domains" in base_model:
        document["domains"] = base_model["domains"]
    document["fit"] = {
        "base": round(base, 2),
        "grades": {"A": 75, "B": 50, "C": 25},
        "categories": categories,
    }
    document["negative"] = []
    if "spam" in base_model:
        document["spam"] = base_model["spam"]
    engagement = dict(base_model["engagement"])
    engagement["rules"] = [_Flow(rule) for rule in engagement.get("rules", [])]
    document["engagement"] = engagement
    if base_model.get("decay") is not None:
        document["decay"] = base_model["decay"]
    document["weights"] = {"fit": 100, "engagement": 0}
    document["thresholds"] = {"mql": 60, "reset": 45}
    if "sla_hours" in base_model:
        document["sla_hours"] = base_model["sla_hours"]
    return document


def _criteria(attribute: Attribute) -> list[dict[str, Any]]:
    criteria: list[dict[str, Any]] = []
    ordered = (
        attribute.levels
        if attribute.numeric
        else sorted(attribute.levels, key=lambda level: -level.criterion_points)
    )
    for level in ordered:
        points = level.criterion_points
        if level.kind == "value":
            criteria.append(_Flow(name=level.name, equals=level.value, points=points))
        elif level.kind == "bin":
            bounds = {"min": level.low, "below": level.below}
            tests = {key: _plain(value) for key, value in bounds.items() if value is not None}
            criteria.append(_Flow(name=level.name, **tests, points=points))
        elif level.kind == "missing":
            criteria.append(_Flow(name=level.name, exists=False, points=points))
            if attribute.missing_seen:
                criteria.append(
                    _Flow(
                        name=f"{level.name}_token", **{"in": attribute.missing_seen}, points=points
                    )
                )
    return criteria


def _plain(number: float) -> float | int:
    return int(number) if float(number).is_integer() else number


def description(history: History, settings: Settings, fit: Backtest, note: str) -> str:
    """The model's description: how it was calibrated, from what, and how well it fits."""
    return (
        f"Fit points calibrated by `leadscore calibrate --method {settings.method}` from "
        f"{Path(history.path).name} ({fit.leads:,} leads, {fit.rate:.1%} converted on "
        f"{history.outcome_column!r}); AUC {fit.auc:.3f} on those leads. {note}. Engagement "
        "rules are copied from the base model and weigh 0 until they are calibrated too."
    )


def to_yaml(document: Mapping[str, Any], command: str) -> str:
    """The model file: a header naming the command, then the document as the hand-written ones."""
    header = (
        f"# Calibrated by: {command}\n"
        "# Read the calibration report before publishing: points, support and rates per value.\n"
    )
    body = yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=200,
        default_flow_style=None,
    )
    return header + body
