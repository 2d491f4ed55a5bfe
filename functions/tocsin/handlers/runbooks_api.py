"""Runbooks over HTTP: the list, search, an incident's suggestions, the staleness report,
feedback (bearer token `api`), and the tracked link (its signature is the credential)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from tocsin.domain.runbooks import StalenessEntry
from tocsin.handlers.container import container
from tocsin.handlers.http import json_error, require_token

router = APIGatewayHttpRouter()
API_TOKEN = "api"
#: the rendered runbook may show images from anywhere over https, and runs nothing
RUNBOOK_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class RunbookSummary(BaseModel):
    id: str
    title: str
    source: str
    services: list[str]
    owner: str
    last_reviewed: str
    url: str | None = None
    path: str | None = None


class RunbookList(BaseModel):
    items: list[RunbookSummary]


class SuggestionOut(BaseModel):
    runbook_id: str | None
    title: str
    url: str | None = Field(description="the runbook's own URL (None: rendered by Tocsin)")
    link: str | None = Field(default=None, description="tracked link (with an incident)")
    score: float
    reasons: list[str]
    direct: bool = Field(description="an alert's runbook_url annotation named it")


class SuggestionList(BaseModel):
    items: list[SuggestionOut]


class IncidentRunbooks(BaseModel):
    suggested: list[SuggestionOut]
    used: list[dict[str, Any]] = Field(description="runbooks opened or marked helpful")


class StalenessReport(BaseModel):
    items: list[StalenessEntry]
    counts: dict[str, int]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    incident_id: str = Field(min_length=1, max_length=64, description="id or INC-<number>")
    helpful: bool
    by: str = Field(min_length=1, max_length=128, description="who votes (a person id)")


def _out(suggestions: list[Any], incident_id: str | None) -> list[SuggestionOut]:
    runbooks = container().runbooks
    return [
        SuggestionOut(**s.as_dict(), link=runbooks.link(s, incident_id) if incident_id else s.url)
        for s in suggestions
    ]


@router.get("/v1/runbooks", summary="Every runbook", tags=["runbooks"])
def list_runbooks() -> RunbookList:
    require_token(router, API_TOKEN)
    return RunbookList(
        items=[
            RunbookSummary(
                id=rb.id,
                title=rb.title,
                source=rb.source.value,
                services=rb.meta.services,
                owner=rb.meta.owner,
                last_reviewed=rb.meta.last_reviewed.isoformat(),
                url=rb.url,
                path=rb.path,
            )
            for rb in container().runbooks.all()
        ]
    )


@router.get("/v1/runbooks/search", summary="Search runbooks by words", tags=["runbooks"])
def search_runbooks(
    q: Annotated[str, Query(max_length=500)] = "",
    incident: Annotated[
        str | None, Query(description="an incident (id or INC-42): its service and alerts count")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> SuggestionList:
    require_token(router, API_TOKEN)
    runbooks = container().runbooks
    found = runbooks.incident(incident) if incident else None
    results = runbooks.search(q, found, limit)
    return SuggestionList(items=_out(results, found.id if found else None))


@router.get(
    "/v1/incidents/<id>/runbooks",
    summary="The runbooks suggested for an incident, and those it used",
    tags=["runbooks"],
)
def incident_runbooks(id: str, limit: Annotated[int, Query(ge=1, le=20)] = 5) -> IncidentRunbooks:
    require_token(router, API_TOKEN)
    runbooks = container().runbooks
    incident = runbooks.incident(id)
    return IncidentRunbooks(
        suggested=_out(runbooks.suggest(incident, limit=limit), incident.id),
        used=runbooks.used(incident.id),
    )


@router.get(
    "/v1/runbooks/report",
    summary="Staleness: review overdue, unused, marked unhelpful",
    tags=["runbooks"],
)
def staleness_report() -> StalenessReport:
    require_token(router, API_TOKEN)
    entries = container().runbooks.report()
    counts = {"runbooks": len(entries), "flagged": sum(1 for e in entries if e.flags)}
    for entry in entries:
        for flag in entry.flags:
            counts[flag.value] = counts.get(flag.value, 0) + 1
    return StalenessReport(items=entries, counts=counts)


@router.post(
    "/v1/runbooks/<id>/feedback",
    summary="Helpful or not, in an incident (a person's latest vote counts)",
    tags=["runbooks"],
)
def runbook_feedback(id: str, request: Annotated[FeedbackRequest, Body()]) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    changed = container().runbooks.feedback(id, request.incident_id, request.helpful, request.by)
    return {"runbook_id": id, "helpful": request.helpful, "changed": changed}


@router.get(
    "/v1/runbooks/<id>/open",
    summary="Tracked runbook link: counts the open, then redirects or shows the runbook",
    tags=["runbooks"],
)
def open_runbook(id: str, t: Annotated[str, Query(max_length=4096)] = "") -> Response[Any]:
    """The signed `t` is the credential (links are posted in incident channels). 403 for a
    forged link or one made for another runbook, 410 once expired; neither records anything."""
    from tocsin.services.signing import ExpiredTokenError, InvalidTokenError

    runbooks = container().runbooks
    agent = router.current_event.headers.get("user-agent") or ""
    try:
        runbook = runbooks.opened(id, t, agent)
    except ExpiredTokenError:
        return json_error(410, "this runbook link has expired: search with /incident runbook")
    except InvalidTokenError:
        return json_error(403, "invalid runbook link")
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    if runbook.url:
        return Response(status_code=302, body="", headers={**headers, "Location": runbook.url})
    return Response(
        status_code=200,
        content_type="text/html; charset=utf-8",
        body=runbooks.render_html(runbook),
        headers={**headers, "Content-Security-Policy": RUNBOOK_CSP},
    )
