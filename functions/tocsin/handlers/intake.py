"""POST /v1/alerts/{source}: webhook intake for every monitoring system."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.typing import LambdaContext

from tocsin.handlers.container import container
from tocsin.handlers.http import new_resolver, raw_body, require_token

logger = Logger(service="tocsin")
metrics = Metrics(namespace="Tocsin", service="intake")
router = APIGatewayHttpRouter()


@router.post(
    "/v1/alerts/<source>", summary="Receive alerts from a monitoring system", tags=["alerts"]
)
def receive_alerts(source: str) -> Response[dict[str, Any]]:
    """Accepts the source's native webhook payload. 202 with the incidents the alerts
    created or joined; 400/422 (quarantined, with its id) for a payload we cannot read."""
    require_token(router, source)
    outcome = container().intake.ingest(
        source, raw_body(router), dict(router.current_event.headers)
    )
    if not is_metrics_disabled():  # disabled metrics are still buffered and flushed at 100 values
        metrics.add_metric(name="AlertsReceived", unit=MetricUnit.Count, value=outcome.alerts)
        metrics.add_metric(name="DuplicateAlerts", unit=MetricUnit.Count, value=outcome.duplicates)
        metrics.add_metric(
            name="IncidentsCreated", unit=MetricUnit.Count, value=len(outcome.created)
        )
    logger.info("alerts received", extra={"source": source, "outcome": outcome.as_dict()})
    return Response(
        status_code=202, content_type=content_types.APPLICATION_JSON, body=outcome.as_dict()
    )


app = new_resolver(validation=False)
app.include_router(router)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
