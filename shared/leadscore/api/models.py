"""`/v1/models`: list, read and publish scoring model versions; rescore every lead; check a
draft, try it on a lead and preview it on every lead."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from leadscore.adapters import model_store
from leadscore.adapters.rescore_queue import SqsRescoreQueue
from leadscore.api.bodies import (
    DRAFT,
    DRAFT_TEXT,
    DRAFT_TRIAL,
    MAX_MODEL_DOCUMENT,
    MAX_PREVIEW_DRAFT,
    MODEL,
    RESCORE,
    takes,
)
from leadscore.api.deps import Dependencies, header, new_router, parse_json, raw_body
from leadscore.api.problems import Problem, invalid, json_response
from leadscore.domain.model import ModelError, ScoringModel, parse_model
from leadscore.domain.model_lines import Draft, DraftTextError, read_yaml
from leadscore.services import model_drafts, rescore
from leadscore.services.rescore_jobs import JobOptions, JobRunning, RescoreJob
from leadscore.settings import LazyClient, settings

# A model or a draft sent as YAML text (read as validate reads it: YAML 1.1, PyYAML)
YAML_TYPES = ("application/yaml", "text/yaml", "application/x-yaml", "text/x-yaml")
# A draft to validate is YAML also as text/plain or without a type (JSON is YAML too)
DRAFT_TEXT_TYPES = (*YAML_TYPES, "text/plain", "")


def _rescore_queue(queue_url: str, region: str, endpoint_url: str | None) -> SqsRescoreQueue:
    # Made per request: the route is rare, and a client made here stays inside tests' moto.
    client = LazyClient("sqs", region_name=region, endpoint_url=endpoint_url)
    return SqsRescoreQueue(client, queue_url)


def routes(deps: Dependencies) -> Router:
    router = new_router()

    @router.get("/v1/models")
    def list_models() -> Response[str]:
        models = [
            {
                "id": item.model_id,
                "version": int(item.current_version),
                "published_at": int(item.published_at),
            }
            for item in model_store.catalog()
        ]
        return json_response(200, {"models": models})

    @router.get("/v1/models/<model_id>")
    def get_model(model_id: str) -> Response[str]:
        entry = next((m for m in model_store.catalog() if m.model_id == model_id), None)
        if entry is None:
            raise Problem(404, "no model with this id")
        return json_response(200, entry.document)

    @router.put("/v1/models/<model_id>")
    @takes(MODEL)
    def put_model(model_id: str) -> Response[str]:
        if _media_type(router) in YAML_TYPES:  # as validate reads it: problems at their lines
            model = _valid_draft(raw_body(router, MODEL.limit), model_id, "model")
        else:
            model = _model_json(router, model_id)
        stored = model.model_dump(mode="json", by_alias=True, exclude_none=True)
        if len(json.dumps(stored)) > MAX_MODEL_DOCUMENT:  # (YAML's aliases can make it so)
            raise invalid("", f"too large to publish: over {MAX_MODEL_DOCUMENT:,} bytes as JSON")
        try:
            published = model_store.publish(model, deps.clock())
        except model_store.PublishConflict:
            raise Problem(409, "the model was published by someone else; try again") from None
        return json_response(
            200,
            {"id": published.id, "version": published.version},
            {"Location": f"/v1/models/{published.id}"},
        )

    @router.post("/v1/models/<model_id>/rescore")
    @takes(RESCORE)
    def start_rescore(model_id: str) -> Response[str]:
        chosen = RESCORE.read(router)
        options = JobOptions(dry_run=chosen.dry_run, notify=chosen.notify)
        return _start(model_id, options)

    @router.post("/v1/models/<model_id>/validate")
    @takes(DRAFT_TEXT)
    def validate_draft(model_id: str) -> Response[str]:
        try:
            checked = model_drafts.check(_draft_text(router), model_id)
        except DraftTextError as error:
            return json_response(200, {"valid": False, "problems": [error.problem()]})
        return json_response(
            200, {"valid": checked.model is not None, "problems": checked.problems}
        )

    @router.post("/v1/models/<model_id>/try")
    @takes(DRAFT_TRIAL)
    def try_draft(model_id: str) -> Response[str]:
        trial = DRAFT_TRIAL.read(router)
        model = _valid_draft(trial.document, model_id)
        scores = model_drafts.try_on_lead(
            model,
            deps.store,
            deps.models.current(),
            trial.email,
            deps.clock(),
            settings().event_retention_days,
        )
        return json_response(200, scores)

    @router.post("/v1/models/<model_id>/preview")
    @takes(DRAFT)
    def preview_draft(model_id: str) -> Response[str]:
        model = _valid_draft(DRAFT.read(router).document, model_id)
        document = model.model_dump(mode="json", by_alias=True)  # parse_model reads it back
        if len(json.dumps(document)) > MAX_PREVIEW_DRAFT:
            raise invalid(
                "document", f"too large to preview: over {MAX_PREVIEW_DRAFT:,} bytes as JSON"
            )
        return _start(model_id, JobOptions(dry_run=True, draft=document))

    def _start(model_id: str, options: JobOptions) -> Response[str]:
        """Start a rescore job (a preview: a dry run of its draft) and answer where it is."""
        config = settings()
        if not config.rescore_queue_url:
            raise Problem(503, "rescoring is not configured (RESCORE_QUEUE_URL)")
        queue = _rescore_queue(config.rescore_queue_url, config.region, config.endpoint_url)
        try:
            job = rescore.start_job(
                model_id,
                options,
                queue,
                deps.rescore_jobs,
                deps.catalog,
                deps.clock(),
                # a draft waits for no scorer: it is no version they use
                settle_seconds=0 if options.draft else config.model_cache_seconds,
            )
        except JobRunning as running:
            url = f"/v1/models/{model_id}/rescore/{running.job.job_id}"
            raise Problem(
                409,
                f"a rescore job of this model is still running: {url}; "
                "start another once it has finished",
            ) from None
        if job is None:
            raise Problem(404, "no model with this id")
        return _started(job)

    def _started(job: RescoreJob) -> Response[str]:
        location = f"/v1/models/{job.model_id}/rescore/{job.job_id}"
        return json_response(
            202,
            {
                "job_id": job.job_id,
                "model": job.model_id,
                "model_version": int(job.model_version),
                "dry_run": job.options.dry_run,
                "notify": job.options.notify,
                "status": "queued",
                "starts_at": rescore.job_progress(job, deps.store)["starts_at"],
                "progress_url": location,
            },
            {"Location": location},
        )

    @router.get("/v1/models/<model_id>/rescore/<job_id>")
    def get_rescore(model_id: str, job_id: str) -> Response[str]:
        job = deps.rescore_jobs.read(model_id, job_id) if len(job_id) <= 100 else None
        if job is None:
            raise Problem(404, "no rescore job with this id for this model")
        return json_response(200, rescore.job_progress(job, deps.store))

    return router


def _media_type(router: Router) -> str:
    return (header(router, "content-type") or "").split(";")[0].strip().lower()


def _model_json(router: Router, model_id: str) -> ScoringModel:
    """A model sent as JSON; 422 naming every problem at its path (no lines: no text)."""
    try:
        model = parse_model(MODEL.json(router))
    except ModelError as error:
        raise Problem(
            422,
            f"the model has {len(error.problems)} problems",
            [{"field": p["path"], "message": p["message"]} for p in error.problems],
        ) from None
    if model.id != model_id:
        raise invalid("id", f"must match the id in the path ({model_id[:100]!r})")
    return model


def _draft_text(router: Router) -> Draft:
    """The validate route's body: YAML text, or JSON (its lines read as YAML when they can
    be); DraftTextError for text that is not YAML."""
    kind = _media_type(router)
    data = raw_body(router, DRAFT_TEXT.limit)
    if kind == "application/json":
        document = parse_json(data)
        try:
            return Draft(document, read_yaml(data.decode()).root)
        except (DraftTextError, UnicodeDecodeError):
            return Draft(document)
    if kind not in DRAFT_TEXT_TYPES:
        raise Problem(415, "send the draft as YAML (application/yaml, text/yaml) or JSON")
    return model_drafts.read(data)


def _valid_draft(source: Any, model_id: str, what: str = "draft") -> ScoringModel:
    """A draft (YAML text, or a document read from JSON) as its model; 422 listing every
    problem at its path, line and column. `what`: the draft, or the model being published."""
    try:
        checked = model_drafts.check(model_drafts.read(source), model_id)
    except DraftTextError as error:
        problems, found = [error.problem()], 1
    else:
        if checked.model is not None:
            return checked.model
        problems, found = checked.problems, checked.found
    raise Problem(
        422,
        f"the {what} has {found:,} problem{'s' if found != 1 else ''}",
        [{"field": p.pop("path"), **p} for p in problems],
    )
