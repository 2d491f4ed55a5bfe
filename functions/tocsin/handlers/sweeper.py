"""Every minute: auto-resolve quiet incidents, finish stalled ones, enforce SLAs (see
services/sweeper.py)."""

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
    logger.info("sweep done", extra={"report": asdict(report)})
    return asdict(report)
