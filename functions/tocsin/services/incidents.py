"""Incident use cases: declare, change (title, severity, status), finalize, release."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tocsin.adapters.workflow import WorkflowStarter
from tocsin.dal.alerts import AlertRepository
from tocsin.dal.incidents import IncidentRepository
from tocsin.domain.clock import iso, utcnow
from tocsin.domain.config import TocsinConfig
from tocsin.domain.errors import InvalidTransitionError, VersionConflictError
from tocsin.domain.ids import new_incident_id
from tocsin.domain.incidents import Incident, IncidentStatus
from tocsin.domain.timeline import Actor, TimelineEvent, TimelineKind

log = logging.getLogger(__name__)

#: an incident whose workflow has not started (from the table's stream, ADR 21) after this
#: long is numbered and started by the sweeper (its stream record outlived its retries, or
#: the stream's mapping was off)
FINALIZE_GRACE_SECONDS = 30


@dataclass(frozen=True)
class IncidentChange:
    title: str | None = None
    severity: str | None = None
    status: IncidentStatus | None = None
    reason: str | None = None


class IncidentService:
    def __init__(
        self,
        incidents: IncidentRepository,
        alerts: AlertRepository,
        workflow: WorkflowStarter,
        config: TocsinConfig,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.incidents = incidents
        self.alerts = alerts
        self.workflow = workflow
        self.config = config
        self.clock = clock
        #: called once an incident resolves (ends its paging); part of the release, so the
        #: sweeper repeats it from the pending-release marker if it failed
        self.on_resolved: list[Callable[[Incident], None]] = []
        #: called once someone moves an incident to acknowledged (ends its paging); a failure
        #: is logged, the change stands (each level checks the escalation before it pages)
        self.on_acknowledged: list[Callable[[Incident, Actor], None]] = []

    # --- creation ---------------------------------------------------------------------------
    def new_incident(
        self,
        title: str,
        severity: str,
        service: str | None,
        source: str,
        labels: dict[str, str] | None = None,
        description: str = "",
        group_key: str | None = None,
        firing: int = 0,
        now: datetime | None = None,
    ) -> Incident:
        self.check_severity(severity)
        now = now or self.clock()
        return Incident(
            id=new_incident_id(),
            title=title,
            severity=severity,
            service=service,
            source=source,
            labels=labels or {},
            description=description,
            group_key=group_key,
            created_at=now,
            updated_at=now,
            status_times={IncidentStatus.TRIGGERED: now},
            alert_count=firing,
            firing_count=firing,
        )

    def declare(
        self,
        title: str,
        severity: str,
        actor: Actor,
        service: str | None = None,
        description: str = "",
        labels: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Incident, bool]:
        """Open an incident by hand. Returns (incident, created); the same idempotency key
        returns the incident the first request created.

        The incident is numbered in the transaction that creates it (a person declaring it
        wants the number back, and the workflow then finds it numbered); its response
        workflow starts from the table's stream, like every new incident's (ADR 21)."""
        if idempotency_key:
            existing = self.incidents.created_with(idempotency_key)
            if existing:
                return self.incidents.get(existing), False
        incident = self.new_incident(title, severity, service, "manual", labels, description)
        # a retry racing this one with the same key leaves this number unused: a gap, never
        # a second incident
        incident = incident.model_copy(update={"number": self.incidents.allocate_number()})
        event = TimelineEvent(
            incident_id=incident.id,
            at=incident.created_at,
            kind=TimelineKind.INCIDENT_CREATED,
            actor=actor,
            data={"title": title, "severity": severity, "service": service, "declared": True},
        )
        existing = self.incidents.create(incident, [event], idempotency_key)
        if existing:
            return self.incidents.get(existing), False
        return incident, True

    def finalize(self, incident: Incident) -> Incident:
        """Number the incident and start its response workflow, for an incident whose start
        from the table's stream never happened (the sweeper's repair). Both steps are
        idempotent."""
        incident = self._numbered(incident)
        if not incident.execution_arn:
            incident = self._set_once(incident, "execution_arn", self.workflow.start(incident))
        return incident

    def register(self, incident_id: str, execution_arn: str | None) -> Incident:
        """The workflow's first step: number the incident (once) and record its execution
        (None: a later run, which is not the incident's own)."""
        incident = self._numbered(self.incidents.get(incident_id))
        if execution_arn and not incident.execution_arn:
            incident = self._set_once(incident, "execution_arn", execution_arn)
        return incident

    def _numbered(self, incident: Incident) -> Incident:
        if incident.number is not None:
            return incident
        number = self.incidents.allocate_number()
        if self.incidents.set_number(incident.id, number):
            return incident.model_copy(update={"number": number})
        return self.incidents.get(incident.id)

    def _set_once(self, incident: Incident, attribute: str, value: object) -> Incident:
        """Write a set-once attribute; if another writer set it first, theirs is the one."""
        if self.incidents.set_once(incident.id, attribute, value):
            return incident.model_copy(update={attribute: value})
        return self.incidents.get(incident.id)

    def finalize_if_stalled(self, incident: Incident) -> Incident:
        if incident.number is not None and incident.execution_arn:
            return incident
        age = (self.clock() - incident.created_at).total_seconds()
        return self.finalize(incident) if age >= FINALIZE_GRACE_SECONDS else incident

    # --- changes ----------------------------------------------------------------------------
    def check_severity(self, severity: str) -> None:
        if severity not in self.config.severity_names:
            raise InvalidTransitionError(
                f"unknown severity {severity!r} (configured: {', '.join(self.config.severity_names)})"
            )

    def change(
        self,
        incident: Incident,
        change: IncidentChange,
        actor: Actor,
        expected_version: int | None = None,
    ) -> Incident:
        """Apply a change with optimistic locking. `expected_version` (from a client) that is
        not the stored version raises VersionConflictError."""
        if expected_version is not None and expected_version != incident.version:
            raise VersionConflictError(
                f"incident {incident.id} is at version {incident.version}, not {expected_version}"
            )
        now = self.clock()
        after = incident
        events: list[TimelineEvent] = []

        def event(kind: TimelineKind, **data: object) -> None:
            if change.reason:
                data["reason"] = change.reason
            events.append(
                TimelineEvent(incident_id=incident.id, at=now, kind=kind, actor=actor, data=data)
            )

        if change.title is not None and change.title != incident.title:
            after = after.model_copy(update={"title": change.title, "updated_at": now})
            event(TimelineKind.TITLE_CHANGED, old=incident.title, new=change.title)
        if change.severity is not None and change.severity != incident.severity:
            self.check_severity(change.severity)
            after = after.model_copy(
                update={"severity": change.severity, "updated_at": now, "severity_since": now}
            )
            event(TimelineKind.SEVERITY_CHANGED, old=incident.severity, new=change.severity)
        if change.status is not None and change.status != incident.status:
            after = after.transitioned(change.status, now)
            event(TimelineKind.STATUS_CHANGED, old=incident.status.value, new=change.status.value)
        if not events:
            if (
                incident.status is IncidentStatus.RESOLVED
                and change.status is IncidentStatus.RESOLVED
            ):
                self.release(incident)  # resolving again repeats a release that may have failed
            return incident
        resolving = (
            after.status is IncidentStatus.RESOLVED
            and incident.status is not IncidentStatus.RESOLVED
        )
        # the marker is the promise to release the group and alerts; the sweeper keeps it
        extra = [self.incidents.pending_release_put(incident.id)] if resolving else []
        # likewise the promise to run the workflows this change triggers (e.g. SEV3 -> SEV1)
        triggers = self._triggered(incident, after, now)
        execution = f"{incident.id}-v{incident.version + 1}"
        if triggers:
            extra.append(self.incidents.pending_trigger_put(incident.id, execution, triggers))
        saved = self.incidents.save(incident, after, events, extra)
        if resolving:
            self.release(saved)
        if (
            saved.status is IncidentStatus.ACKNOWLEDGED
            and incident.status is not IncidentStatus.ACKNOWLEDGED
        ):
            for hook in self.on_acknowledged:
                try:
                    hook(saved, actor)
                except Exception:
                    log.warning("could not end paging of %s", incident.id, exc_info=True)
        if triggers:
            try:
                self.run_trigger(incident.id, execution, triggers, iso(now))
            except Exception:  # the change stands; the sweeper starts the run from the marker
                log.warning("could not start %s now; the sweeper will", execution, exc_info=True)
        return saved

    def _triggered(self, before: Incident, after: Incident, now: datetime) -> list[str]:
        """The triggers of this change, if any configured workflow answers them."""
        from tocsin.services.response import TriggerContext, matching_workflows, triggers_for

        found = triggers_for(before, after)
        if found and matching_workflows(self.config, after, TriggerContext(tuple(found), now)):
            return [t.value for t in found]
        return []

    def run_trigger(
        self, incident_id: str, execution: str, triggers: list[str], at: str | None = None
    ) -> None:
        """Start the response workflow for a change; deterministic name, so a repeat (the
        sweeper retrying a start that failed) is a no-op. Clears the pending marker."""
        self.workflow.trigger(incident_id, execution, triggers, at)
        self.incidents.trigger_done(incident_id, execution)

    def change_with_retry(
        self,
        incident_id: str,
        decide: Callable[[Incident], IncidentChange | None],
        actor: Actor,
        attempts: int = 5,
    ) -> Incident | None:
        """For system actors: re-read and re-decide on a version conflict."""
        for _ in range(attempts):
            incident = self.incidents.get(incident_id)
            change = decide(incident)
            if change is None:
                return incident
            try:
                return self.change(incident, change, actor)
            except VersionConflictError:
                continue
        raise VersionConflictError(
            f"incident {incident_id} kept changing; gave up after {attempts} attempts"
        )

    def release(self, incident: Incident) -> None:
        """A resolved incident stops owning its group and its alerts: new firings open a new one.
        Idempotent; the pending-release marker is removed once it is done."""
        if incident.group_key:
            self.alerts.release_group(incident.group_key, incident.id)
        self.alerts.unlink_alerts(incident.id)
        for hook in self.on_resolved:
            hook(incident)
        self.incidents.release_done(incident.id)
