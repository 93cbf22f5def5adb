"""Model commands (`validate` offline; `publish` and `list` against a running stack) and
`leadscore score` (offline, no AWS needed)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml
from leadscore.domain import engine
from leadscore.domain.compiled import compile_model
from leadscore.domain.emails import EmailError, normalize_email
from leadscore.domain.events import EventError, event_from_dict
from leadscore.domain.model import ModelError, ScoringModel, parse_model

from leadscore_tools.common import CommandError, parse_at, print_json, read_json
from leadscore_tools.modelfiles import load_model
from leadscore_tools.stack_client import StackClient, add_stack_arguments, segment


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    model = commands.add_parser("model", help="check, publish and list scoring models")
    model_commands = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    validate = model_commands.add_parser(
        "validate", help="check a model file, listing every problem"
    )
    validate.add_argument("file")
    validate.set_defaults(run=run_validate)
    publish = model_commands.add_parser(
        "publish",
        help="check a model file, then publish it as the model's next version on a stack",
        description="Validate FILE locally, then PUT /v1/models/{id} on a running stack. The "
        "id is the document's `id`, or the file name without its extension.",
    )
    publish.add_argument("file")
    add_stack_arguments(publish)
    publish.set_defaults(run=run_publish)
    listing = model_commands.add_parser(
        "list", help="the models published on a stack, with their current version"
    )
    add_stack_arguments(listing)
    listing.set_defaults(run=run_list)

    score = commands.add_parser("score", help="score a lead offline: JSON with reasons")
    score.add_argument("--model", required=True, help="model file (YAML or JSON)")
    score.add_argument("--lead", required=True, help="JSON profile of the lead (with email)")
    score.add_argument("--events", required=True, help="JSON array (or JSON lines) of events")
    score.add_argument("--at", help="score as of this ISO-8601 time (default: now)")
    score.set_defaults(run=run_score)


def _model(path: str) -> ScoringModel:
    try:
        return load_model(path)
    except OSError as error:
        raise CommandError(f"cannot read model {path}: {error.strerror}") from None
    except ModelError as error:
        lines = "\n".join(f"  {p['path'] or '(model)'}: {p['message']}" for p in error.problems)
        raise CommandError(f"{path}: {len(error.problems)} problem(s)\n{lines}") from None


def run_validate(args: argparse.Namespace) -> int:
    model = _model(args.file)
    rules = len(model.engagement.rules)
    categories = len(model.fit.categories)
    print(f"{args.file}: valid model '{model.id}' ({categories} fit categories, {rules} rules)")
    return 0


def _document(path: str) -> dict[str, Any]:
    """The model file as a document, with the file's stem as its id when it names none."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise CommandError(f"cannot read model {path}: {error.strerror}") from None
    except yaml.YAMLError:
        _model(path)  # the same message as `validate`
        raise
    if not isinstance(document, dict):
        raise CommandError(f"{path}: a model must be a mapping (YAML or JSON)")
    document.setdefault("id", Path(path).stem)
    try:
        parse_model(document)
    except ModelError as error:
        lines = "\n".join(f"  {p['path'] or '(model)'}: {p['message']}" for p in error.problems)
        raise CommandError(f"{path}: {len(error.problems)} problem(s)\n{lines}") from None
    return document


def run_publish(args: argparse.Namespace) -> int:
    document = _document(args.file)
    client = StackClient.from_args(args)
    answer = client.request("PUT", f"/v1/models/{segment(str(document['id']))}", document)
    print_json(answer)
    return 0


def run_list(args: argparse.Namespace) -> int:
    print_json(StackClient.from_args(args).request("GET", "/v1/models"))
    return 0


def run_score(args: argparse.Namespace) -> int:
    model = compile_model(_model(args.model))
    now = parse_at(args.at)
    profile = read_json(args.lead, "lead")
    if not isinstance(profile, dict) or not isinstance(profile.get("email"), str):
        raise CommandError(f"lead {args.lead} must be a JSON object with an email")
    try:
        email = normalize_email(profile["email"])
    except EmailError as error:
        raise CommandError(f"lead {args.lead}: {error}") from None
    documents = read_json(args.events, "events")
    if isinstance(documents, dict):
        documents = [documents]
    if not isinstance(documents, list):
        raise CommandError(f"events {args.events} must be a JSON array of events")
    events = []
    for index, document in enumerate(documents):
        try:
            if not isinstance(document, dict):
                raise EventError("event", "must be a JSON object")
            events.append(event_from_dict(document, now))
        except EventError as error:
            raise CommandError(f"events[{index}].{error}") from None
    result = engine.score(model, None, profile, events, now)
    output: dict[str, Any] = {
        "email": email,
        "at": engine.iso(engine.epoch(now)),
        "scores": [engine.summary(model, result.state)],
        "history": [delta.to_dict() for delta in result.deltas],
        "transitions": [t.kind for t in result.transitions],
        "duplicates": result.duplicates,
        "out_of_scope": result.out_of_scope,
    }
    print_json(output)
    return 0
