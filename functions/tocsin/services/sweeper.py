"""Scheduled housekeeping (every minute): auto-resolve quiet mitigated incidents, and finish
incidents whose creator stopped before numbering them or starting their workflow."""

from __future__ import annotations

from dataclasses import dataclass, field

from tocsin.dal.incidents import IncidentRepository
from tocsin.domain.config import TocsinConfig
from tocsin.domain.incidents import Incident, IncidentStatus
from tocsin.domain.timeline import Actor
from tocsin.services.incidents import IncidentChange, IncidentService

ACTOR = Actor.system("sweeper")


@dataclass
class SweepReport:
    resolved: list[str] = field(default_factory=list)
    finalized: list[str] = field(default_factory=list)


def _all(repo: IncidentRepository, status: IncidentStatus) -> list[Incident]:
    found: list[Incident] = []
    cursor = None
    while True:
        page, cursor = repo.search([status], limit=100, cursor=cursor)
        found += page
        if not cursor:
            return found


def sweep(repo: IncidentRepository, service: IncidentService, config: TocsinConfig) -> SweepReport:
    report = SweepReport()
    now = service.clock()
    for incident in _all(repo, IncidentStatus.MITIGATED):
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

        def decide(current: Incident, quiet_for: object = quiet) -> IncidentChange | None:
            if current.status is not IncidentStatus.MITIGATED or current.firing_count > 0:
                return None
            return IncidentChange(
                status=IncidentStatus.RESOLVED, reason=f"no alert fired for {quiet_for}"
            )

        result = service.change_with_retry(incident.id, decide, ACTOR)
        if result and result.status is IncidentStatus.RESOLVED:
            report.resolved.append(incident.id)
    for status in (IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED):
        for incident in _all(repo, status):
            if incident.number is None or not incident.execution_arn:
                finished = service.finalize_if_stalled(incident)
                if finished.execution_arn and finished.number is not None:
                    report.finalized.append(incident.id)
    return report
