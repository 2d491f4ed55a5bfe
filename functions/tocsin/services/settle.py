"""The intake slow path: a new alert or a changed state becomes part of exactly one incident.

Loaded only when a delivery is not a pure re-delivery (see services/intake.py)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tocsin.dal.alerts import (
    AlertKnown,
    AlertRepository,
    Contention,
    DedupChanged,
    GroupTaken,
    IncidentClosed,
)
from tocsin.dal.dedup import Dedup, DedupStore
from tocsin.dal.maintenance import MaintenanceRepository
from tocsin.dal.raw import RawPayload
from tocsin.domain.alerts import Alert, AlertStatus
from tocsin.domain.clock import parse_iso
from tocsin.domain.config import TocsinConfig
from tocsin.domain.incidents import Incident, IncidentStatus
from tocsin.domain.routing import grouping_for, maintenance_for, service_for, severity_for
from tocsin.domain.timeline import Actor, TimelineEvent, TimelineKind
from tocsin.services.incidents import IncidentChange, IncidentService
from tocsin.services.outcome import IntakeOutcome

GROUP_ATTEMPTS = 8
SETTLE_ATTEMPTS = 8


def _settled(alert: Alert, record: Dedup | None) -> bool:
    """Whether the alert's record already says what this delivery says (as the fast path)."""
    if record is None or record.status is not alert.status:
        return False
    return record.incident_id is not None or alert.status is AlertStatus.RESOLVED


