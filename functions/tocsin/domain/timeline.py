"""Timeline events: every change to an incident appends one, with who did it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tocsin.domain.clock import utcnow
from tocsin.domain.ids import ulid


class ActorKind(StrEnum):
    USER = "user"
    INTEGRATION = "integration"
    SYSTEM = "system"


class Actor(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: ActorKind
    id: str
    name: str | None = None

    @classmethod
    def system(cls, component: str) -> Actor:
        return cls(kind=ActorKind.SYSTEM, id=component)

    @classmethod
    def integration(cls, source: str) -> Actor:
        return cls(kind=ActorKind.INTEGRATION, id=source)


class TimelineKind(StrEnum):
    INCIDENT_CREATED = "incident_created"
    ALERT_ADDED = "alert_added"
    ALERT_RESOLVED = "alert_resolved"
    ALERT_REFIRED = "alert_refired"
    STATUS_CHANGED = "status_changed"
    SEVERITY_CHANGED = "severity_changed"
    TITLE_CHANGED = "title_changed"
    WORKFLOW_STARTED = "workflow_started"
    WORKFLOW_STEP = "workflow_step"
    STAKEHOLDER_UPDATE = "stakeholder_update"
    SLA_MISSED = "sla_missed"
    SLA_REMINDER = "sla_reminder"
    ESCALATION_STARTED = "escalation_started"
    ESCALATION_ENDED = "escalation_ended"
    PAGE_SENT = "page_sent"
    PAGE_FAILED = "page_failed"
    ROLE_CHANGED = "role_changed"
    STATUS_PAGE_UPDATED = "status_page_updated"
    RUNBOOK_SUGGESTED = "runbook_suggested"
    RUNBOOK_OPENED = "runbook_opened"
    RUNBOOK_FEEDBACK = "runbook_feedback"


class TimelineEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=ulid)
    incident_id: str
    at: datetime = Field(default_factory=utcnow)
    kind: TimelineKind
    actor: Actor
    data: dict[str, Any] = Field(default_factory=dict)
