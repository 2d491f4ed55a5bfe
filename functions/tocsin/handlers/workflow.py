"""Step Functions task handler: one small, idempotent action per invocation.

Errors: RetryableError (the state machine retries with backoff); anything else is caught by
the state machine's Catch and recorded, and the response goes on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from tocsin.dal.steps import StepBusy
from tocsin.domain.clock import parse_iso
from tocsin.domain.timeline import Actor, TimelineEvent, TimelineKind
from tocsin.handlers.container import container
from tocsin.integrations.ports import RetryableIntegrationError
from tocsin.services.response import short_cause

logger = Logger(service="tocsin")
ACTOR = Actor.system("workflow")


#: AWS errors a retry a moment later fixes (the ASL retries RetryableError with backoff)
RETRYABLE_AWS_ERRORS = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "TransactionCanceledException",
    "InternalServerError",
    "ServiceUnavailable",
}


class RetryableError(Exception):
    """Transient failure; the state machine's Retry covers it (error name matched by ASL)."""


def register_incident(event: dict[str, Any]) -> dict[str, Any]:
    """First step: number the incident, record the execution, note the start on the timeline.
    Idempotent: a retried step or a redriven execution changes nothing the second time."""
    incident_id = event["incident_id"]
    c = container()
    # only the incident's own execution (named after it) is recorded on it: a later run (a
    # change's) must not stand in for it, or the sweeper would never start the first one
    own = event.get("execution_name", incident_id) == incident_id
    incident = c.incidents.register(incident_id, event["execution_id"] if own else None)
    c.incident_repo.append_timeline(
        TimelineEvent(
            # deterministic: recorded once per execution
            id=f"workflow-started-{event.get('execution_name', incident_id)}",
            incident_id=incident_id,
            at=incident.created_at if own else incident.updated_at,
            kind=TimelineKind.WORKFLOW_STARTED,
            actor=ACTOR,
            data={"execution": event["execution_id"], "number": incident.number},
        )
    )
    return {"number": incident.number, "ref": incident.ref}


def record_step_failure(event: dict[str, Any]) -> dict[str, Any]:
    """A step that kept failing: say so on the timeline, once per step and execution."""
    incident_id = event["incident_id"]
    repo = container().incident_repo
    incident = repo.get(incident_id)
    repo.append_timeline(
        TimelineEvent(
            id=f"step-failed-{event['step']}-{event.get('execution', incident_id)}",
            incident_id=incident_id,
            at=incident.created_at,
            kind=TimelineKind.WORKFLOW_STEP,
            actor=ACTOR,
            data={
                "step": event["step"],
                "outcome": "failed",
                "error": event.get("error"),
                "cause": event.get("cause"),
            },
        )
    )
    return {"recorded": True}


def plan_response(event: dict[str, Any]) -> dict[str, Any]:
    """Which actions the matching workflows select, in stages (recorded on the timeline)."""
    run_input = event.get("input") or {}
    # when the trigger happened: the change's time if the input says it, else the start
    at = run_input.get("at") or event.get("started_at")
    plan = container().response.plan(
        event["incident_id"],
        run_input.get("triggers") or [],
        event["execution"],
        datetime.fromisoformat(at) if at else None,
        update=run_input.get("update"),
    )
    return plan.as_dict()


def run_action(event: dict[str, Any]) -> dict[str, Any]:
    return container().response.run(
        event["incident_id"], event["step"], owner=event.get("execution", "")
    )


def record_action_failure(event: dict[str, Any]) -> dict[str, Any]:
    return container().response.record_failure(
        event["incident_id"], event["step"], event.get("error") or "", event.get("cause") or ""
    )


# --- escalation (statemachines/escalation.asl.json) ------------------------------------------


def page_wave(event: dict[str, Any]) -> dict[str, Any]:
    return container().escalations.page_wave(event)


#: a level index past every policy (20 levels and the fallback)
MAX_LEVELS = 21


