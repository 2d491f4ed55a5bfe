"""Status pages in the API: publish incidents and maintenances (directly, or for a Tocsin
incident with a preview first), force a rebuild, and let viewers into private pages.

Private pages are served by CloudFront only to viewers holding CloudFront signed cookies. A
viewer gets them by opening an access link (`POST .../viewers` makes one): the link is a
signed token naming a viewer record; `GET /v1/status-pages/{page}/access/{token}` checks it
and answers with the cookies and a redirect to the page. CloudFront routes that path to this
API, so the cookies are set on the status pages' own domain.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tocsin.domain.clock import iso, utcnow
from tocsin.domain.errors import InvalidRequestError, StatusPageNotFoundError
from tocsin.domain.statuspage import (
    ComponentStatus,
    Impact,
    IncidentStatus,
    StatusRecord,
    current_component_statuses,
    page_status,
)
from tocsin.handlers.container import container
from tocsin.handlers.http import json_error, require_token
from tocsin.services.statuspage import new_record_id

logger = Logger(service="tocsin")
router = APIGatewayHttpRouter()
API_TOKEN = "api"
ACCESS_PURPOSE = "statuspage"
#: how long the cookies of one visit to an access link last (the link itself lasts longer)
COOKIE_HOURS = 12


class Author(BaseModel):
    model_config = ConfigDict(extra="forbid")

    author: str | None = Field(
        default=None, max_length=200, description="who publishes (recorded on the timeline)"
    )


class NewStatusIncident(Author):
    name: str = Field(min_length=1, max_length=255)
    status: IncidentStatus = IncidentStatus.INVESTIGATING
    body: str = Field(min_length=1, max_length=5000)
    impact: Impact = Impact.NONE
    components: dict[str, ComponentStatus] = Field(default_factory=dict)
    incident_id: str | None = Field(default=None, description="the Tocsin incident it reports on")
    display_at: AwareDatetime | None = None


class NewStatusUpdate(Author):
    status: str = Field(description="an incident's or a maintenance's status")
    body: str = Field(min_length=1, max_length=5000)
    components: dict[str, ComponentStatus] | None = None
    impact: Impact | None = None
    name: str | None = Field(default=None, min_length=1, max_length=255)
    version: int | None = Field(default=None, description="the version you read (409 if stale)")
    display_at: AwareDatetime | None = None


class NewMaintenance(Author):
    name: str = Field(min_length=1, max_length=255)
    body: str = Field(min_length=1, max_length=5000)
    scheduled_for: AwareDatetime
    scheduled_until: AwareDatetime
    components: list[str] = Field(default_factory=list)
    impact: Impact = Impact.NONE
    auto_transition: bool = Field(
        default=True, description="start and complete it at its scheduled times"
    )


class IncidentPublish(Author):
    pages: list[str] | None = Field(
        default=None, description="default: every page showing the service's components"
    )
    status: IncidentStatus | None = Field(
        default=None, description="default: from the incident's status"
    )
    body: str | None = Field(
        default=None, min_length=1, max_length=5000, description="default: the template"
    )
    preview: bool = Field(default=False, description="only show what would be published")


class NewViewer(Author):
    name: str = Field(min_length=1, max_length=200, description="who the link is for")
    days: int = Field(default=30, ge=1, le=365, description="how long the link works")


def _author(request: Author) -> str:
    return request.author or "api"


def _record(record: StatusRecord) -> dict[str, Any]:
    return record.model_dump(mode="json")


def _created(body: dict[str, Any]) -> Response[Any]:
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=body)


def _page_summary(page_id: str) -> dict[str, Any]:
    c = container()
    service = c.status_pages
    page = service.page(page_id)
    records = service.records(page.id)
    now = utcnow()
    statuses = current_component_statuses(service.component_names(page), records, now)
    unresolved = [r for r in records if not r.closed]
    indicator, description = page_status(statuses, unresolved)
    state = service.store.state(page.id)
    return {
        "id": page.id,
        "name": page.name,
        "visibility": page.visibility,
        "url": service.base_url(page) + "/",
        "status": {"indicator": indicator, "description": description},
        "components": [{"name": k, "status": v.value} for k, v in statuses.items()],
        "unresolved": [_record(r) for r in unresolved],
        "generation": state.generation,
        "published_generation": state.published,
        "published_at": iso(state.published_at) if state.published_at else None,
        "files": len(state.manifest),
    }


@router.get("/v1/status-pages", summary="Status pages and what they show now", tags=["status"])
def list_pages() -> dict[str, Any]:
    require_token(router, API_TOKEN)
    pages = container().config.status_pages.pages
    return {"items": [_page_summary(p.id) for p in pages]}


@router.get("/v1/status-pages/<page>", summary="One status page", tags=["status"])
def get_page(page: str) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    return _page_summary(page)


@router.get(
    "/v1/status-pages/<page>/incidents",
    summary="A page's incidents and maintenances, newest first",
    tags=["status"],
)
def list_records(
    page: str,
    kind: Annotated[str | None, Query(description="incident | maintenance")] = None,
    state: Annotated[str, Query(description="open | all")] = "all",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    if kind not in {None, "incident", "maintenance"}:
        raise InvalidRequestError("kind is `incident` or `maintenance`")
    if state not in {"open", "all"}:
        raise InvalidRequestError("state is `open` or `all`")
    records = [
        r
        for r in container().status_pages.records(page)
        if (kind is None or r.kind.value == kind) and (state == "all" or not r.closed)
    ]
    return {"items": [_record(r) for r in records[:limit]]}


@router.get(
    "/v1/status-pages/<page>/incidents/<record_id>",
    summary="One incident or maintenance of a page",
    tags=["status"],
)
def get_record(page: str, record_id: str) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    return _record(container().status_pages.record(page, record_id))


@router.post(
    "/v1/status-pages/<page>/incidents", summary="Open an incident on a page", tags=["status"]
)
def open_record(page: str, request: Annotated[NewStatusIncident, Body()]) -> Response[Any]:
    require_token(router, API_TOKEN)
    c = container()
    incident = c.incident_repo.get(request.incident_id) if request.incident_id else None
    from tocsin.dal.statuspage import RecordExistsError

    try:
        record = c.status_pages.open_incident(
            page,
            name=request.name,
            status=request.status,
            body=request.body,
            author=_author(request),
            impact=request.impact,
            components=request.components,
            incident=incident,
            display_at=request.display_at,
        )
    except RecordExistsError as exc:
        return json_error(
            409,
            f"{request.incident_id} is already on {page} as {exc.record_id}: post an update "
            f"to /v1/status-pages/{page}/incidents/{exc.record_id}/updates",
            record_id=exc.record_id,
        )
    return _created(_record(record))


@router.post(
    "/v1/status-pages/<page>/incidents/<record_id>/updates",
    summary="Post an update to an incident or maintenance",
    tags=["status"],
)
def update_record(
    page: str, record_id: str, request: Annotated[NewStatusUpdate, Body()]
) -> Response[Any]:
    require_token(router, API_TOKEN)
    record = container().status_pages.update(
        page,
        record_id,
        status=request.status,
        body=request.body,
        author=_author(request),
        components=request.components,
        impact=request.impact,
        name=request.name,
        version=request.version,
        display_at=request.display_at,
    )
    return _created(_record(record))


@router.post(
    "/v1/status-pages/<page>/maintenances",
    summary="Schedule a maintenance on a page",
    tags=["status"],
)
def schedule_maintenance(page: str, request: Annotated[NewMaintenance, Body()]) -> Response[Any]:
    require_token(router, API_TOKEN)
    record = container().status_pages.schedule_maintenance(
        page,
        name=request.name,
        body=request.body,
        scheduled_for=request.scheduled_for,
        scheduled_until=request.scheduled_until,
        author=_author(request),
        components=request.components,
        impact=request.impact,
        auto_transition=request.auto_transition,
    )
    return _created(_record(record))


@router.post(
    "/v1/status-pages/<page>/publish",
    summary="Rebuild a page now (writes only the files that changed)",
    tags=["status"],
)
def publish_page(page: str) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    service = container().status_pages
    service.page(page)
    service.store.bump(page)
    return service.publish(page).as_dict()


@router.post(
    "/v1/incidents/<id>/status-page",
    summary="Publish (or preview) a Tocsin incident on its status pages",
    tags=["status"],
)
def publish_incident(id: str, request: Annotated[IncidentPublish, Body()]) -> Response[Any]:
    """The Communications Lead's path (chat and CLI use it): the incident's service's
    components in the status its severity gives them, the template's wording unless `body`
    is given. With `preview`, nothing is stored: the answer shows what would be posted."""
    require_token(router, API_TOKEN)
    c = container()
    incident = c.incident_repo.get(id)
    service = c.status_pages
    pages = (
        request.pages if request.pages is not None else [p.id for p in service.pages_for(incident)]
    )
    if not pages:
        raise InvalidRequestError(
            f"no status page shows a component of {incident.service or 'this incident'}'s "
            "service: name the pages"
        )
    if request.preview:
        drafts = [service.draft(incident, p, request.status, request.body) for p in pages]
        return Response(
            status_code=200,
            content_type=content_types.APPLICATION_JSON,
            body={"preview": True, "drafts": [d.as_dict() for d in drafts]},
        )
    records = service.publish_for(incident, _author(request), pages, request.status, request.body)
    return Response(
        status_code=201 if records else 200,
        content_type=content_types.APPLICATION_JSON,
        body={"preview": False, "published": [_record(r) for r in records]},
    )


# --- private pages --------------------------------------------------------------------------


def _private(page_id: str) -> Any:
    page = container().status_pages.page(page_id)
    if page.visibility != "private":
        raise InvalidRequestError(f"{page_id} is public: anyone can read it")
    return page


@router.post(
    "/v1/status-pages/<page>/viewers",
    summary="An access link to a private page, for one viewer",
    tags=["status"],
)
def add_viewer(page: str, request: Annotated[NewViewer, Body()]) -> Response[Any]:
    require_token(router, API_TOKEN)
    c = container()
    found = _private(page)
    now = utcnow()
    expires = now + timedelta(days=request.days)
    viewer = {
        "id": new_record_id(),
        "name": request.name,
        "created_at": iso(now),
        "created_by": _author(request),
        "valid_until": iso(expires),
    }
    c.status_viewers.put(found.id, viewer, expires)
    token = c.signer.sign(ACCESS_PURPOSE, {"p": found.id, "v": viewer["id"]}, expires)
    root = c.status_pages.base_url(found).split("/status/")[0]
    link = f"{root}/v1/status-pages/{found.id}/access/{token}"
    return _created({**viewer, "url": link})


@router.get("/v1/status-pages/<page>/viewers", summary="Access links of a page", tags=["status"])
def list_viewers(page: str) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    found = _private(page)
    return {"items": container().status_viewers.list(found.id)}


@router.delete(
    "/v1/status-pages/<page>/viewers/<viewer_id>",
    summary="Revoke an access link",
    tags=["status"],
)
def delete_viewer(page: str, viewer_id: str) -> Response[None]:
    require_token(router, API_TOKEN)
    found = _private(page)
    if not container().status_viewers.delete(found.id, viewer_id):
        raise StatusPageNotFoundError(f"no viewer {viewer_id!r} on {page}")
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body=None)


@router.get(
    "/v1/status-pages/<page>/access/<token>",
    summary="Open a private page: sets CloudFront signed cookies, redirects to the page",
    tags=["status"],
)
def access(page: str, token: str) -> Response[Any]:
    from tocsin.services.signing import ExpiredTokenError, InvalidTokenError

    c = container()
    now = utcnow()
    try:
        data = c.signer.verify(ACCESS_PURPOSE, token, now)
    except ExpiredTokenError:
        return json_error(410, "this access link has expired: ask for a new one")
    except InvalidTokenError:
        return json_error(401, "invalid access link")
    if data.get("p") != page:
        return json_error(401, "invalid access link")
    found = _private(page)
    viewer = c.status_viewers.get(found.id, str(data.get("v")))
    if viewer is None:
        return json_error(401, "this access link was revoked")
    link_expiry = datetime.fromisoformat(str(viewer["valid_until"]).replace("Z", "+00:00"))
    expires = min(now + timedelta(hours=COOKIE_HOURS), link_expiry)
    base = c.status_pages.base_url(found)
    cookies = c.status_cookies(f"{base}/*", expires)
    path = "/" + base.split("://", 1)[-1].partition("/")[2]
    logger.info("private status page opened", extra={"page": page, "viewer": viewer["id"]})
    return Response(
        status_code=302,
        content_type="text/plain",
        body="",
        headers={"Location": f"{base}/", "Cache-Control": "no-store"},
        cookies=[
            Cookie(
                name,
                value,
                path=path,
                secure=base.startswith("https://"),
                http_only=True,
                expires=expires,
                same_site=SameSite.LAX_MODE,
            )
            for name, value in cookies.items()
        ],
    )
