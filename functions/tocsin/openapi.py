"""The OpenAPI 3.1 document, generated from the handlers' routes and models."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from tocsin import __version__

DESCRIPTION = (
    "Tocsin's HTTP API. Alert intake (`/v1/alerts/{source}`) takes each monitoring system's "
    "native webhook payload and a per-integration token (`Authorization: Bearer` or `?token=`); "
    "everything else takes the `api` token."
)


def build_spec() -> dict[str, Any]:
    from tocsin.handlers import api, intake
    from tocsin.handlers.http import new_resolver

    routers = (intake.router, api.router)
    owners = [router.api_resolver for router in routers]
    app = new_resolver()
    for router in routers:
        app.include_router(router)
    # include_router points each router at this resolver; give them back to their handlers
    for router, owner in zip(routers, owners, strict=True):
        router.api_resolver = owner
    document = app.get_openapi_json_schema(
        title="Tocsin",
        version=__version__,
        description=DESCRIPTION,
        security_schemes={"bearer": HTTPBearer(description="integration or API token")},
        security=[{"bearer": []}],
    )
    spec: dict[str, Any] = json.loads(document)
    return spec


def render() -> str:
    return json.dumps(build_spec(), indent=2, sort_keys=True) + "\n"
