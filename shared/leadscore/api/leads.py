"""`/v1/leads/{email}`: scores, their history, erasure and sales feedback."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pynamodb.exceptions import UpdateError

from leadscore.adapters.dynamo import (
    ChangeItem,
    ErasedItem,
    EventItem,
    FeedbackItem,
    LeadTable,
    ProfileItem,
    StateItem,
    lead_key,
    lead_pk,
)
from leadscore.adapters.model_store import catalog
from leadscore.adapters.sns import SnsPublisher
from leadscore.api.bodies import FEEDBACK, takes
from leadscore.api.deps import Dependencies, new_router, require_api_key
from leadscore.api.problems import Problem, invalid, json_response
from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.emails import EmailError, normalize_email
from leadscore.domain.model import parse_model
from leadscore.domain.state import LeadState
from leadscore.services import accounts
from leadscore.settings import LazyClient, settings

FEEDBACK_RETENTION = timedelta(days=3 * 365)


def _pk(email: str) -> tuple[str, str]:
    try:
        address = normalize_email(unquote(email))  # API Gateway may pass it percent-encoded
    except EmailError:
        raise invalid("email", "not a valid email address") from None
    return address, lead_pk(lead_key(address))


def _items(pk: str) -> list[LeadTable]:
    return list(LeadTable.query(pk, consistent_read=True))


def _models() -> dict[str, CompiledModel]:
    return {item.model_id: compile_model(parse_model(item.document)) for item in catalog()}


def _publisher() -> SnsPublisher:
    # Made per request: erasure is rare, and a client made here stays inside tests' moto.
    # TOPIC_ARN is required at the API's cold start (functions/api/app.py).
    config = settings()
    client = LazyClient("sns", region_name=config.region, endpoint_url=config.endpoint_url)
    return SnsPublisher(client, config.topic_arn)


def _known(items: list[LeadTable]) -> ProfileItem:
    profile = next((item for item in items if isinstance(item, ProfileItem)), None)
    if profile is None:
        raise Problem(404, "no lead with this email (unknown or erased)")
    return profile


def routes(deps: Dependencies) -> Router:
    router = new_router()

    @router.get("/v1/leads/<email>")
    def get_lead(email: str) -> Response[str]:
        require_api_key(router, deps)
        address, pk = _pk(email)
        items = _items(pk)
        profile = _known(items)
        models = _models()
        scores = []
        flags: dict[str, None] = {}
        for item in items:
            if isinstance(item, StateItem) and item.model in models:
                summary = engine.summary(models[item.model], LeadState.from_dict(item.state))
                flags.update(dict.fromkeys(summary.pop("flags")))
                scores.append(summary)
        return json_response(
            200,
            {
                "email": address,
                "profile": profile.profile,
                "account": profile.account,
                "flags": list(flags),
                "feedback": profile.feedback,
                "scores": scores,
            },
        )

    @router.get("/v1/leads/<email>/history")
    def get_history(email: str) -> Response[str]:
        require_api_key(router, deps)
        address, pk = _pk(email)
        items = _items(pk)
        _known(items)
        per_model: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            if isinstance(item, EventItem | ChangeItem):
                deltas: Mapping[str, list[dict[str, Any]]] = item.deltas or {}
                for model, records in deltas.items():
                    per_model.setdefault(model, []).extend(records)
        history = []
        for model, records in sorted(per_model.items()):
            records.sort(key=lambda r: (r.get("at") or "", r.get("event_id") or ""))
            total = round(sum(r.get("points", 0) for r in records), 2)
            history.append({"model": model, "points": total, "changes": records})
        return json_response(200, {"email": address, "history": history})

    @router.delete("/v1/leads/<email>")
    def erase_lead(email: str) -> Response[str]:
        require_api_key(router, deps)
        address, pk = _pk(email)
        now = int(deps.clock().timestamp())
        # The marker first, and it outlives the lead: from now on the scorer drops every
        # event received before it, so nothing scored in the meantime can revive the lead.
        ErasedItem(pk, "ERASED", erased_at=now).save()
        with LeadTable.batch_write() as batch:
            for item in LeadTable.query(pk, consistent_read=True):
                if not isinstance(item, ErasedItem):
                    batch.delete(item)
        # Its contribution leaves the account at once (the account may cool down).
        if accounts.domain_of(address) is not None:
            key = lead_key(address)
            try:
                accounts.refresh(
                    [key],
                    list(_models().values()),
                    _publisher(),
                    deps.clock(),
                    domains={key: str(accounts.domain_of(address))},
                    attempts=10,
                    must_settle=True,
                )
            except accounts.AccountsBusy:
                # The lead is gone; repeating the request takes it out of its account.
                raise Problem(
                    503, "the lead is erased but its account is busy; repeat the request"
                ) from None
        return Response(status_code=204, body="")

    @router.post("/v1/leads/<email>/feedback")
    @takes(FEEDBACK)
    def post_feedback(email: str) -> Response[str]:
        require_api_key(router, deps)
        _, pk = _pk(email)
        feedback = FEEDBACK.read(router)
        outcome, model, note = feedback.outcome, feedback.model, feedback.note
        now = deps.clock()
        at = int(now.timestamp())
        for _ in range(5):  # the scorer may update the profile at the same moment
            try:
                profile = ProfileItem.get(pk, "PROFILE", consistent_read=True)
            except ProfileItem.DoesNotExist:
                raise Problem(404, "no lead with this email (unknown or erased)") from None
            try:
                profile.update(
                    actions=[ProfileItem.feedback.set(outcome), ProfileItem.feedback_at.set(at)]
                )
                break
            except UpdateError:
                continue
        else:
            raise Problem(409, "the lead changed while recording feedback; try again")
        FeedbackItem(
            pk,
            f"FEEDBACK#{at:011d}#{uuid.uuid4().hex[:12]}",
            outcome=outcome,
            at=at,
            model=model,
            note=note,
            expires_at=now + FEEDBACK_RETENTION,
        ).save()
        return json_response(202, {"status": "recorded", "outcome": outcome})

    return router
