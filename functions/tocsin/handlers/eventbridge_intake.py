"""EventBridge -> SQS -> here: CloudWatch alarm state changes and AWS Health events.

Partial batch responses: a record that fails is retried by SQS (and lands in the DLQ after
the configured receives); the others are not reprocessed. A record that is not a supported
event is quarantined and acknowledged (retrying it would not help).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tocsin.handlers.container import container
from tocsin.services.intake import PayloadRejectedError

logger = Logger(service="tocsin")
processor = BatchProcessor(event_type=EventType.SQS)
SOURCE = "eventbridge"


def record_handler(record: SQSRecord) -> dict[str, Any]:
    try:
        outcome = container().intake.ingest(SOURCE, record.body.encode("utf-8"), {})
    except PayloadRejectedError as exc:
        logger.warning(
            "event quarantined", extra={"quarantine_id": exc.quarantine_id, "error": exc.message}
        )
        return {"quarantined": exc.quarantine_id}
    logger.info("event processed", extra={"outcome": outcome.as_dict()})
    return outcome.as_dict()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
