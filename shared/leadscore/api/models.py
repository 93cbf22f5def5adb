"""`/v1/models`: list, read and publish scoring model versions; rescore every lead."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from leadscore.adapters import model_store
from leadscore.adapters.rescore_queue import SqsRescoreQueue
from leadscore.api.bodies import MODEL, RESCORE, takes
from leadscore.api.deps import Dependencies, new_router
from leadscore.api.problems import Problem, invalid, json_response
from leadscore.domain.model import ModelError, parse_model
from leadscore.services import rescore
from leadscore.services.rescore_jobs import JobOptions, JobRunning
from leadscore.settings import LazyClient, settings


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
        try:  # ScoringModel, with the paths and messages of every model document's problems
            model = parse_model(MODEL.json(router))
        except ModelError as error:
            raise Problem(
                422,
                f"the model has {len(error.problems)} problems",
                [{"field": p["path"], "message": p["message"]} for p in error.problems],
            ) from None
        if model.id != model_id:
            raise invalid("id", f"must match the id in the path ({model_id[:100]!r})")
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
                settle_seconds=config.model_cache_seconds,
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
        location = f"/v1/models/{model_id}/rescore/{job.job_id}"
        return json_response(
            202,
            {
                "job_id": job.job_id,
                "model": model_id,
                "model_version": int(job.model_version),
                "dry_run": options.dry_run,
                "notify": options.notify,
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
