"""Paging, on-call and roles in the API: acknowledgement (API, signed links, PagerDuty and
Opsgenie webhooks, all ending in `EscalationService.acknowledge`), escalations, incident
roles, schedules, overrides and calendar feeds. Served by the API function."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from tocsin.domain.clock import iso
from tocsin.domain.errors import InvalidRequestError
from tocsin.domain.timeline import Actor, ActorKind
from tocsin.handlers.container import container
from tocsin.handlers.http import json_error, require_token, user
from tocsin.services.escalation import ESCALATION_STEPS

logger = Logger(service="tocsin")
router = APIGatewayHttpRouter()
API_TOKEN = "api"
CALENDAR_PURPOSE = "calendar"


# --- acknowledgement ------------------------------------------------------------------------


class AcknowledgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(default=None, max_length=200, description="who acknowledges")


@router.post(
    "/v1/incidents/<id>/acknowledge",
    summary="Acknowledge: stop paging and move a triggered incident to acknowledged",
    tags=["paging"],
)
def acknowledge(id: str, request: Annotated[AcknowledgeRequest, Body()]) -> dict[str, Any]:
    """Idempotent. 409 once the incident is resolved (nothing is changed)."""
    require_token(router, API_TOKEN)
    return container().escalations.acknowledge(id, user(request.by), via="api")


class StartPagingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: str | None = Field(
        default=None, description="escalation policy (default: the severity's `page` list)"
    )
    by: str | None = Field(default=None, max_length=200)


@router.post(
    "/v1/incidents/<id>/escalations",
    summary="Page (again): start an escalation for the incident",
    tags=["paging"],
)
def start_escalation(id: str, request: Annotated[StartPagingRequest, Body()]) -> Response[Any]:
    require_token(router, API_TOKEN)
    c = container()
    incident = c.incident_repo.get(id)
    number = len(c.escalations.store.all(id)) + 1
    record = c.escalations.start(incident, user(request.by), request.policy, str(number))
    return Response(
        status_code=202, content_type=content_types.APPLICATION_JSON, body=_escalation(record)
    )


@router.get(
    "/v1/incidents/<id>/escalations",
    summary="The incident's escalations and every page sent",
    tags=["paging"],
)
def list_escalations(id: str) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    c = container()
    c.incident_repo.get(id)
    steps = c.steps.all(id)
    items = []
    for record in c.escalations.store.all(id):
        prefix = f"{ESCALATION_STEPS}page:{record['escalation_id']}:"
        pages = [
            {
                "step": name,
                "state": step.get("state"),
                "method": step.get("method"),
                "provider": step.get("provider"),
                "to": step.get("to"),
                "error": step.get("error"),
                "at": step.get("at"),
            }
            for name, step in sorted(steps.items(), key=lambda kv: kv[1].get("at", ""))
            if name.startswith(prefix)
        ]
        items.append({**_escalation(record), "pages": pages})
    return {"items": items}


def _escalation(record: dict[str, Any]) -> dict[str, Any]:
    hidden = {"pk", "sk", "type", "task_token", "policy"}
    out = {k: v for k, v in record.items() if k not in hidden}
    out["policy_levels"] = len(record.get("policy", {}).get("levels", []))
    return out


def _page_html(title: str, body: str, status: int = 200) -> Response[str]:
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>"
        "body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem}"
        "button{font-size:1.2rem;padding:.7rem 1.4rem;border-radius:.4rem;border:0;"
        "background:#b3261e;color:#fff;cursor:pointer}.muted{color:#555}"
        f"</style></head><body>{body}</body></html>"
    )
    return Response(
        status_code=status,
        content_type="text/html; charset=utf-8",
        body=page,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _ack_target(token: str) -> tuple[dict[str, Any], Any] | Response[str]:
    from tocsin.services.signing import ExpiredTokenError, InvalidTokenError

    c = container()
    try:
        data = c.escalations.read_ack_token(token)
    except ExpiredTokenError:
        return _page_html(
            "Link expired",
            "<h1>This link has expired</h1><p>Acknowledge in the incident channel or the API.</p>",
            410,
        )
    except InvalidTokenError:
        return _page_html("Invalid link", "<h1>This link is not valid</h1>", 401)
    return data, c.incident_repo.get(data["incident_id"])


@router.get("/v1/ack/<token>", summary="The page behind an acknowledgement link", tags=["paging"])
def ack_page(token: str) -> Response[str]:
    """Shows the incident and an Acknowledge button. A GET never acknowledges: mail scanners
    and link previews open links; only the button's POST does."""
    found = _ack_target(token)
    if isinstance(found, Response):
        return found
    data, incident = found
    head = (
        f"<h1>{html.escape(incident.ref)} · {html.escape(incident.severity)}</h1>"
        f"<p><strong>{html.escape(incident.title)}</strong></p>"
        f"<p class=muted>Service {html.escape(incident.service or '—')} · "
        f"status {html.escape(str(incident.status))} · opened {html.escape(iso(incident.created_at))}</p>"
    )
    paging = any(e["status"] == "active" for e in container().escalations.store.all(incident.id))
    if str(incident.status) != "triggered" and not paging:
        return _page_html(
            incident.ref,
            head + "<p>Nothing to do: it is no longer waiting for an acknowledgement.</p>",
        )
    person = container().config.person(data["recipient"])
    who = person.name if person else data["recipient"]
    form = (
        f'<form method=post action="{html.escape(token)}">'
        "<button type=submit>Acknowledge</button></form>"
        f"<p class=muted>You are acknowledging as {html.escape(who)}.</p>"
    )
    return _page_html(incident.ref, head + form)


