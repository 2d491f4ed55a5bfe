"""The HTTP route table, defined once: the CDK stack and the local gateway both read it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Function(StrEnum):
    """Lambda functions; the value is the logical name used by the stack and local mode."""

    INTAKE = "intake"
    API = "api"
    EVENTBRIDGE_INTAKE = "eventbridge_intake"
    WORKFLOW = "workflow"
    SWEEPER = "sweeper"
    #: Slack slash commands, interactions and events, Teams bot activities and outgoing
    #: webhooks: verifies and acknowledges them (HTTP), then does the work from its queue (SQS):
    #: answers through the response_url / the Bot Connector, captures incident channels
    CHATOPS = "chatops"
    #: the incidents' outbox: each new incident record, from the table's DynamoDB stream,
    #: starts its response workflow (named after the incident)
    INCIDENT_STREAM = "incident_stream"


#: Lambda handler (module.function) of each function, relative to the bundle root.
HANDLERS: dict[Function, str] = {
    Function.INTAKE: "tocsin.handlers.intake.handler",
    Function.API: "tocsin.handlers.api.handler",
    Function.EVENTBRIDGE_INTAKE: "tocsin.handlers.eventbridge_intake.handler",
    Function.WORKFLOW: "tocsin.handlers.workflow.handler",
    Function.SWEEPER: "tocsin.handlers.sweeper.handler",
    Function.CHATOPS: "tocsin.handlers.chatops.handler",
    Function.INCIDENT_STREAM: "tocsin.handlers.incident_stream.handler",
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway syntax: /v1/incidents/{id}
    function: Function


ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/alerts/{source}", Function.INTAKE),
    Route("GET", "/v1/incidents", Function.API),
    Route("POST", "/v1/incidents", Function.API),
    Route("GET", "/v1/incidents/{id}", Function.API),
    Route("PATCH", "/v1/incidents/{id}", Function.API),
    Route("GET", "/v1/incidents/{id}/timeline", Function.API),
    Route("GET", "/v1/incidents/{id}/alerts", Function.API),
    Route("POST", "/v1/incidents/{id}/updates", Function.API),
    Route("GET", "/v1/incidents/{id}/response", Function.API),
    Route("GET", "/v1/quarantine", Function.API),
    Route("GET", "/v1/quarantine/{id}", Function.API),
    Route("POST", "/v1/quarantine/{id}/replay", Function.API),
    Route("GET", "/v1/maintenance-windows", Function.API),
    Route("POST", "/v1/maintenance-windows", Function.API),
    Route("DELETE", "/v1/maintenance-windows/{id}", Function.API),
    Route("POST", "/v1/incidents/{id}/acknowledge", Function.API),
    Route("GET", "/v1/incidents/{id}/escalations", Function.API),
    Route("POST", "/v1/incidents/{id}/escalations", Function.API),
    Route("GET", "/v1/incidents/{id}/roles", Function.API),
    Route("PATCH", "/v1/incidents/{id}/roles", Function.API),
    Route("GET", "/v1/ack/{token}", Function.API),
    Route("POST", "/v1/ack/{token}", Function.API),
    Route("POST", "/v1/webhooks/pagerduty", Function.API),
    Route("POST", "/v1/webhooks/opsgenie", Function.API),
    Route("GET", "/v1/schedules", Function.API),
    Route("GET", "/v1/schedules/{name}/oncall", Function.API),
    Route("GET", "/v1/schedules/{name}/overrides", Function.API),
    Route("POST", "/v1/schedules/{name}/overrides", Function.API),
    Route("DELETE", "/v1/schedules/{name}/overrides/{override_id}", Function.API),
    Route("GET", "/v1/schedules/{name}/calendar", Function.API),
    Route("GET", "/v1/people/{person}/calendar", Function.API),
    Route("GET", "/v1/calendars/{token}", Function.API),
    Route("GET", "/v1/status-pages", Function.API),
    Route("GET", "/v1/status-pages/{page}", Function.API),
    Route("GET", "/v1/status-pages/{page}/incidents", Function.API),
    Route("POST", "/v1/status-pages/{page}/incidents", Function.API),
    Route("GET", "/v1/status-pages/{page}/incidents/{record_id}", Function.API),
    Route("POST", "/v1/status-pages/{page}/incidents/{record_id}/updates", Function.API),
    Route("POST", "/v1/status-pages/{page}/maintenances", Function.API),
    Route("POST", "/v1/status-pages/{page}/publish", Function.API),
    Route("POST", "/v1/incidents/{id}/status-page", Function.API),
    Route("GET", "/v1/status-pages/{page}/viewers", Function.API),
    Route("POST", "/v1/status-pages/{page}/viewers", Function.API),
    Route("DELETE", "/v1/status-pages/{page}/viewers/{viewer_id}", Function.API),
    Route("GET", "/v1/status-pages/{page}/access/{token}", Function.API),
    Route("GET", "/v1/runbooks", Function.API),
    Route("GET", "/v1/runbooks/search", Function.API),
    Route("GET", "/v1/runbooks/report", Function.API),
    Route("GET", "/v1/runbooks/{id}/open", Function.API),
    Route("POST", "/v1/runbooks/{id}/feedback", Function.API),
    Route("GET", "/v1/incidents/{id}/runbooks", Function.API),
    Route("GET", "/v1/incidents/{id}/postmortem", Function.API),
    Route("POST", "/v1/incidents/{id}/postmortem", Function.API),
    Route("GET", "/v1/incidents/{id}/postmortem/sections", Function.API),
    Route("PUT", "/v1/incidents/{id}/postmortem/sections", Function.API),
    Route("GET", "/v1/postmortems/{id}", Function.API),
    Route("GET", "/v1/action-items", Function.API),
    Route("GET", "/v1/incidents/{id}/action-items", Function.API),
    Route("POST", "/v1/incidents/{id}/action-items", Function.API),
    Route("GET", "/v1/incidents/{id}/action-items/{action_id}", Function.API),
    Route("PATCH", "/v1/incidents/{id}/action-items/{action_id}", Function.API),
    Route("POST", "/v1/webhooks/jira", Function.API),
    Route("POST", "/v1/slack/commands", Function.CHATOPS),
    Route("POST", "/v1/slack/interactions", Function.CHATOPS),
    Route("POST", "/v1/slack/events", Function.CHATOPS),
    Route("POST", "/v1/teams/messages", Function.CHATOPS),
    Route("POST", "/v1/teams/webhook", Function.CHATOPS),
)


#: EventBridge rules (name -> event pattern) whose events go to the EVENTBRIDGE_INTAKE queue.
EVENT_RULES: dict[str, dict[str, Any]] = {
    "cloudwatch-alarms": {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
    },
    "aws-health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
}

#: The event source mapping of the INCIDENT_STREAM function on the table's stream (NEW_IMAGE)
#: lets through only this (Lambda event filtering): the insert of an incident's record,
#: `INC#<id>` / `META`. Every other write (dedup counters, timelines, ...) never invokes it.
#: The stack and local mode both use it.
NEW_INCIDENT_FILTER: dict[str, Any] = {
    "eventName": ["INSERT"],
    "dynamodb": {
        "Keys": {
            "pk": {"S": [{"prefix": "INC#"}]},
            "sk": {"S": ["META"]},
        }
    },
}
