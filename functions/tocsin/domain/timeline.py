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
    #: from chat (`/incident note|decision|action`) or the API
    NOTE = "note"
    DECISION = "decision"
    ACTION_ITEM_ADDED = "action_item_added"
    #: an action item changed (status, owner, due, priority, text, its ticket)
    ACTION_ITEM_UPDATED = "action_item_updated"
    #: someone asked for the next escalation level now (chat's Escalate button)
    ESCALATED = "escalated"
    # the incident channel's transcript (services/capture.py): each event's data is
    # self-contained (message_id, thread_id, user, person, text, files) for the postmortem
    CHAT_MESSAGE = "chat_message"
    CHAT_MESSAGE_EDITED = "chat_message_edited"
    CHAT_MESSAGE_DELETED = "chat_message_deleted"
    CHAT_REACTION = "chat_reaction"
    KEY_EVENT = "key_event"
    KEY_EVENT_UNMARKED = "key_event_unmarked"
    RUNBOOK_SUGGESTED = "runbook_suggested"
    RUNBOOK_OPENED = "runbook_opened"
    RUNBOOK_FEEDBACK = "runbook_feedback"
    #: the postmortem was (re)generated (services/postmortem.py)
    POSTMORTEM_GENERATED = "postmortem_generated"


class TimelineEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=ulid)
    incident_id: str
    at: datetime = Field(default_factory=utcnow)
    kind: TimelineKind
    actor: Actor
    data: dict[str, Any] = Field(default_factory=dict)


def _who(actor: Actor) -> str:
    return actor.name or actor.id


def describe(event: TimelineEvent) -> str:
    """One line a person reads (chat's `/incident timeline`): what happened, by whom."""
    d = event.data
    by = _who(event.actor)
    kind = event.kind
    if kind is TimelineKind.INCIDENT_CREATED:
        how = "declared" if d.get("declared") else "opened"
        return f"{how} by {by}: {d.get('title', '')} ({d.get('severity', '')})"
    if kind in (TimelineKind.STATUS_CHANGED, TimelineKind.SEVERITY_CHANGED):
        what = "status" if kind is TimelineKind.STATUS_CHANGED else "severity"
        reason = f" ({d['reason']})" if d.get("reason") else ""
        return f"{what} {d.get('old')} → {d.get('new')} by {by}{reason}"
    if kind is TimelineKind.TITLE_CHANGED:
        return f"title changed by {by}: {d.get('new')}"
    if kind is TimelineKind.ROLE_CHANGED:
        holder = d.get("assumed") or "nobody"
        return f"{d.get('name', d.get('role'))}: {holder} (by {by})"
    if kind in (TimelineKind.NOTE, TimelineKind.DECISION, TimelineKind.STAKEHOLDER_UPDATE):
        label = {"note": "note", "decision": "decision", "stakeholder_update": "update"}
        return f"{label[kind.value]} by {by}: {d.get('text', '')}"
    if kind is TimelineKind.ACTION_ITEM_ADDED:
        owner = f" → {d['owner']}" if d.get("owner") else ""
        due = f" (due {d['due']})" if d.get("due") else ""
        return f"action item by {by}: {d.get('text', '')}{owner}{due}"
    if kind is TimelineKind.ACTION_ITEM_UPDATED:
        changes = ", ".join(
            f"{k} {v if v is not None else '-'}" for k, v in d.get("changes", {}).items()
        )
        return f"action item {d.get('id', '')} by {by}: {changes or 'updated'}"
    if kind is TimelineKind.PAGE_SENT:
        return f"paged {d.get('target', '')} via {d.get('method', '')} ({d.get('level', '')})"
    if kind is TimelineKind.ESCALATION_STARTED:
        return f"paging started ({d.get('policy')}) by {by}"
    if kind is TimelineKind.ESCALATION_ENDED:
        return f"paging ended: {d.get('outcome')} ({by})"
    if kind is TimelineKind.ESCALATED:
        return f"escalated to the next level by {by}"
    if kind in (TimelineKind.ALERT_ADDED, TimelineKind.ALERT_RESOLVED, TimelineKind.ALERT_REFIRED):
        verb = kind.value.split("_", 1)[1]
        return f"alert {verb}: {d.get('title', d.get('fingerprint', ''))}"
    if kind in (TimelineKind.CHAT_MESSAGE, TimelineKind.KEY_EVENT):
        who = d.get("person") or d.get("user") or by
        files = f" [{len(d['files'])} file(s)]" if d.get("files") else ""
        key = "key event: " if kind is TimelineKind.KEY_EVENT else ""
        return f"{key}{who}: {d.get('text', '')}{files}"
    if kind is TimelineKind.CHAT_MESSAGE_EDITED:
        return f"{d.get('person') or d.get('user') or by} edited: {d.get('text', '')}"
    if kind is TimelineKind.CHAT_MESSAGE_DELETED:
        return f"message of {d.get('person') or d.get('user') or by} deleted"
    if kind is TimelineKind.STATUS_PAGE_UPDATED:
        return f"status page {d.get('page', '')} {d.get('status', '')} by {by}"
    if kind is TimelineKind.POSTMORTEM_GENERATED:
        return f"postmortem generated ({d.get('reason', 'on demand')}) by {by}"
    if kind is TimelineKind.WORKFLOW_STEP:
        return f"{d.get('action', 'step')} {d.get('state', '')}".strip()
    return f"{kind.value.replace('_', ' ')} ({by})"
