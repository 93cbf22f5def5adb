"""Machine activity on the labelled sequences (tests/fixtures/machine/sequences.json), per
provider: the share of machine events given no points, and of people's events still scored.

Each sequence is one lead scored by the default model (engagement.machine: ignore) in one
call; an event counts as caught when its history delta carries a `machine` reason.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.events import Event, parse_time
from leadscore_tools.modelfiles import load_model

ROOT = Path(__file__).resolve().parents[2]
SEQUENCES = ROOT / "tests" / "fixtures" / "machine" / "sequences.json"
NOW = datetime(2026, 12, 31, tzinfo=UTC)


def load_sequences() -> list[dict[str, Any]]:
    sequences: list[dict[str, Any]] = json.loads(SEQUENCES.read_text())
    return sequences


def default_model() -> CompiledModel:
    return compile_model(load_model(ROOT / "models" / "default.yaml"))


def judged(model: CompiledModel, sequence: dict[str, Any], number: int) -> list[tuple[str, str]]:
    """(label, outcome) of each labelled event: outcome "machine" (no points, a reason) or
    "scored" (scored as a person's)."""
    events = [
        Event(
            f"seq{number}-{index}", e["type"], parse_time(e["occurred_at"]), None, e["properties"]
        )
        for index, e in enumerate(sequence["events"])
    ]
    result = engine.score(model, None, {"email": f"lead{number}@acme.com"}, events, NOW)
    machine = {d.event_id for d in result.deltas if d.machine is not None}
    return [
        (e["label"], "machine" if event.id in machine else "scored")
        for e, event in zip(sequence["events"], events, strict=True)
        if e["label"] is not None
    ]


def figures(model: CompiledModel, sequences: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Per provider: machine, machine_caught, human, human_scored counts."""
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for number, sequence in enumerate(sequences):
        counts = table[sequence["provider"]]
        for label, outcome in judged(model, sequence, number):
            counts[label] += 1
            counts[f"{label}_caught" if label == "machine" else f"{label}_scored"] += (
                outcome == "machine" if label == "machine" else outcome == "scored"
            )
    return dict(table)


def by_kind(model: CompiledModel, sequences: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """The same counts per kind of sequence (every provider together)."""
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for number, sequence in enumerate(sequences):
        counts = table[sequence["kind"]]
        for label, outcome in judged(model, sequence, number):
            counts[label] += 1
            counts[f"{label}_{outcome}"] += 1
    return dict(table)


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f} % ({part}/{whole})" if whole else "    n/a"


def main() -> None:
    model, sequences = default_model(), load_sequences()
    print(f"machine activity: {len(sequences)} labelled sequences, default model (ignore)")
    print(f"  {'provider':<13} {'machine events given no points':<32} human events still scored")
    total: Counter[str] = Counter()
    for provider, counts in sorted(figures(model, sequences).items()):
        total.update(counts)
        machine = share(counts["machine_caught"], counts["machine"])
        human = share(counts["human_scored"], counts["human"])
        print(f"  {provider:<13} {machine:<32} {human}")
    machine = share(total["machine_caught"], total["machine"])
    print(f"  {'all':<13} {machine:<32} {share(total['human_scored'], total['human'])}")
    print(f"  {'kind of sequence':<22} {'machine given no points':<24} human still scored")
    for kind, counts in sorted(by_kind(model, sequences).items()):
        machine = share(counts["machine_machine"], counts["machine"])
        print(f"  {kind:<22} {machine:<24} {share(counts['human_scored'], counts['human'])}")


if __name__ == "__main__":
    main()
