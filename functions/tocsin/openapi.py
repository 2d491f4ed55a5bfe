"""The OpenAPI 3.1 document, generated from the handlers' routes and models."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from tocsin import __version__
from tocsin.sources import HTTP_SOURCES

DESCRIPTION = (
    "Tocsin's HTTP API. Alert intake (`/v1/alerts/{source}`) takes each monitoring system's "
    "native webhook payload and a per-integration token (`Authorization: Bearer` or `?token=`); "
    "everything else takes the `api` token."
)


def intake_router() -> APIGatewayHttpRouter:
    """The intake function reads its event by hand (cold start); its operation is described here."""
    router = APIGatewayHttpRouter()

    @router.post(
        "/v1/alerts/<source>",
        summary="Receive alerts from a monitoring system",
        description=(
            "The body is the monitoring system's own webhook payload; `source` is one of "
            + ", ".join(f"`{name}`" for name in HTTP_SOURCES)
            + ". Authenticate with the integration's token, as `Authorization: Bearer` or `?token=`."
        ),
        tags=["alerts"],
        responses={
            202: {
                "description": "accepted: `incidents` created or joined, `duplicates`, `suppressed`"
            },
            400: {"description": "body is not JSON; kept in quarantine (`quarantine_id`)"},
            401: {"description": "missing or wrong integration token"},
            404: {"description": "unknown source"},
            422: {"description": "body does not match the source's format; kept in quarantine"},
        },
    )
    def receive_alerts(source: str) -> dict[str, Any]:
        """Described here only: tocsin.handlers.intake serves this route (it is never called)."""
        return {}

    return router


def slack_router() -> APIGatewayHttpRouter:
    """The chatops function's Slack endpoints (it serves them without validation, for cold
    start); described here."""
    router = APIGatewayHttpRouter()
    signed = (
        "Signed by Slack (`X-Slack-Signature`, `X-Slack-Request-Timestamp`: HMAC-SHA256 with the "
        "app's signing secret over `v0:{timestamp}:{raw body}`, at most 5 minutes old); no "
        "bearer token. Form-encoded as Slack sends it. See docs/chatops.md."
    )
    ack = "acknowledged; the answer follows through the `response_url`"
    refused = "bad, missing or stale signature: nothing was done"

    @router.post(
        "/v1/slack/commands",
        summary="Slack slash command `/incident`",
        description=signed,
        tags=["chat-ops"],
        responses={200: {"description": ack}, 401: {"description": refused}},
        security=[],
    )
    def slack_commands() -> dict[str, Any]:
        """Described here only: tocsin.handlers.chatops serves this route."""
        return {}

    @router.post(
        "/v1/slack/interactions",
        summary="Slack interactivity (block_actions: Publish / Cancel)",
        description=signed,
        tags=["chat-ops"],
        responses={200: {"description": ack}, 401: {"description": refused}},
        security=[],
    )
    def slack_interactions() -> dict[str, Any]:
        """Described here only: tocsin.handlers.chatops serves this route."""
        return {}

    @router.post(
        "/v1/slack/events",
        summary="Slack Events API (url_verification; messages and reactions in incident channels)",
        description=signed.replace("Form-encoded", "JSON")
        + " Each `event_id` is queued once (Slack's retries are acknowledged and dropped).",
        tags=["chat-ops"],
        responses={
            200: {"description": "the `challenge` echoed, or acknowledged (empty body)"},
            400: {"description": "not a JSON Events API request"},
            401: {"description": refused},
        },
        security=[],
    )
    def slack_events() -> dict[str, Any]:
        """Described here only: tocsin.handlers.chatops serves this route."""
        return {}

    return router


def teams_router() -> APIGatewayHttpRouter:
    """The chatops function's Microsoft Teams endpoints; described here."""
    router = APIGatewayHttpRouter()

    @router.post(
        "/v1/teams/messages",
        summary="Microsoft Teams bot (Bot Framework activities)",
        description=(
            "The Azure Bot's messaging endpoint. `Authorization: Bearer` is the Bot Connector's "
            "JWT (RS256, keys from the Bot Framework OpenID metadata, issuer "
            "https://api.botframework.com, audience the bot's app id, `serviceUrl` claim equal "
            "to the activity's). Body: a Bot Framework activity. See docs/chatops.md."
        ),
        tags=["chat-ops"],
        responses={
            200: {"description": "acknowledged; the answer follows through the Bot Connector"},
            401: {"description": "bad, missing, expired or misdirected token: nothing was done"},
            503: {"description": "the Bot Framework signing keys could not be read"},
        },
        security=[],
    )
    def teams_messages() -> dict[str, Any]:
        """Described here only: tocsin.handlers.teams_chatops serves this route."""
        return {}

    @router.post(
        "/v1/teams/webhook",
        summary="Microsoft Teams outgoing webhook",
        description=(
            "`Authorization: HMAC <base64>`: HMAC-SHA256 of the raw body with the webhook's "
            "base64-decoded security token. Answered within 5 seconds with a message "
            "(`{type: message, text}` or an Adaptive Card attachment). See docs/chatops.md."
        ),
        tags=["chat-ops"],
        responses={
            200: {"description": "the answer (a message activity)"},
            400: {"description": "the body is not a JSON activity"},
            401: {"description": "bad or missing HMAC: nothing was done"},
        },
        security=[],
    )
    def teams_webhook() -> dict[str, Any]:
        """Described here only: tocsin.handlers.teams_chatops serves this route."""
        return {}

    return router


def build_spec() -> dict[str, Any]:
    from tocsin.handlers import (
        action_items_api,
        api,
        oncall_api,
        postmortem_api,
        runbooks_api,
        statuspage_api,
    )
    from tocsin.handlers.http import new_resolver

    routers = (
        api.router,
        oncall_api.router,
        statuspage_api.router,
        runbooks_api.router,
        postmortem_api.router,
        action_items_api.router,
    )
    owners = [(r, r.api_resolver) for r in routers]
    app = new_resolver()
    app.include_router(intake_router())
    app.include_router(slack_router())
    app.include_router(teams_router())
    for router, _ in owners:
        app.include_router(router)
    for router, owner in owners:  # include_router re-pointed them; give them back
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
