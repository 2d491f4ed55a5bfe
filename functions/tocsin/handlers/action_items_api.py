"""Action items over HTTP (bearer token `api`): list them across incidents, create, read and
change them per incident; and Jira's webhook (`?token=` of the `jira` integration token, since
Jira's admin webhooks cannot set headers): an issue moved into Jira's done category -> done
here, out of it -> open here."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from tocsin.domain.action_items import MAX_TEXT, ActionItem, ActionStatus, Priority
from tocsin.handlers.auth import bearer_token
from tocsin.handlers.container import container
from tocsin.handlers.http import json_error, require_token, user
from tocsin.integrations.ports import IntegrationError

router = APIGatewayHttpRouter()
API_TOKEN = "api"
#: the integration token Jira's webhook URL carries (`tocsin tokens create jira`)
JIRA_TOKEN = "jira"
MAX_WEBHOOK_BYTES = 1_000_000


class NewActionItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    owner: str | None = Field(default=None, description="a person id of the configuration")
    due: date | None = None
    priority: Priority | None = Field(default=None, description="default: the configured one")
    created_by: str | None = Field(default=None, max_length=128)


class ActionItemChange(BaseModel):
    """Only the fields given change; `owner` or `due` given as null clear them."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT)
    owner: str | None = None
    due: date | None = None
    priority: Priority | None = None
    status: ActionStatus | None = None
    version: int | None = Field(
        default=None, ge=0, description="the version you read; a stale one gets 409"
    )
    changed_by: str | None = Field(default=None, max_length=128)


class ActionItemPage(BaseModel):
    items: list[ActionItem]
    next_cursor: str | None = None


@router.get(
    "/v1/action-items",
    summary="Action items across incidents, soonest due first",
    tags=["action items"],
)
def list_action_items(
    status: Annotated[str, Query(description="open, done or cancelled")] = "open",
    owner: Annotated[str | None, Query(description="a person id")] = None,
    overdue: Annotated[bool, Query(description="open items past their due date")] = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> ActionItemPage:
    require_token(router, API_TOKEN)
    items, next_cursor = container().action_items.search(status, owner, overdue, limit, cursor)
    return ActionItemPage(items=items, next_cursor=next_cursor)


@router.get(
    "/v1/incidents/<id>/action-items",
    summary="An incident's action items, oldest first",
    tags=["action items"],
)
def incident_action_items(id: str) -> ActionItemPage:
    require_token(router, API_TOKEN)
    return ActionItemPage(items=container().action_items.for_incident(id))


@router.post(
    "/v1/incidents/<id>/action-items",
    summary="Add an action item (its ticket is created by the next sweep)",
    tags=["action items"],
)
def create_action_item(
    id: str,
    request: Annotated[NewActionItem, Body()],
    idempotency_key: Annotated[str | None, Header(alias="idempotency-key", max_length=128)] = None,
) -> Response[dict[str, Any]]:
    require_token(router, API_TOKEN)
    item, created = container().action_items.create(
        id,
        request.text,
        user(request.created_by),
        owner=request.owner,
        due=request.due,
        priority=request.priority.value if request.priority else None,
        source="api",
        key=f"api:{idempotency_key}" if idempotency_key else None,
    )
    return Response(
        status_code=201 if created else 200,
        content_type=content_types.APPLICATION_JSON,
        body=item.model_dump(mode="json"),
    )


@router.get(
    "/v1/incidents/<id>/action-items/<action_id>",
    summary="One action item",
    tags=["action items"],
)
def get_action_item(id: str, action_id: str) -> ActionItem:
    require_token(router, API_TOKEN)
    return container().action_items.get(id, action_id)


@router.patch(
    "/v1/incidents/<id>/action-items/<action_id>",
    summary="Change an action item: done, owner, due date, priority, text",
    tags=["action items"],
)
def change_action_item(
    id: str, action_id: str, request: Annotated[ActionItemChange, Body()]
) -> ActionItem:
    require_token(router, API_TOKEN)
    given = request.model_fields_set
    changes: dict[str, Any] = {}
    if "owner" in given:
        changes["owner"] = request.owner
    if "due" in given:
        changes["due"] = request.due
    return container().action_items.update(
        id,
        action_id,
        user(request.changed_by),
        text=request.text,
        priority=request.priority.value if request.priority else None,
        status=request.status.value if request.status else None,
        version=request.version,
        **changes,
    )


@router.post(
    "/v1/webhooks/jira",
    summary="Jira webhooks (issue updated/deleted): done in Jira -> done here",
    tags=["action items"],
)
def jira_webhook() -> Response[Any]:
    """Authenticated by `?token=` (the `jira` integration token). Issues that are not an action
    item's ticket, and events other than issue updates, are accepted and ignored."""
    import json

    from tocsin.integrations import jira

    event = router.current_event
    if not container().tokens.verify(
        JIRA_TOKEN, bearer_token(event.headers, event.query_string_parameters)
    ):
        return json_error(401, "missing or invalid token (the jira integration token)")
    raw = event.decoded_body or ""
    if len(raw) > MAX_WEBHOOK_BYTES:
        return json_error(413, f"a Jira webhook body is at most {MAX_WEBHOOK_BYTES} bytes")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        return json_error(400, f"the body is not JSON: {exc.msg} at character {exc.pos}")
    change = jira.parse_webhook(body)
    event_name = body.get("webhookEvent") if isinstance(body, dict) else None
    ignored = Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body={"ignored": True, "event": event_name if isinstance(event_name, str) else None},
    )
    # only a status transition says anything about done; comments and edits do not
    if change is None or change.event == "deleted" or not change.status_changed:
        return ignored
    try:
        item = container().action_items.ticket_changed(
            jira.PROVIDER, change.issue_id, change.key, change.done, change.actor
        )
    except IntegrationError as exc:  # asking Jira whether the issue is done failed
        return json_error(503, f"could not read the issue's status from Jira: {exc}")
    if item is None:
        return ignored
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body={"action_item": item.id, "incident_id": item.incident_id, "status": item.status},
    )
