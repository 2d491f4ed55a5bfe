"""Severity SLAs, enforced: the sweeper calls `check` for every open incident each minute.

- acknowledge: a triggered incident not acknowledged (or mitigated) within the severity's
  `acknowledge_within` is flagged on the timeline and counted, once;
- first_update: no stakeholder update within `first_update_within` of opening: flagged and
  counted, once;
- update cadence: `update_every` after the last stakeholder update (or the opening) the
  Communications Lead is reminded in the incident channel, once per due time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tocsin.dal.incidents import IncidentRepository
from tocsin.domain.clock import iso
from tocsin.domain.config import TocsinConfig
from tocsin.domain.incidents import Incident, IncidentStatus
from tocsin.domain.timeline import Actor, TimelineEvent, TimelineKind
from tocsin.integrations.ports import PermanentIntegrationError
from tocsin.services.response import ResponseSteps, format_duration

ACTOR = Actor.system("sla")
log = logging.getLogger(__name__)

ACKNOWLEDGED_OR_LATER = (
    IncidentStatus.ACKNOWLEDGED,
    IncidentStatus.MITIGATED,
    IncidentStatus.RESOLVED,
)


@dataclass
class SlaReport:
    missed: list[tuple[str, str]] = field(default_factory=list)  # (incident id, target)
    reminded: list[str] = field(default_factory=list)


def _answered_at(incident: Incident) -> datetime | None:
    times = [incident.status_times[s] for s in ACKNOWLEDGED_OR_LATER if s in incident.status_times]
    return min(times) if times else None


def deadlines(incident: Incident, config: TocsinConfig) -> dict[str, datetime]:
    """When each response target is (or was) due; for the API and the sweeper."""
    if incident.severity not in config.severity_names:
        return {}
    sla = config.level(incident.severity).sla
    # a severity's targets count from when the incident took it (a SEV3 raised to SEV1 after
    # an hour has SEV1's five minutes from the upgrade, not a miss at once)
    start = incident.severity_since or incident.created_at
    due: dict[str, datetime] = {}
    if sla.acknowledge_within:
        due["acknowledge"] = start + sla.acknowledge_within
    if sla.first_update_within:
        due["first_update"] = start + sla.first_update_within
    if sla.update_every:
        last = max(incident.last_update_at or start, start)
        due["next_update"] = last + sla.update_every
    return due


class SlaEnforcer:
    def __init__(
        self, config: TocsinConfig, incidents: IncidentRepository, response: ResponseSteps
    ) -> None:
        self.config = config
        self.incidents = incidents
        self.response = response

    def check(self, incident: Incident, now: datetime, report: SlaReport) -> None:
        if not incident.status.is_open:
            return
        due = deadlines(incident, self.config)
        ack_due = due.get("acknowledge")
        answered = _answered_at(incident)
        if ack_due and now >= ack_due and (answered is None or answered > ack_due):
            self._missed(incident, "acknowledge", ack_due, report)
        first_due = due.get("first_update")
        if (
            first_due
            and now >= first_due
            and (incident.last_update_at is None or incident.last_update_at > first_due)
        ):
            self._missed(incident, "first_update", first_due, report)
        next_due = due.get("next_update")
        if next_due and now >= next_due and incident.status is not IncidentStatus.MITIGATED:
            self._remind(incident, next_due, now, report)

    def _missed(self, incident: Incident, target: str, due: datetime, report: SlaReport) -> None:
        if target in incident.sla_missed:
            return
        sla = self.config.level(incident.severity).sla
        within = sla.acknowledge_within if target == "acknowledge" else sla.first_update_within
        self.incidents.append_timeline(
            TimelineEvent(
                id=f"sla-{target}",  # with `at` = the deadline: written once
                incident_id=incident.id,
                at=due,
                kind=TimelineKind.SLA_MISSED,
                actor=ACTOR,
                data={
                    "target": target,
                    "severity": incident.severity,
                    "within": format_duration(within.total_seconds()) if within else None,
                    "due_at": iso(due),
                },
            )
        )
        if self.incidents.mark_sla_missed(incident.id, target):
            report.missed.append((incident.id, target))
            log.warning("SLA missed", extra={"incident": incident.id, "target": target})

    def _remind(self, incident: Incident, due: datetime, now: datetime, report: SlaReport) -> None:
        """Once per due time: the step record keyed by it makes repeats no-ops."""
        key = f"sla-reminder:{iso(due)}"
        found = self.response.steps.get(incident.id, key)
        if found and found.get("state") != "running":  # sent, skipped or failed for good
            return
        cadence = self.config.level(incident.severity).sla.update_every or timedelta()
        last = incident.last_update_at
        since = (
            f"the last update was {format_duration((now - last).total_seconds())} ago"
            if last
            else "no update has been posted yet"
        )
        text = (
            f"Communications Lead: a stakeholder update for {incident.ref} is due "
            f"({incident.severity} cadence: every {format_duration(cadence.total_seconds())}; "
            f'{since}). Post it with `tocsin incidents update {incident.id} "..."` or '
            f"POST /v1/incidents/{incident.id}/updates."
        )
        step = {"type": "post_message", "key": key, "params": {"text": text}}
        try:
            outcome = self.response.run(incident.id, step, owner="sla")
        except PermanentIntegrationError as exc:  # e.g. not_in_channel: recorded, not retried
            outcome = self.response.record_failure(incident.id, step, type(exc).__name__, str(exc))
        self.incidents.append_timeline(
            TimelineEvent(
                id="sla-reminder",
                incident_id=incident.id,
                at=due,
                kind=TimelineKind.SLA_REMINDER,
                actor=ACTOR,
                data={"due_at": iso(due), "outcome": outcome.get("outcome")},
            )
        )
        report.reminded.append(incident.id)
