"""Alert intake: payload -> normalized alerts -> at most one incident per group.

The hot path (a re-delivered alert) costs one conditional DynamoDB update; everything else
(new alerts, state changes) takes the slow path below.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tocsin.dal.alerts import AlertRepository, GroupTaken, IncidentClosed
from tocsin.dal.artifacts import ArtifactStore
from tocsin.dal.maintenance import MaintenanceRepository
from tocsin.domain.alerts import Alert, AlertStatus
from tocsin.domain.clock import parse_iso, utcnow
from tocsin.domain.config import TocsinConfig
from tocsin.domain.errors import PayloadFormatError, TocsinError
from tocsin.domain.incidents import Incident, IncidentStatus
from tocsin.domain.routing import grouping_for, maintenance_for, service_for, severity_for
from tocsin.domain.timeline import Actor, TimelineEvent, TimelineKind
from tocsin.services.incidents import IncidentChange, IncidentService
from tocsin.sources import get_source

GROUP_ATTEMPTS = 8


class PayloadRejectedError(TocsinError):
    """A payload we could not accept; it is kept in quarantine under `quarantine_id`."""

    def __init__(self, status_code: int, message: str, quarantine_id: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.quarantine_id = quarantine_id


@dataclass
class IntakeOutcome:
    alerts: int = 0
    created: list[str] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)
    duplicates: int = 0
    suppressed: list[dict[str, str]] = field(default_factory=list)
    unmatched_resolves: int = 0
    ignored: str | None = None
    subscription_confirmed: bool = False

    @property
    def incident_ids(self) -> list[str]:
        return list(dict.fromkeys([*self.created, *self.joined]))

    def as_dict(self) -> dict[str, Any]:
        return {
            "incidents": self.incident_ids,
            "created": list(dict.fromkeys(self.created)),
            "alerts": self.alerts,
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "unmatched_resolves": self.unmatched_resolves,
            **({"ignored": self.ignored} if self.ignored else {}),
            **({"subscription_confirmed": True} if self.subscription_confirmed else {}),
        }


class IntakeService:
    def __init__(
        self,
        alerts: AlertRepository,
        incidents: IncidentService,
        artifacts: ArtifactStore,
        maintenance: MaintenanceRepository,
        config: TocsinConfig,
        confirm_subscription: Callable[[str], None],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.alerts = alerts
        self.incidents = incidents
        self.artifacts = artifacts
        self.maintenance = maintenance
        self.config = config
        self.confirm_subscription = confirm_subscription
        self.clock = clock

    # --- entry points -----------------------------------------------------------------------
    def ingest(
        self, source: str, body: bytes, headers: Mapping[str, str], replay_of: str | None = None
    ) -> IntakeOutcome:
        """Parse one webhook delivery. Raises PayloadRejectedError (quarantined) on bad input;
        a replay of a quarantined payload that fails again keeps its original quarantine id."""
        module = get_source(source)
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            message = f"{source}: body is not valid JSON ({exc})"
            raise self._reject(source, body, lowered, message, 400, replay_of) from None
        try:
            result = module.parse(payload, lowered)
        except PayloadFormatError as exc:
            raise self._reject(source, body, lowered, str(exc), 422, replay_of) from None
        if result.confirm_subscription_url:
            self.confirm_subscription(result.confirm_subscription_url)
            return IntakeOutcome(subscription_confirmed=True)
        if result.ignored_reason:
            return IntakeOutcome(ignored=result.ignored_reason)
        return self.ingest_alerts(source, result.alerts, body)

    def ingest_alerts(self, source: str, alerts: list[Alert], raw: bytes | None) -> IntakeOutcome:
        outcome = IntakeOutcome(alerts=len(alerts))
        now = self.clock()
        raw_ref: str | None = None
        for alert in alerts:
            hit = self.alerts.repeat(alert, now)
            if hit is not None:
                outcome.duplicates += 1
                if hit.incident_id:
                    outcome.joined.append(hit.incident_id)
                continue
            if raw_ref is None and raw is not None:
                raw_ref = self.artifacts.store_raw(source, raw, now)
            self._settle(alert.with_raw_ref(raw_ref) if raw_ref else alert, now, outcome)
        return outcome

    def _reject(
        self,
        source: str,
        body: bytes,
        headers: dict[str, str],
        message: str,
        status: int,
        replay_of: str | None,
    ) -> PayloadRejectedError:
        qid = replay_of or self.artifacts.quarantine(
            source, body, headers, message, status, self.clock()
        )
        return PayloadRejectedError(status, message, qid)

    # --- the slow path ----------------------------------------------------------------------
    def _settle(self, alert: Alert, now: datetime, outcome: IntakeOutcome) -> None:
        if alert.status is AlertStatus.FIRING:
            self._firing(alert, now, outcome)
        else:
            self._resolved(alert, now, outcome)

    def _firing(self, alert: Alert, now: datetime, outcome: IntakeOutcome) -> None:
        service = service_for(alert, self.config)
        windows = [*self.config.maintenance_windows, *self.maintenance.list(cached=True)]
        window = maintenance_for(alert, service, windows, now)
        if window:
            self.alerts.record_unlinked(
                alert, now, suppressed_by=window.id, suppressed_until=window.ends_at
            )
            outcome.suppressed.append(
                {"fingerprint": alert.fingerprint, "maintenance_window": window.id}
            )
            return
        severity = severity_for(alert, self.config)
        grouping = grouping_for(alert, service, self.config.grouping)
        actor = Actor.integration(alert.source)
        for _ in range(GROUP_ATTEMPTS):
            group = self.alerts.get_group(grouping.key)
            if group and (group.window_ends_at is None or now < parse_iso(group.window_ends_at)):
                dedup = self.alerts.get_dedup(alert)
                if (
                    dedup
                    and dedup.incident_id == group.incident_id
                    and dedup.status is AlertStatus.FIRING
                ):
                    outcome.duplicates += 1  # a concurrent delivery of the same alert won
                    outcome.joined.append(group.incident_id)
                    return
                new_to_incident = not (dedup and dedup.incident_id == group.incident_id)
                kind = TimelineKind.ALERT_ADDED if new_to_incident else TimelineKind.ALERT_REFIRED
                event = TimelineEvent(
                    incident_id=group.incident_id,
                    at=now,
                    kind=kind,
                    actor=actor,
                    data=_alert_data(alert),
                )
                try:
                    self.alerts.join_incident(
                        group.incident_id, alert, now, new_to_incident, [event]
                    )
                except IncidentClosed:
                    self.alerts.release_group(grouping.key, group.incident_id)
                    continue
                self._after_join(group.incident_id, severity, actor)
                outcome.joined.append(group.incident_id)
                return
            incident = self.incidents.new_incident(
                title=alert.title,
                severity=severity,
                service=service,
                source=alert.source,
                labels=alert.labels,
                description=alert.description,
                group_key=grouping.key,
                firing=1,
                now=now,
            )
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
                    },
                ),
                TimelineEvent(
                    incident_id=incident.id,
                    at=now,
                    kind=TimelineKind.ALERT_ADDED,
                    actor=actor,
                    data=_alert_data(alert),
                ),
            ]
            window_ends = now + grouping.window if grouping.window else None
            try:
                self.alerts.open_incident(
                    incident,
                    alert,
                    grouping.key,
                    window_ends,
                    group.incident_id if group else None,
                    events,
                )
            except GroupTaken:
                continue
            self.incidents.finalize(incident)
            outcome.created.append(incident.id)
            return
        raise RuntimeError(f"group {grouping.key} kept changing; the sender should retry")

    def _after_join(self, incident_id: str, severity: str, actor: Actor) -> None:
        config = self.config

        def decide(incident: Incident) -> IncidentChange | None:
            upgrade = config.severity_rank(severity) < config.severity_rank(incident.severity)
            regress = incident.status is IncidentStatus.MITIGATED
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

        incident = self.incidents.change_with_retry(incident_id, decide, actor)
        if incident is not None:
            self.incidents.finalize_if_stalled(incident)

    def _resolved(self, alert: Alert, now: datetime, outcome: IntakeOutcome) -> None:
        dedup = self.alerts.get_dedup(alert)
        if dedup is None or dedup.incident_id is None:
            self.alerts.record_unlinked(alert, now)
            outcome.unmatched_resolves += 1
            return
        incident_id = dedup.incident_id
        if dedup.status is AlertStatus.RESOLVED:
            outcome.duplicates += 1
            outcome.joined.append(incident_id)
            return
        actor = Actor.integration(alert.source)
        event = TimelineEvent(
            incident_id=incident_id,
            at=now,
            kind=TimelineKind.ALERT_RESOLVED,
            actor=actor,
            data=_alert_data(alert),
        )
        if not self.alerts.resolve_alert(incident_id, alert, now, [event]):
            outcome.duplicates += 1
        outcome.joined.append(incident_id)

        def decide(incident: Incident) -> IncidentChange | None:
            if incident.firing_count > 0 or incident.status not in (
                IncidentStatus.TRIGGERED,
                IncidentStatus.ACKNOWLEDGED,
            ):
                return None
            return IncidentChange(status=IncidentStatus.MITIGATED, reason="all alerts resolved")

        self.incidents.change_with_retry(incident_id, decide, actor)


def _alert_data(alert: Alert) -> dict[str, Any]:
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
