"""POST /v1/alerts/{source}: webhook intake for every monitoring system.

This is the hottest and most latency-sensitive function, so it reads the API Gateway HTTP API
event (payload format 2.0) itself instead of loading Powertools' event handler (over 100 ms of
cold start for one route with one path parameter). Its OpenAPI description is in
tocsin/openapi.py; its errors have the same shape as the API's: {"error": ...}.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from tocsin.handlers.auth import bearer_token
from tocsin.handlers.container import container
from tocsin.services.intake import PayloadRejectedError
from tocsin.services.outcome import IntakeOutcome
from tocsin.sources import HTTP_SOURCES

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service="tocsin")
metrics = Metrics(namespace="Tocsin", service="intake")


def response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def body_bytes(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


def receive_alerts(event: dict[str, Any]) -> dict[str, Any]:
    source = (event.get("pathParameters") or {}).get("source", "")
    if source not in HTTP_SOURCES:
        return response(
            404, {"error": f"unknown alert source {source!r} (known: {', '.join(HTTP_SOURCES)})"}
        )
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    c = container()
    if not c.tokens.verify(source, bearer_token(headers, event.get("queryStringParameters"))):
        return response(401, {"error": "missing or invalid bearer token"})
    try:
        outcome = c.intake.ingest(source, body_bytes(event), headers)
    except PayloadRejectedError as exc:
        logger.warning(
            "payload quarantined",
            extra={"quarantine_id": exc.quarantine_id, "status": exc.status_code},
        )
        return response(exc.status_code, {"error": exc.message, "quarantine_id": exc.quarantine_id})
    record(source, outcome)
    return response(202, outcome.as_dict())


def record(source: str, outcome: IntakeOutcome) -> None:
    logger.info("alerts received", extra={"source": source, "outcome": outcome.as_dict()})
    if not is_metrics_disabled():  # disabled metrics are still buffered and flushed at 100 values
        metrics.add_metric(name="AlertsReceived", unit=MetricUnit.Count, value=outcome.alerts)
        metrics.add_metric(name="DuplicateAlerts", unit=MetricUnit.Count, value=outcome.duplicates)
        metrics.add_metric(
            name="IncidentsCreated", unit=MetricUnit.Count, value=len(outcome.created)
        )


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return receive_alerts(event)
