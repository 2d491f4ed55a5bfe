"""Incidents and their lifecycle."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, computed_field

from tocsin.domain.errors import InvalidTransitionError


class IncidentStatus(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"

    @property
    def is_open(self) -> bool:
        return self is not IncidentStatus.RESOLVED


S = IncidentStatus

#: Every status change the lifecycle allows. `resolved -> triggered` is a reopen;
#: `mitigated -> triggered|acknowledged` happens when a resolved alert fires again.
ALLOWED_TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    S.TRIGGERED: frozenset({S.ACKNOWLEDGED, S.MITIGATED, S.RESOLVED}),
    S.ACKNOWLEDGED: frozenset({S.MITIGATED, S.RESOLVED}),
    S.MITIGATED: frozenset({S.RESOLVED, S.TRIGGERED, S.ACKNOWLEDGED}),
    S.RESOLVED: frozenset({S.TRIGGERED}),
}

OPEN_STATUSES = (S.TRIGGERED, S.ACKNOWLEDGED, S.MITIGATED)


def check_transition(current: IncidentStatus, target: IncidentStatus) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[current])) or "none"
        raise InvalidTransitionError(
            f"cannot move an incident from {current} to {target} (allowed: {allowed})"
        )


class Incident(BaseModel):
    id: str
    number: int | None = None
    title: str = Field(min_length=1, max_length=500)
    severity: str
    status: IncidentStatus = IncidentStatus.TRIGGERED
    service: str | None = None
    group_key: str | None = None
    source: str = "manual"
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    #: when the incident entered each status (the last time, for reopened incidents)
    status_times: dict[IncidentStatus, datetime] = Field(default_factory=dict)
    alert_count: int = 0
    firing_count: int = 0
    version: int = 1
    execution_arn: str | None = None
    links: dict[str, str] = Field(default_factory=dict)
    #: when the incident took its current severity (None: since it opened); its SLA
    #: targets count from then
    severity_since: datetime | None = None
    #: the last stakeholder update (the severity's update cadence counts from it)
    last_update_at: datetime | None = None
    #: response targets missed (`acknowledge`, `first_update`), each counted once
    sla_missed: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ref(self) -> str:
        """Human reference: INC-42."""
        return f"INC-{self.number}" if self.number is not None else self.id

    def transitioned(self, target: IncidentStatus, at: datetime) -> Incident:
        """The incident after moving to `target` (raises InvalidTransitionError)."""
        check_transition(self.status, target)
        times = dict(self.status_times)
        times[target] = at
        return self.model_copy(update={"status": target, "status_times": times, "updated_at": at})
