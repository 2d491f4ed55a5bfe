"""Scheduled housekeeping (every minute). Each pass repairs what a crashed or failed follow-up
step left behind, so no state depends on a request that may have died half-way:

- resolved incidents whose release (group, alert links) has not completed are released;
- open incidents whose alerts have all resolved, but which were not moved to mitigated
  (the follow-up after the resolve failed), are mitigated;
- mitigated incidents quiet for their severity's `auto_resolve_after` are resolved;
- incidents whose workflow never started from the table's stream get it started (and numbered);
- workflow runs that a change (severity, status) triggered but could not start are started;
- severity SLAs are enforced (services/sla.py): missed targets flagged, update reminders sent.

One incident failing never stops the sweep: it is reported and retried next minute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from tocsin.dal.incidents import IncidentRepository
from tocsin.domain.config import TocsinConfig
from tocsin.domain.errors import IncidentNotFoundError
from tocsin.domain.incidents import OPEN_STATUSES, Incident, IncidentStatus
from tocsin.domain.timeline import Actor
from tocsin.services.incidents import IncidentChange, IncidentService
from tocsin.services.sla import SlaEnforcer, SlaReport

ACTOR = Actor.system("sweeper")
log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    released: list[str] = field(default_factory=list)
    mitigated: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    finalized: list[str] = field(default_factory=list)
    triggered: list[str] = field(default_factory=list)
    sla: SlaReport = field(default_factory=SlaReport)
    failed: dict[str, str] = field(default_factory=dict)


#: a change's workflow run not started after this long is started by the sweeper
TRIGGER_GRACE_SECONDS = 30


def _all(repo: IncidentRepository, status: IncidentStatus) -> list[Incident]:
    found: list[Incident] = []
    cursor = None
    while True:
        page, cursor = repo.search([status], limit=100, cursor=cursor)
        found += page
        if not cursor:
            return found


def sweep(
    repo: IncidentRepository,
    service: IncidentService,
    config: TocsinConfig,
    sla: SlaEnforcer | None = None,
) -> SweepReport:
    report = SweepReport()

    def guarded(incident_id: str, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as exc:  # reported and retried next sweep; the others go on
            log.exception("sweep step failed for %s", incident_id)
            report.failed[incident_id] = f"{type(exc).__name__}: {exc}"

    for incident_id in repo.pending_releases():
        guarded(incident_id, partial(_release, repo, service, incident_id, report))
    for pending in repo.pending_triggers():
        created = datetime.fromisoformat(pending["created_at"])
        if (service.clock() - created).total_seconds() >= TRIGGER_GRACE_SECONDS:
            guarded(pending["incident_id"], partial(_trigger, service, pending, report))
    open_incidents = {status: _all(repo, status) for status in OPEN_STATUSES}
    for status in (IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED):
        for incident in open_incidents[status]:
            if incident.alert_count > 0 and incident.firing_count <= 0:
                guarded(incident.id, partial(_mitigate, service, incident, report))
    now = service.clock()
    for incident in open_incidents[IncidentStatus.MITIGATED]:
        quiet = (
            config.level(incident.severity).auto_resolve_after
            if incident.severity in config.severity_names
            else None
        )
        mitigated_at = incident.status_times.get(IncidentStatus.MITIGATED)
        if not quiet or not mitigated_at or incident.alert_count == 0:
            continue  # declared by hand, or no quiet period configured: people resolve it
        if incident.firing_count > 0 or now < mitigated_at + quiet:
            continue
        guarded(incident.id, partial(_auto_resolve, service, incident, str(quiet), report))
    for incidents in open_incidents.values():
        for incident in incidents:
            if incident.number is None or not incident.execution_arn:
                guarded(incident.id, partial(_finalize, service, incident, report))
    if sla is not None:
        for incidents in open_incidents.values():
            for incident in incidents:
                guarded(incident.id, partial(sla.check, incident, now, report.sla))
    return report


def _trigger(service: IncidentService, pending: dict[str, object], report: SweepReport) -> None:
    execution = str(pending["sk"])
    triggers = [str(t) for t in pending["triggers"]]  # type: ignore[attr-defined]
    at = str(pending["created_at"])  # when the change happened (business hours are judged then)
    service.run_trigger(str(pending["incident_id"]), execution, triggers, at)
    report.triggered.append(execution)


def _release(
    repo: IncidentRepository, service: IncidentService, incident_id: str, report: SweepReport
) -> None:
    try:
        incident = repo.get(incident_id)
    except IncidentNotFoundError:
        repo.release_done(incident_id)
        return
    if incident.status is IncidentStatus.RESOLVED:
        service.release(incident)
        report.released.append(incident_id)
    else:
        repo.release_done(incident_id)  # reopened since: it keeps what it has


def _mitigate(service: IncidentService, incident: Incident, report: SweepReport) -> None:
    def decide(current: Incident) -> IncidentChange | None:
        if current.status not in (IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED):
            return None
        if current.alert_count == 0 or current.firing_count > 0:
            return None
        return IncidentChange(status=IncidentStatus.MITIGATED, reason="all alerts resolved")

    result = service.change_with_retry(incident.id, decide, ACTOR)
    if result and result.status is IncidentStatus.MITIGATED:
        report.mitigated.append(incident.id)


def _auto_resolve(
    service: IncidentService, incident: Incident, quiet: str, report: SweepReport
) -> None:
    def decide(current: Incident) -> IncidentChange | None:
        if current.status is not IncidentStatus.MITIGATED or current.firing_count > 0:
            return None
        return IncidentChange(status=IncidentStatus.RESOLVED, reason=f"no alert fired for {quiet}")

    result = service.change_with_retry(incident.id, decide, ACTOR)
    if result and result.status is IncidentStatus.RESOLVED:
        report.resolved.append(incident.id)


def _finalize(service: IncidentService, incident: Incident, report: SweepReport) -> None:
    finished = service.finalize_if_stalled(incident)
    if finished.execution_arn and finished.number is not None and finished is not incident:
        report.finalized.append(incident.id)