def page_failed(event: dict[str, Any]) -> dict[str, Any]:
    """Pages of a wave kept failing: say so once, then go on as if they were sent (the level
    still waits its timeout, and the next level pages)."""
    incident_id = event["incident_id"]
    cursor = event.get("cursor") or {}
    level = f"r{int(cursor.get('r', 0)) + 1}-l{int(cursor.get('l', 0)) + 1}-w{cursor.get('w', 0)}"
    key = f"esc:wave-failed:{event['escalation_id']}:{level}"
    # the first record's time keeps the timeline event unique when this task is retried
    first = container().steps.completed(incident_id, key, {"error": event.get("error")})
    container().incident_repo.append_timeline(
        TimelineEvent(
            id=f"page-wave-failed-{event['escalation_id']}-{level}",
            incident_id=incident_id,
            at=parse_iso(first["at"]),
            kind=TimelineKind.PAGE_FAILED,
            actor=Actor.system("escalation"),
            data={
                "escalation": event["escalation_id"],
                "level": level,
                "error": event.get("error"),
                "cause": short_cause(event.get("cause")),
            },
        )
    )
    try:
        return container().escalations.page_wave(event, send=False)
    except (BotoCoreError, ClientError):
        raise  # AWS unreachable: the state machine pauses and tries the level again
    except Exception:  # the level cannot even be planned: go on to the next one
        logger.exception("could not plan the level; moving on to the next")
        cursor = event.get("cursor") or {}
        if int(cursor.get("l", 0)) >= MAX_LEVELS:  # past any policy: give up, said so
            container().escalations.end(
                event["incident_id"], event["escalation_id"], "failed", Actor.system("escalation")
            )
            return {
                "stop": True,
                "skip": False,
                "wait_seconds": 1,
                "next": cursor,
                "outcome": "failed",
            }
        return {
            "stop": False,
            "skip": True,
            "wait_seconds": 1,
            "next": _after_level(event.get("policy"), cursor),
            "outcome": None,
        }


def _after_level(policy: Any, cursor: dict[str, Any]) -> dict[str, Any]:
    """The level after this one (the next round after the last level, then the fallback);
    without a readable policy, simply the next index."""
    from tocsin.domain.oncall import EscalationPolicy
    from tocsin.services.escalation import Cursor, next_level

    current = Cursor.from_dict(cursor)
    try:
        return next_level(EscalationPolicy.model_validate(policy), current).as_dict()
    except Exception:
        return {"r": current.round, "l": current.level + 1, "w": 0}


def await_ack(event: dict[str, Any]) -> dict[str, Any]:
    return container().escalations.await_ack(event)


def finish_escalation(event: dict[str, Any]) -> dict[str, Any]:
    return container().escalations.finish(event)


def record_escalation_failure(event: dict[str, Any]) -> dict[str, Any]:
    return record_step_failure({**event, "execution": f"esc-{event['escalation_id']}"})


ACTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "plan_response": plan_response,
    "record_action_failure": record_action_failure,
    "record_step_failure": record_step_failure,
    "register_incident": register_incident,
    "run_action": run_action,
    "page_wave": page_wave,
    "page_failed": page_failed,
    "await_ack": await_ack,
    "finish": finish_escalation,
    "record_escalation_failure": record_escalation_failure,
}


def max_retry_after() -> float:
    """The longest Retry-After a task honours by waiting before its retry (the state
    machine's backoff adds to it); longer hints are left to the backoff alone."""
    return float(os.environ.get("TOCSIN_MAX_RETRY_AFTER", "20"))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    action = event.get("action", "")
    try:
        run = ACTIONS[action]
    except KeyError:
        raise ValueError(f"unknown workflow action {action!r}") from None
    logger.append_keys(incident_id=event.get("incident_id"), action=action)
    try:
        return run(event)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in RETRYABLE_AWS_ERRORS:
            raise RetryableError(str(exc)) from exc
        raise
    except BotoCoreError as exc:  # timeouts, connection errors: a moment later it works
        raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
    except StepBusy as exc:  # another run of the incident is doing it; then it is done
        raise RetryableError(str(exc)) from exc
    except RetryableIntegrationError as exc:
        logger.warning("integration call will be retried", extra={"error": str(exc)})
        if exc.retry_after:
            time.sleep(min(exc.retry_after, max_retry_after()))
        raise RetryableError(str(exc)) from exc
