"""Postmortems over HTTP (bearer token `api`): read one (`?format=md|html|json`; generated
first when there is none or the record changed), regenerate it, and save the team's
sections (kept on every regeneration)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from tocsin.dal.postmortems import CONTENT_TYPES
from tocsin.domain.errors import InvalidRequestError
from tocsin.handlers.action_items_api import NewActionItem
from tocsin.handlers.container import container
from tocsin.handlers.http import json_error, require_token, user

router = APIGatewayHttpRouter()
API_TOKEN = "api"
#: the HTML embeds its images and stylesheet; it runs and fetches nothing
POSTMORTEM_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class GeneratedPostmortem(BaseModel):
    incident_id: str
    ref: str
    link: str = Field(
        description="the HTML through a signed share link (also `links.postmortem`, the "
        "channel's and the ticket's link)"
    )
    keys: dict[str, str] = Field(description="the files in the artifact bucket")
    fingerprint: str


class SectionsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sections: dict[str, str] | None = Field(
        default=None,
        description="section id -> Markdown (contributing_factors, went_well, "
        "could_be_better, lessons); sections not given keep their text",
    )
    markdown: str | None = Field(
        default=None,
        max_length=500_000,
        description="an edited postmortem.md: the text between its tocsin:section markers",
    )
    version: int | None = Field(
        default=None, ge=0, description="the sections' version you read; a stale one gets 409"
    )
    action_items: list[NewActionItem] | None = Field(
        default=None,
        max_length=50,
        description="follow-ups to add as action items (one per text: saving again adds none)",
    )
    by: str | None = Field(default=None, max_length=128, description="who writes")


def _document(body: bytes, fmt: str) -> Response[Any]:
    """A postmortem file as served: never cached, and the HTML unable to run or fetch."""
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    if fmt == "html":
        headers["Content-Security-Policy"] = POSTMORTEM_CSP
        headers["Referrer-Policy"] = "no-referrer"
    return Response(
        status_code=200, content_type=CONTENT_TYPES[fmt], body=body.decode("utf-8"), headers=headers
    )


def _out(made: Any) -> GeneratedPostmortem:
    return GeneratedPostmortem(
        incident_id=made.incident_id,
        ref=made.ref,
        link=made.link,
        keys=made.keys,
        fingerprint=made.fingerprint,
    )


@router.get(
    "/v1/incidents/<id>/postmortem",
    summary="The postmortem as Markdown, HTML or JSON (generated if missing or stale)",
    tags=["postmortems"],
)
def get_postmortem(
    id: str, format: Annotated[str, Query(pattern="^(md|html|json)$")] = "md"
) -> Response[Any]:
    require_token(router, API_TOKEN)
    body = container().postmortems.get(id, format, user("api"))
    return _document(body, format)


@router.get(
    "/v1/postmortems/<id>",
    summary="The postmortem's HTML through a signed share link (no API token)",
    tags=["postmortems"],
)
def shared_postmortem(id: str, t: Annotated[str, Query(max_length=4096)] = "") -> Response[Any]:
    """The signed `t` is the credential (the link is posted in the incident channel and on the
    ticket, where people have no API token). 403 for a forged link or another incident's,
    410 once expired."""
    from tocsin.services.signing import ExpiredTokenError, InvalidTokenError

    try:
        body = container().postmortems.read_shared(id, t)
    except ExpiredTokenError:
        return json_error(
            410, "this postmortem link has expired: ask for it with /incident postmortem"
        )
    except InvalidTokenError:
        return json_error(403, "invalid postmortem link")
    return _document(body, "html")


@router.post(
    "/v1/incidents/<id>/postmortem",
    summary="Generate the postmortem now (keeps the team's sections)",
    tags=["postmortems"],
)
def generate_postmortem(id: str) -> GeneratedPostmortem:
    require_token(router, API_TOKEN)
    return _out(container().postmortems.generate(id, user("api"), "api"))


@router.get(
    "/v1/incidents/<id>/postmortem/sections",
    summary="The sections the team writes, with their prompts",
    tags=["postmortems"],
)
def get_sections(id: str) -> dict[str, Any]:
    require_token(router, API_TOKEN)
    return container().postmortems.sections(id)


@router.put(
    "/v1/incidents/<id>/postmortem/sections",
    summary="Save the team's sections and regenerate",
    tags=["postmortems"],
)
def put_sections(id: str, request: Annotated[SectionsRequest, Body()]) -> GeneratedPostmortem:
    require_token(router, API_TOKEN)
    c = container()
    actor = user(request.by or "api")
    if request.sections is None and request.markdown is None and not request.action_items:
        raise InvalidRequestError("nothing to save: give sections, markdown or action_items")
    follow_ups = [i.model_dump(exclude={"created_by"}) for i in request.action_items or []]
    c.action_items.check_many(follow_ups)  # a bad follow-up refuses the request: nothing saved
    made = None
    if request.sections is not None or request.markdown is not None:
        made = c.postmortems.save_sections(
            id, actor, sections=request.sections, markdown=request.markdown, version=request.version
        )
    if follow_ups:
        created = c.action_items.create_many(id, follow_ups, actor, source="postmortem")
        if made is None or any(new for _, new in created):
            made = c.postmortems.generate(id, actor, "action items added")
    assert made is not None
    return _out(made)
