"""The incidents' outbox: each new incident starts its response workflow from here.

Opening an incident from an alert is one DynamoDB transaction; the table's stream (NEW_IMAGE)
hands the inserted incident record to this function (the event source mapping lets through
only `INC#<id>` / `META` inserts: tocsin.routes.NEW_INCIDENT_FILTER), which starts the
response workflow named after the incident. So the start can never be lost between the
commit and the call (the record stays in the stream until a start succeeds), a redelivery
starts nothing twice (the name is the incident id), and the alert's sender gets its answer
after two requests instead of three. Incidents whose start still did not happen (a record
that outlived its retries) are started by the sweeper after a grace period
(IncidentService.finalize_if_stalled).

Partial batch responses: the first record whose start fails is reported, and Lambda retries
the batch from it (the records before it are done).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from tocsin.adapters.workflow import StepFunctionsWorkflow
from tocsin.dal.dynamo import deser
from tocsin.dal.incidents import to_incident
from tocsin.settings import get_settings

logger = Logger(service="tocsin")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # clients are cached per process (tocsin.dal.aws), so this costs nothing after the first
    workflow = StepFunctionsWorkflow(get_settings().state_machine_arn)
    started: list[str] = []
    for record in event.get("Records") or []:
        change = record.get("dynamodb") or {}
        sequence = str(change.get("SequenceNumber", ""))
        try:
            incident = to_incident(deser(change["NewImage"]))
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            # retrying cannot make it readable: say so loudly, and go on with the others
            # (the sweeper finds an incident whose workflow never started)
            logger.error(
                "new incident record not readable; workflow not started",
                extra={"sequence": sequence, "keys": change.get("Keys"), "error": str(exc)},
            )
            continue
        try:
            workflow.start(incident)
        except Exception:  # throttled, Step Functions unavailable...: retried from here
            logger.exception(
                "starting the response workflow failed; retried",
                extra={"incident_id": incident.id, "sequence": sequence},
            )
            return {"batchItemFailures": [{"itemIdentifier": sequence}]}
        started.append(incident.id)
    if started:
        logger.info("response workflows started", extra={"incidents": started})
    return {"batchItemFailures": []}
