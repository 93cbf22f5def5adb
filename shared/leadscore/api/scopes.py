"""Which scope each route of the API needs: the one table the key check and the docs read.

`None`: a public route (no key; forms, webhooks and health authenticate otherwise or not at
all). A route missing here is refused (a fault, 500), never served without a key.
"""

from __future__ import annotations

from typing import Literal

Scope = Literal["ingest", "sales", "admin"]

SCOPES: dict[tuple[str, str], Scope | None] = {
    ("get", "/v1/health"): None,
    ("post", "/v1/forms"): None,
    ("options", "/v1/forms"): None,
    ("get", "/v1/forms/token"): None,
    ("get", "/v1/webhooks/{provider}"): None,
    ("head", "/v1/webhooks/{provider}"): None,
    ("post", "/v1/webhooks/{provider}"): None,
    ("get", "/v1/t.js"): None,
    ("post", "/v1/collect"): None,
    ("options", "/v1/collect"): None,
    ("post", "/v1/events"): "ingest",
    ("post", "/v1/sources/segment"): "ingest",
    ("get", "/v1/leads"): "sales",
    ("get", "/v1/accounts"): "sales",
    ("get", "/v1/leads/{email}"): "sales",
    ("get", "/v1/leads/{email}/history"): "sales",
    ("post", "/v1/leads/{email}/feedback"): "sales",
    ("delete", "/v1/leads/{email}"): "admin",
    ("get", "/v1/accounts/{domain}"): "sales",
    ("get", "/v1/notifications"): "sales",
    ("get", "/v1/models"): "admin",
    ("get", "/v1/models/{model_id}"): "admin",
    ("put", "/v1/models/{model_id}"): "admin",
    ("post", "/v1/models/{model_id}/rescore"): "admin",
    ("post", "/v1/models/{model_id}/validate"): "admin",
    ("post", "/v1/models/{model_id}/try"): "admin",
    ("post", "/v1/models/{model_id}/preview"): "admin",
    ("get", "/v1/models/{model_id}/rescore/{job_id}"): "admin",
}