@router.post("/v1/ack/<token>", summary="Acknowledge through a signed link", tags=["paging"])
def ack_link(token: str) -> Response[Any]:
    """401 for a forged link, 410 for an expired one, 409 once the incident is resolved; none
    of them changes anything. JSON when the client asks for it, else a small HTML page."""
    from tocsin.services.escalation import AlreadyResolvedError

    found = _ack_target(token)
    wants_json = "application/json" in (router.current_event.headers.get("accept") or "")
    if isinstance(found, Response):
        if wants_json:
            return json_error(found.status_code, "invalid or expired acknowledgement link")
        return found
    data, incident = found
    person = container().config.person(data["recipient"])
    actor = Actor(
        kind=ActorKind.USER,
        id=data["recipient"],
        name=person.name if person else data["recipient"],
    )
    try:
        result = container().escalations.acknowledge(incident.id, actor, via="link")
    except AlreadyResolvedError as exc:
        if wants_json:
            return json_error(409, str(exc))
        return _page_html(
            incident.ref, f"<h1>Already resolved</h1><p>{html.escape(str(exc))}</p>", 409
        )
    if wants_json:
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=result)
    return _page_html(
        incident.ref,
        f"<h1>Acknowledged</h1><p>{html.escape(incident.ref)}: {html.escape(incident.title)}</p>"
        "<p class=muted>Paging has stopped. Thank you.</p>",
    )


# --- vendor webhooks ------------------------------------------------------------------------


def _raw_body() -> bytes:
    return (router.current_event.decoded_body or "").encode("utf-8")


def _vendor_secret(method: str) -> dict[str, str] | None:
    cfg = container().config.paging.method(method)
    if cfg.provider != method or not cfg.secret:
        return None
    return container().adapters.secrets.get(cfg.secret)


def _webhook_event(provider: str, event: Any) -> Response[Any]:
    """Acknowledged at the vendor -> acknowledged here; resolved there -> paging ends (the
    incident itself follows its alerts and its people, not the pager)."""
    from tocsin.services.escalation import AlreadyResolvedError, incident_of_page_key

    ignored = Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body={"ignored": True, "kind": getattr(event, "kind", None)},
    )
    if event is None or event.incident_key is None:
        return ignored
    incident_id = incident_of_page_key(event.incident_key)
    c = container()
    if incident_id is None or c.incident_repo.find(incident_id) is None:
        return ignored  # not a page Tocsin sent
    actor = Actor(kind=ActorKind.INTEGRATION, id=provider, name=event.actor or provider)
    if event.kind == "acknowledged":
        try:
            result = c.escalations.acknowledge(incident_id, actor, via=provider)
        except AlreadyResolvedError:
            return ignored
        return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=result)
    if event.kind == "resolved":
        ended = c.escalations.stop(incident_id, "resolved_at_vendor", actor)
        return Response(
            status_code=200,
            content_type=content_types.APPLICATION_JSON,
            body={"incident_id": incident_id, "escalations_ended": ended},
        )
    return ignored


