"""Step Functions task handler: one small, idempotent action per invocation.

Errors: RetryableError (the state machine retries with backoff); anything else is caught by
the state machine's Catch and recorded, and the response goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from tocsin.domain.timeline import Actor, TimelineEvent, TimelineKind
from tocsin.handlers.container import container

logger = Logger(service="tocsin")
ACTOR = Actor.system("workflow")


class RetryableError(Exception):
    """Transient failure; the state machine's Retry covers it (error name matched by ASL)."""


def register_incident(event: dict[str, Any]) -> dict[str, Any]:
    """First step: number the incident, record the execution, note the start on the timeline.
    Idempotent: a retried step or a redriven execution changes nothing the second time."""
    incident_id = event["incident_id"]
    c = container()
    incident = c.incidents.register(incident_id, event["execution_id"])
    c.incident_repo.append_timeline(
        TimelineEvent(
            id=f"workflow-started-{incident_id}",  # deterministic: recorded once
            incident_id=incident_id,
            at=incident.created_at,
            kind=TimelineKind.WORKFLOW_STARTED,
            actor=ACTOR,
            data={"execution": event["execution_id"], "number": incident.number},
        )
    )
    return {"number": incident.number, "ref": incident.ref}


ACTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "register_incident": register_incident,
}


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action", "")
    try:
        run = ACTIONS[action]
    except KeyError:
        raise ValueError(f"unknown workflow action {action!r}") from None
    logger.append_keys(incident_id=event.get("incident_id"), action=action)
    return run(event)
