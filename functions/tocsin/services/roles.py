"""Incident roles (Incident Commander, Communications Lead, Operations Lead, and any others
configured): filled from on-call schedules per severity when an incident opens, handed off
by hand later. Every change records who assumed and who renounced the role, and when."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tocsin.dal.oncall import RoleStore
from tocsin.domain.clock import iso, utcnow
from tocsin.domain.config import TocsinConfig
from tocsin.domain.errors import InvalidRequestError, TocsinError, VersionConflictError
from tocsin.domain.incidents import Incident
from tocsin.domain.timeline import Actor, TimelineEvent, TimelineKind


class RoleNotFoundError(TocsinError):
    pass


class RoleService:
    def __init__(
        self,
        config: TocsinConfig,
        incident_repo: Any,
        store: RoleStore,
        on_call: Callable[[str, datetime], str | None],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.repo = incident_repo
        self.store = store
        self.on_call = on_call
        self.clock = clock

    def roles(self, incident_id: str) -> list[dict[str, Any]]:
        """Every configured role with its holder (None: open) and its handoffs."""
        stored = self.store.all(incident_id)
        out = []
        for role in self.config.roles:
            record = stored.get(role.id, {})
            out.append(
                {
                    "role": role.id,
                    "name": role.name,
                    "holder": record.get("holder") or None,
                    "since": record.get("since"),
                    "history": record.get("history", []),
                }
            )
        return out

    def assign_from_schedules(self, incident: Incident, actor: Actor) -> dict[str, str]:
        """Fill each open role whose `assign` names a schedule for the incident's severity
        with whoever is on call there now. A role someone holds is left alone."""
        now = self.clock()
        assigned: dict[str, str] = {}
        team = self.config.team_of(incident.service)
        for role in self.config.roles:
            source = role.assign.get(incident.severity)
            if source is None:
                continue
            schedule: str | None = source
            if source == "team":  # the first schedule of the service's team
                schedule = team.schedules[0] if team and team.schedules else None
            if schedule is None:
                continue
            person = self.on_call(schedule, now)
            if person is None:
                continue
            if self._set(incident.id, role.id, person, None, actor, now, f"on call in {schedule}"):
                assigned[role.id] = person
        return assigned

    def hand_off(
        self,
        incident_id: str,
        role_id: str,
        person: str | None,
        actor: Actor,
        expected: object = None,
        check_expected: bool = False,
    ) -> dict[str, Any]:
        """Give `role_id` to `person` (None: nobody holds it). `expected` (the holder the
        caller saw, with `check_expected`) guards against two handoffs at once: a stale one
        gets 409."""
        role = self.config.role(role_id)
        if role is None:
            known = ", ".join(r.id for r in self.config.roles)
            raise RoleNotFoundError(f"unknown role {role_id!r} (known: {known})")
        if person is not None and self.config.person(person) is None:
            raise InvalidRequestError(f"unknown person {person!r}")
        self.repo.get(incident_id)  # 404 for an unknown incident
        current = self.store.all(incident_id).get(role_id, {}).get("holder") or None
        if check_expected and expected != current:
            raise VersionConflictError(
                f"{role.name} is held by {current or 'nobody'}, not {expected or 'nobody'}"
            )
        if person == current:
            return next(r for r in self.roles(incident_id) if r["role"] == role_id)
        if not self._set(incident_id, role_id, person, current, actor, self.clock(), None):
            raise VersionConflictError(f"{role.name} changed meanwhile; reload and retry")
        return next(r for r in self.roles(incident_id) if r["role"] == role_id)

    def _set(
        self,
        incident_id: str,
        role_id: str,
        person: str | None,
        current: str | None,
        actor: Actor,
        at: datetime,
        reason: str | None,
    ) -> bool:
        handoff = {
            "at": iso(at),
            "assumed": person,
            "renounced": current,
            "by": actor.name or actor.id,
            "reason": reason,
        }
        if not self.store.set(incident_id, role_id, person, current, handoff):
            return False
        role = self.config.role(role_id)
        self.repo.append_timeline(
            TimelineEvent(
                id=f"role-{role_id}-{iso(at)}",
                incident_id=incident_id,
                at=at,
                kind=TimelineKind.ROLE_CHANGED,
                actor=actor,
                data={
                    "role": role_id,
                    "name": role.name if role else role_id,
                    "assumed": person,
                    "renounced": current,
                    **({"reason": reason} if reason else {}),
                },
            )
        )
        return True
