"""Every minute: auto-resolve quiet incidents, finish stalled ones, enforce SLAs (see
services/sweeper.py), keep the status pages current (services/statuspage.py), do the
action items' ticket work (services/action_items.py) and regenerate postmortems whose
record changed (services/postmortem.py). Every hour, from EventBridge Scheduler:
remind owners of overdue action items."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from tocsin.handlers.container import container
from tocsin.services.sweeper import sweep

logger = Logger(service="tocsin")


#: the input of the EventBridge Scheduler schedule (infra/events.py) and of local mode's
#: scheduler: remind owners of overdue action items
REMINDERS_TASK = "action-item-reminders"


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    c = container()
    if isinstance(event, dict) and event.get("task") == REMINDERS_TASK:
        reminded = asdict(c.action_items.remind_overdue())
        logger.info("action item reminders done", extra={"report": reminded})
        return {"reminders": reminded}
    report = sweep(c.incident_repo, c.incidents, c.config, c.sla)
    result = asdict(report)
    if c.config.status_pages.pages:
        # maintenances that start or end, the uptime bars' new day, a publisher that died
        try:
            result["status_pages"] = c.status_pages.refresh()
        except Exception as exc:  # the incidents' sweep above is done; retried next minute
            logger.exception("status page refresh failed")
            result["failed"]["status_pages"] = f"{type(exc).__name__}: {exc}"
    try:  # tickets of new action items, and of items done here
        result["action_item_tickets"] = asdict(c.action_items.sync_tickets())
    except Exception as exc:  # retried next minute, like everything the sweeper does
        logger.exception("action item ticket sync failed")
        result["failed"]["action_item_tickets"] = f"{type(exc).__name__}: {exc}"
    try:  # postmortems whose record changed since they were made
        result["postmortems_regenerated"] = c.postmortems.refresh_changed()
    except Exception as exc:
        logger.exception("postmortem refresh failed")
        result["failed"]["postmortems"] = f"{type(exc).__name__}: {exc}"
    logger.info("sweep done", extra={"report": result})
    return result
