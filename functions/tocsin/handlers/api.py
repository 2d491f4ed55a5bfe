"""The incidents API (and quarantine, maintenance windows). Bearer token `api`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from tocsin.dal.artifacts import decode_body
from tocsin.domain.alerts import Alert
from tocsin.domain.clock import iso, utcnow
from tocsin.domain.config import MaintenanceWindow
from tocsin.domain.errors import InvalidRequestError, MaintenanceWindowNotFoundError
from tocsin.domain.incidents import OPEN_STATUSES, Incident, IncidentStatus
from tocsin.domain.timeline import TimelineEvent
from tocsin.handlers.action_items_api import router as action_items_router
from tocsin.handlers.container import container
from tocsin.handlers.http import json_error, new_resolver, require_token, user
from tocsin.handlers.oncall_api import router as oncall_router
from tocsin.handlers.postmortem_api import router as postmortem_router
from tocsin.handlers.runbooks_api import router as runbooks_router
from tocsin.handlers.statuspage_api import router as statuspage_router
from tocsin.services.escalation import (
    ESCALATION_STEPS,
    AlreadyResolvedError,
    NothingToPageError,
)
from tocsin.services.incidents import IncidentChange
from tocsin.services.intake import PayloadRejectedError
from tocsin.services.oncall import OverrideNotFoundError, ScheduleNotFoundError
from tocsin.services.roles import RoleNotFoundError
from tocsin.services.runbooks import RunbookNotFoundError

logger = Logger(service="tocsin")
router = APIGatewayHttpRouter()
API_TOKEN = "api"


# --- request and response models ----------------------------------------------------------------
class DeclareIncidentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    severity: str | None = Field(
        default=None, description="default: the configured default severity"
    )
    service: str | None = None
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    declared_by: str | None = Field(
        default=None, description="who declares it (recorded on the timeline)"
    )


class PatchIncidentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=500)
    severity: str | None = None
    status: IncidentStatus | None = None
    reason: str | None = Field(default=None, max_length=1000)
    version: int | None = Field(
        default=None, description="the version you read; a stale one gets 409"
    )
    changed_by: str | None = None


class IncidentPage(BaseModel):
    items: list[Incident]
    next_cursor: str | None = None


class TimelinePage(BaseModel):
    items: list[TimelineEvent]
    next_cursor: str | None = None


class IncidentAlert(Alert):
    """An alert of an incident, as last received."""

    last_seen: datetime | None = None


class AlertList(BaseModel):
    items: list[IncidentAlert]


class QuarantinePage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = None


@router.get("/v1/incidents", summary="List incidents, newest first", tags=["incidents"])
def list_incidents(
    status: Annotated[str | None, Query(description="a status, a comma list, or `open`")] = None,
    severity: Annotated[str | None, Query()] = None,
    service: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> IncidentPage:
    require_token(router, API_TOKEN)
    statuses: list[IncidentStatus] = []
    for part in (status or "").split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part == "open":
            statuses += OPEN_STATUSES
        else:
            try:
                statuses.append(IncidentStatus(part))
            except ValueError:
                raise InvalidRequestError(f"unknown status {part!r}") from None
    items, next_cursor = container().incident_repo.search(
        statuses, severity, service, limit, cursor
    )
    return IncidentPage(items=[i for i in items], next_cursor=next_cursor)


@router.post("/v1/incidents", summary="Declare an incident by hand", tags=["incidents"])
def declare_incident(
    request: Annotated[DeclareIncidentRequest, Body()],
    idempotency_key: Annotated[str | None, Header(alias="idempotency-key", max_length=128)] = None,
) -> Response[dict[str, Any]]:
    require_token(router, API_TOKEN)
    c = container()
    incident, created = c.incidents.declare(
        title=request.title,
        severity=request.severity or c.config.default_severity,
        actor=user(request.declared_by),
        service=request.service,
        description=request.description,
        labels=request.labels,
        idempotency_key=idempotency_key,
    )
    return Response(
        status_code=201 if created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=incident.model_dump(mode="json"),
    )


@router.get("/v1/incidents/<id>", summary="One incident", tags=["incidents"])
def get_incident(id: str) -> Incident:
    require_token(router, API_TOKEN)
    return container().incident_repo.get(id)


@router.patch("/v1/incidents/<id>", summary="Change title, severity or status", tags=["incidents"])
def patch_incident(id: str, request: Annotated[PatchIncidentRequest, Body()]) -> Incident:
    require_token(router, API_TOKEN)
    c = container()
    change = IncidentChange(
        title=request.title, severity=request.severity, status=request.status, reason=request.reason
    )
    if request.version is None:  # no version to defend: apply to whatever is current
        changed = c.incidents.change_with_retry(
            id, lambda _current: change, user(request.changed_by)
        )
        assert changed is not None
        return changed
    incident = c.incident_repo.get(id)
    return c.incidents.change(
        incident, change, user(request.changed_by), expected_version=request.version
    )


class StakeholderUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=3000)
    posted_by: str | None = None


@router.post(
    "/v1/incidents/<id>/updates",
    summary="Post a stakeholder update (incident channel and stakeholder channels)",
    tags=["incidents"],
)
def post_update(
    id: str,
    request: Annotated[StakeholderUpdateRequest, Body()],
    idempotency_key: Annotated[str | None, Header(alias="idempotency-key", max_length=128)] = None,
) -> Response[dict[str, Any]]:
    """Recorded at once (the update cadence restarts from it); posted to the channels by the
    response workflow right after (`delivery`; outcomes in GET /v1/incidents/{id}/response).
    Repeating a request with the same Idempotency-Key returns the first update."""
    require_token(router, API_TOKEN)
    result = container().response.stakeholder_update(
        id, request.text, user(request.posted_by), idempotency_key
    )
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=result)


@router.get(
    "/v1/incidents/<id>/response",
    summary="What the response workflow did (each step) and the SLA deadlines",
    tags=["incidents"],
)
def get_response(id: str) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    from tocsin.services.sla import deadlines

    c = container()
    incident = c.incident_repo.get(id)
    steps = [
        {k: v for k, v in step.items() if k not in {"pk", "sk", "type"}}
        for name, step in sorted(c.steps.all(id).items(), key=lambda kv: kv[1]["at"])
        # paging's bookkeeping is shown by GET /v1/incidents/{id}/escalations
        if not name.startswith(ESCALATION_STEPS)
    ]
    return {
        "links": incident.links,
        "steps": steps,
        "sla": {
            "due": {name: iso(at) for name, at in deadlines(incident, c.config).items()},
            "missed": incident.sla_missed,
            "last_update_at": iso(incident.last_update_at) if incident.last_update_at else None,
        },
    }


@router.get(
    "/v1/incidents/<id>/timeline",
    summary="The incident's timeline, oldest first",
    tags=["incidents"],
)
def get_timeline(
    id: str,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query()] = None,
) -> TimelinePage:
    require_token(router, API_TOKEN)
    c = container()
    c.incident_repo.get(id)
    items, next_cursor = c.incident_repo.timeline(id, limit, cursor)
    return TimelinePage(items=items, next_cursor=next_cursor)


@router.get(
    "/v1/incidents/<id>/alerts",
    summary="The incident's alerts and their states",
    tags=["incidents"],
)
def get_alerts(id: str) -> AlertList:
    require_token(router, API_TOKEN)
    c = container()
    c.incident_repo.get(id)
    items = [
        IncidentAlert.model_validate(
            {k: v for k, v in item.items() if k in IncidentAlert.model_fields}
        )
        for item in c.alert_repo.incident_alerts(id)
    ]
    return AlertList(items=items)


# --- quarantine ---------------------------------------------------------------------------------
@router.get("/v1/quarantine", summary="Payloads that could not be read", tags=["quarantine"])
def list_quarantine(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> QuarantinePage:
    require_token(router, API_TOKEN)
    items, next_cursor = container().artifacts.list_quarantined(limit, cursor)
    return QuarantinePage(items=items, next_cursor=next_cursor)


@router.get(
    "/v1/quarantine/<id>", summary="A quarantined payload with its error", tags=["quarantine"]
)
def get_quarantined(id: str) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    return container().artifacts.get_quarantined(id)


@router.post(
    "/v1/quarantine/<id>/replay",
    summary="Feed a quarantined payload to intake again",
    tags=["quarantine"],
)
def replay_quarantined(id: str) -> Response[dict[str, Any]]:
    require_token(router, API_TOKEN)
    c = container()
    record = c.artifacts.get_quarantined(id)
    try:
        outcome = c.intake.ingest(
            record["source"], decode_body(record), record.get("headers", {}), replay_of=id
        )
    except PayloadRejectedError as exc:
        c.artifacts.record_replay(record, {"at": iso(utcnow()), "ok": False, "error": exc.message})
        return Response(
            status_code=exc.status_code,
            content_type=content_types.APPLICATION_JSON,
            body={"error": exc.message, "quarantine_id": exc.quarantine_id, "replayed": id},
        )
    result = outcome.as_dict()
    c.artifacts.record_replay(
        record, {"at": iso(utcnow()), "ok": True, "incidents": result["incidents"]}
    )
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body={"replayed": id, **result},
    )


# --- maintenance windows ------------------------------------------------------------------------
@router.get(
    "/v1/maintenance-windows",
    summary="Maintenance windows (config and runtime)",
    tags=["maintenance"],
)
def list_maintenance() -> dict[str, Any]:
    require_token(router, API_TOKEN)
    c = container()
    return {
        "config": [w.model_dump(mode="json") for w in c.config.maintenance_windows],
        "runtime": [w.model_dump(mode="json") for w in c.maintenance.list()],
    }


@router.post(
    "/v1/maintenance-windows", summary="Add a runtime maintenance window", tags=["maintenance"]
)
def add_maintenance(window: Annotated[MaintenanceWindow, Body()]) -> Response[dict[str, Any]]:
    require_token(router, API_TOKEN)
    container().maintenance.put(window)
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=window.model_dump(mode="json"),
    )


@router.delete(
    "/v1/maintenance-windows/<id>",
    summary="Remove a runtime maintenance window",
    tags=["maintenance"],
)
def delete_maintenance(id: str) -> Response[None]:
    require_token(router, API_TOKEN)
    if not container().maintenance.delete(id):
        raise MaintenanceWindowNotFoundError(f"no maintenance window {id!r}")
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body=None)


app = new_resolver()
app.include_router(router)
app.include_router(oncall_router)
app.include_router(statuspage_router)
app.include_router(runbooks_router)
app.include_router(postmortem_router)
app.include_router(action_items_router)


@app.exception_handler(AlreadyResolvedError)
def _already_resolved(exc: AlreadyResolvedError) -> Response[Any]:
    return json_error(409, str(exc))


@app.exception_handler(NothingToPageError)
def _nothing_to_page(exc: NothingToPageError) -> Response[Any]:
    return json_error(422, str(exc))


@app.exception_handler(ScheduleNotFoundError)
@app.exception_handler(OverrideNotFoundError)
@app.exception_handler(RoleNotFoundError)
@app.exception_handler(RunbookNotFoundError)
def _oncall_not_found(exc: Exception) -> Response[Any]:
    return json_error(404, str(exc))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
