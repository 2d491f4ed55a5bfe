"""Every minute: auto-resolve quiet incidents, finish stalled ones, enforce SLAs (see
services/sweeper.py), and keep the status pages current (services/statuspage.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from tocsin.handlers.container import container
from tocsin.services.sweeper import sweep

logger = Logger(service="tocsin")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    c = container()
    report = sweep(c.incident_repo, c.incidents, c.config, c.sla)
    result = asdict(report)
    if c.config.status_pages.pages:
        # maintenances that start or end, the uptime bars' new day, a publisher that died
        try:
            result["status_pages"] = c.status_pages.refresh()
        except Exception as exc:  # the incidents' sweep above is done; retried next minute
            logger.exception("status page refresh failed")
            result["failed"]["status_pages"] = f"{type(exc).__name__}: {exc}"
    logger.info("sweep done", extra={"report": result})
    return result