class AlertSettler:
    def __init__(
        self,
        alerts: AlertRepository,
        dedup: DedupStore,
        incidents: IncidentService,
        maintenance: MaintenanceRepository,
        config: TocsinConfig,
        clock: Callable[[], datetime],
    ) -> None:
        self.alerts = alerts
        self.dedup = dedup
        self.incidents = incidents
        self.maintenance = maintenance
        self.config = config
        self.clock = clock

    def settle(
        self,
        alert: Alert,
        previous: Dedup | None,
        raw: RawPayload | None,
        now: datetime,
        outcome: IntakeOutcome,
    ) -> None:
        """Settle one alert. A concurrent delivery of the same alert (DedupChanged) or a
        conflicting transaction (Contention) restarts it from the alert's current record."""
        #: incidents this delivery tried to open. A transaction whose answer was lost (a
        #: client timeout, then botocore's retry fails on the condition it had satisfied)
        #: looks like someone else's work; finding one of these ids means it was ours.
        opened: dict[str, Incident] = {}
        for attempt in range(SETTLE_ATTEMPTS):
            extra = raw.transaction_items() if raw else []
            try:
                if alert.status is AlertStatus.FIRING:
                    stored = self._firing(alert, previous, extra, now, outcome, opened)
                else:
                    stored = self._resolved(alert, previous, extra, now, outcome)
            except (DedupChanged, Contention):
                time.sleep(random.uniform(0, min(0.02 * 2**attempt, 0.5)))
                previous = self.dedup.get(alert)
                if _settled(alert, previous):
                    assert previous is not None
                    if previous.incident_id in opened:
                        self._opened(opened[previous.incident_id], outcome)
                        return
                    outcome.duplicates += 1  # the concurrent delivery did it
                    if previous.incident_id:
                        outcome.joined.append(previous.incident_id)
                    return
                continue
            if raw and stored and extra:
                raw.stored = True
            return
        raise RuntimeError(f"alert {alert.fingerprint} kept changing; the sender should retry")

    # --- firing -----------------------------------------------------------------------------
    def _firing(
        self,
        alert: Alert,
        previous: Dedup | None,
        extra: list[dict[str, Any]],
        now: datetime,
        outcome: IntakeOutcome,
        opened: dict[str, Incident],
    ) -> bool:
        service = service_for(alert, self.config)
        windows = [*self.config.maintenance_windows, *self.maintenance.list(cached=True)]
        window = maintenance_for(alert, service, windows, now)
        if window:
            self.dedup.record_unlinked(
                alert, now, suppressed_by=window.id, suppressed_until=window.ends_at
            )
            outcome.suppressed.append(
                {"fingerprint": alert.fingerprint, "maintenance_window": window.id}
            )
            return False
        severity = severity_for(alert, self.config)
        grouping = grouping_for(alert, service, self.config.grouping)
        actor = Actor.integration(alert.source)
        # a never-seen alert most often starts a new group: try to open first, read on conflict
        group = None
        try_open = previous is None
        for _ in range(GROUP_ATTEMPTS):
            if not try_open:
                group = self.alerts.get_group(grouping.key)
            if group and group.incident_id in opened:  # our own transaction had gone through
                self._opened(opened[group.incident_id], outcome)
                return True
            if group and (group.window_ends_at is None or now < parse_iso(group.window_ends_at)):
                current = self.dedup.get(alert)
                if (
                    current
                    and current.incident_id == group.incident_id
                    and current.status is AlertStatus.FIRING
                ):
                    outcome.duplicates += 1  # a concurrent delivery of the same alert won
                    outcome.joined.append(group.incident_id)
                    return False
                # new to the incident unless it already has the alert (checked in the transaction)
                new_to_incident = not (current and current.incident_id == group.incident_id)
                try:
                    try:
                        self._join(group.incident_id, alert, now, new_to_incident, actor, extra)
                    except AlertKnown:
                        self._join(group.incident_id, alert, now, False, actor, extra)
                except IncidentClosed:
                    self.alerts.release_group(grouping.key, group.incident_id)
                    try_open = False
                    continue
                self._after_join(group.incident_id, severity, actor)
                outcome.joined.append(group.incident_id)
                return True
            incident = self._new_incident(alert, severity, service, grouping.key, now)
            # one event tells both: the incident opened, with this alert
            events = [
                TimelineEvent(
                    incident_id=incident.id,
                    at=now,
                    kind=TimelineKind.INCIDENT_CREATED,
                    actor=actor,
                    data={
                        "title": incident.title,
                        "severity": severity,
                        "service": service,
                        "group": grouping.rule,
                        "alert": alert_data(alert),
                    },
                ),
            ]
            window_ends = now + grouping.window if grouping.window else None
            opened[incident.id] = incident
            try:
                self.alerts.open_incident(
                    incident,
                    alert,
                    grouping.key,
                    window_ends,
                    group.incident_id if group else None,
                    events,
                    extra,
                    previous=previous,
                )
            except GroupTaken:
                try_open = False
                continue
            self._opened(incident, outcome)
            return True
        raise RuntimeError(f"group {grouping.key} kept changing; the sender should retry")

    def _opened(self, incident: Incident, outcome: IntakeOutcome) -> None:
        # the response workflow starts from the table's stream (handlers/incident_stream.py):
        # the committed incident record is its outbox; numbering is the workflow's first step
        outcome.created.append(incident.id)

    def _join(
        self,
        incident_id: str,
        alert: Alert,
        now: datetime,
        new: bool,
        actor: Actor,
        extra: list[dict[str, Any]],
    ) -> None:
        kind = TimelineKind.ALERT_ADDED if new else TimelineKind.ALERT_REFIRED
        event = TimelineEvent(
            incident_id=incident_id, at=now, kind=kind, actor=actor, data=alert_data(alert)
        )
        self.alerts.join_incident(incident_id, alert, now, new, [event], extra)

    def _new_incident(
        self, alert: Alert, severity: str, service: str | None, group_key: str, now: datetime
    ) -> Incident:
        return self.incidents.new_incident(
            title=alert.title,
            severity=severity,
            service=service,
            source=alert.source,
            labels=alert.labels,
            description=alert.description,
            group_key=group_key,
            firing=1,
            now=now,
        )

    def _after_join(self, incident_id: str, severity: str, actor: Actor) -> None:
        config = self.config

        def decide(incident: Incident) -> IncidentChange | None:
            upgrade = config.severity_rank(severity) < config.severity_rank(incident.severity)
            regress = incident.status is IncidentStatus.MITIGATED and incident.firing_count > 0
            if not upgrade and not regress:
                return None
            status = None
            if regress:
                acknowledged = IncidentStatus.ACKNOWLEDGED in incident.status_times
                status = IncidentStatus.ACKNOWLEDGED if acknowledged else IncidentStatus.TRIGGERED
            return IncidentChange(
                severity=severity if upgrade else None,
                status=status,
                reason="a more severe alert joined" if upgrade else "an alert fired again",
            )

        self.incidents.change_with_retry(incident_id, decide, actor)

    # --- resolved ---------------------------------------------------------------------------
    def _resolved(
        self,
        alert: Alert,
        previous: Dedup | None,
        extra: list[dict[str, Any]],
        now: datetime,
        outcome: IntakeOutcome,
    ) -> bool:
        if previous is None or previous.incident_id is None:
            if not self.dedup.record_unlinked(alert, now):
                raise DedupChanged()  # a concurrent firing just linked it to an incident
            outcome.unmatched_resolves += 1
            return False
        incident_id = previous.incident_id
        actor = Actor.integration(alert.source)
        event = TimelineEvent(
            incident_id=incident_id,
            at=now,
            kind=TimelineKind.ALERT_RESOLVED,
            actor=actor,
            data=alert_data(alert),
        )
        self.alerts.resolve_alert(incident_id, alert, now, [event], extra)
        outcome.joined.append(incident_id)

        def decide(incident: Incident) -> IncidentChange | None:
            if incident.firing_count > 0 or incident.status not in (
                IncidentStatus.TRIGGERED,
                IncidentStatus.ACKNOWLEDGED,
            ):
                return None
            return IncidentChange(status=IncidentStatus.MITIGATED, reason="all alerts resolved")

        self.incidents.change_with_retry(incident_id, decide, actor)
        return True


def alert_data(alert: Alert) -> dict[str, Any]:
    return {
        "source": alert.source,
        "fingerprint": alert.fingerprint,
        "title": alert.title,
        "status": alert.status.value,
        "labels": alert.labels,
        **({"raw_ref": alert.raw_ref} if alert.raw_ref else {}),
        **(
            {"links": alert.links.model_dump(exclude_none=True, exclude_defaults=True)}
            if alert.links
            else {}
        ),
    }