@router.post("/v1/webhooks/pagerduty", summary="PagerDuty V3 webhooks", tags=["paging"])
def pagerduty_webhook() -> Response[Any]:
    """Signed with X-PagerDuty-Signature (the subscription's secret, in the PagerDuty
    secret's `webhook_secrets`). A forged signature gets 401 and changes nothing."""
    from tocsin.integrations import pagerduty

    secret = _vendor_secret("pagerduty")
    if not secret or not pagerduty.webhook_secrets(secret):
        return json_error(404, "PagerDuty webhooks are not configured")
    body = _raw_body()
    signature = router.current_event.headers.get(pagerduty.SIGNATURE_HEADER.lower())
    if not pagerduty.verify_signature(body, signature, pagerduty.webhook_secrets(secret)):
        return json_error(401, "invalid X-PagerDuty-Signature")
    try:
        event = pagerduty.parse_webhook(body)
    except ValueError as exc:
        return json_error(400, str(exc))
    return _webhook_event("pagerduty", event)


@router.post("/v1/webhooks/opsgenie", summary="Opsgenie outgoing webhooks", tags=["paging"])
def opsgenie_webhook() -> Response[Any]:
    """Authenticated by the custom header X-Tocsin-Token (the Opsgenie secret's
    `webhook_token`)."""
    from tocsin.integrations import opsgenie

    secret = _vendor_secret("opsgenie")
    token = (secret or {}).get(opsgenie.WEBHOOK_TOKEN_KEY)
    if not token:
        return json_error(404, "Opsgenie webhooks are not configured")
    if not opsgenie.verify_webhook(router.current_event.headers, token):
        return json_error(401, f"missing or invalid {opsgenie.TOKEN_HEADER}")
    try:
        event = opsgenie.parse_webhook(_raw_body())
    except ValueError as exc:
        return json_error(400, str(exc))
    return _webhook_event("opsgenie", event)


# --- roles ----------------------------------------------------------------------------------


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(description="role id, e.g. commander")
    person: str | None = Field(description="person id; null leaves the role open")
    expected: str | None = Field(
        default=None, description="the holder you saw (with check_expected: 409 if stale)"
    )
    check_expected: bool = False
    changed_by: str | None = None


@router.get("/v1/incidents/<id>/roles", summary="Incident roles and handoffs", tags=["roles"])
def get_roles(id: str) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    c = container()
    c.incident_repo.get(id)
    return {"items": c.roles.roles(id)}


@router.patch("/v1/incidents/<id>/roles", summary="Hand a role over", tags=["roles"])
def patch_roles(id: str, request: Annotated[RoleChange, Body()]) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    return container().roles.hand_off(
        id,
        request.role,
        request.person,
        user(request.changed_by),
        expected=request.expected,
        check_expected=request.check_expected,
    )


# --- schedules ------------------------------------------------------------------------------


def _at(value: str | None) -> datetime:
    from tocsin.domain.clock import parse_iso, utcnow

    if not value:
        return utcnow()
    try:
        at = parse_iso(value)
    except ValueError:
        raise InvalidRequestError(f"`at` is not an ISO 8601 time: {value!r}") from None
    if at.tzinfo is None:
        raise InvalidRequestError("`at` needs a time zone (e.g. 2026-11-27T09:00:00Z)")
    return at


def _shift(shift: Any) -> dict[str, Any]:
    return {
        "person": shift.person,
        "start": iso(shift.start),
        "end": iso(shift.end),
        "source": shift.source,
    }


@router.get("/v1/schedules", summary="On-call schedules and who is on call now", tags=["oncall"])
def list_schedules() -> dict[str, Any]:
    require_token(router, API_TOKEN)
    c = container()
    now = _at(None)
    return {
        "items": [
            {
                "name": s.name,
                "description": s.description,
                "timezone": s.timezone,
                "on_call": c.oncall.on_call(s.name, now),
            }
            for s in c.config.schedules
        ]
    }


@router.get(
    "/v1/schedules/<name>/oncall", summary="Who is on call, and the shifts", tags=["oncall"]
)
def get_oncall(
    name: str,
    at: Annotated[str | None, Query(description="ISO 8601 time (default: now)")] = None,
    days: Annotated[int, Query(ge=0, le=90)] = 7,
) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    c = container()
    when = _at(at)
    shifts = c.oncall.shifts(name, when, when + timedelta(days=days)) if days else []
    return {
        "schedule": name,
        "at": iso(when),
        "on_call": c.oncall.on_call(name, when),
        "shifts": [_shift(s) for s in shifts],
    }


class OverrideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person: str
    start: datetime
    end: datetime
    reason: str = Field(default="", max_length=500)
    created_by: str | None = None


@router.get("/v1/schedules/<name>/overrides", summary="Runtime overrides", tags=["oncall"])
def list_overrides(name: str) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    return {"items": [o.model_dump(mode="json") for o in container().oncall.list_overrides(name)]}


@router.post("/v1/schedules/<name>/overrides", summary="Put someone on call", tags=["oncall"])
def add_override(name: str, request: Annotated[OverrideRequest, Body()]) -> Response[Any]:
    require_token(router, API_TOKEN)
    if request.start.tzinfo is None or request.end.tzinfo is None:
        raise InvalidRequestError("start and end need a time zone (e.g. 2026-11-27T09:00:00Z)")
    if request.end <= request.start:
        raise InvalidRequestError("end must be after start")
    try:
        override = container().oncall.add_override(
            name,
            request.person,
            request.start,
            request.end,
            request.reason,
            request.created_by or "api",
        )
    except ValueError as exc:
        raise InvalidRequestError(str(exc)) from None
    return Response(
        status_code=201,
        content_type=content_types.APPLICATION_JSON,
        body=override.model_dump(mode="json"),
    )


@router.delete(
    "/v1/schedules/<name>/overrides/<override_id>", summary="Remove an override", tags=["oncall"]
)
def delete_override(name: str, override_id: str) -> Response[None]:
    require_token(router, API_TOKEN)
    container().oncall.delete_override(name, override_id)
    return Response(status_code=204, content_type=content_types.APPLICATION_JSON, body=None)


# --- calendar feeds -------------------------------------------------------------------------


def public_base() -> str:
    """The configured public URL, else the host this request came to (the API function is
    not told its own URL: that reference would be a cycle in the stack)."""
    c = container()
    if c.config.paging.public_url or c.settings.public_url:
        return c.public_url().rstrip("/")
    host = router.current_event.request_context.domain_name
    return f"https://{host}" if host else c.public_url().rstrip("/")


def calendar_url(kind: str, name: str) -> str:
    token = container().signer.sign(CALENDAR_PURPOSE, {"k": kind, "n": name}, None)
    return f"{public_base()}/v1/calendars/{token}"


@router.get(
    "/v1/schedules/<name>/calendar",
    summary="The secret iCal feed URL of a schedule",
    tags=["oncall"],
)
def schedule_calendar_url(name: str) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    container().oncall.schedule(name)
    return {"schedule": name, "url": calendar_url("schedule", name)}


@router.get(
    "/v1/people/<person>/calendar",
    summary="The secret iCal feed URL of one person's shifts",
    tags=["oncall"],
)
def person_calendar_url(person: str) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    if container().config.person(person) is None:
        raise InvalidRequestError(f"unknown person {person!r}")
    return {"person": person, "url": calendar_url("person", person)}


#: how far ahead a calendar feed reaches
FEED_DAYS = 90


@router.get("/v1/calendars/<token>", summary="An iCal feed (secret URL)", tags=["oncall"])
def calendar_feed(token: str) -> Response[Any]:
    """The signed token in the URL is the credential (calendar apps cannot send headers);
    rotate the signing key to revoke every feed URL."""
    from tocsin.domain.clock import utcnow
    from tocsin.services import ical
    from tocsin.services.signing import InvalidTokenError

    c = container()
    try:
        data = c.signer.verify(CALENDAR_PURPOSE, token, utcnow())
    except InvalidTokenError:
        return json_error(401, "invalid calendar link")
    now = utcnow()
    start, end = now - timedelta(days=7), now + timedelta(days=FEED_DAYS)
    names = {p.id: p.name for p in c.config.people}
    if data.get("k") == "schedule":
        schedule = c.oncall.schedule(data["n"])
        body = ical.export_schedule(schedule, c.oncall.shifts(schedule.name, start, end), names)
    else:
        person = c.config.person(data.get("n", ""))
        if person is None:
            return json_error(404, "unknown person")
        by_schedule = {
            s.name: [x for x in c.oncall.shifts(s.name, start, end) if x.person == person.id]
            for s in c.config.schedules
        }
        body = ical.export_person(person.id, person.name, by_schedule)
    return Response(
        status_code=200,
        content_type="text/calendar; charset=utf-8",
        body=body.decode("utf-8"),
        headers={"Cache-Control": "private, max-age=300"},
    )
