"""Who is on call: the configured schedules, their runtime overrides (DynamoDB) and the
shifts of schedules imported from an external iCal feed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tocsin.dal.oncall import OverrideStore
from tocsin.domain.clock import iso, utcnow
from tocsin.domain.config import TocsinConfig
from tocsin.domain.errors import TocsinError
from tocsin.domain.ids import ulid
from tocsin.domain.schedules import Override, Schedule, Shift, shifts, who_is_on_call

log = logging.getLogger(__name__)

#: how far an imported feed is expanded around now (its recurring events included)
IMPORT_WINDOW = timedelta(days=120)


class ScheduleNotFoundError(TocsinError):
    pass


class OverrideNotFoundError(TocsinError):
    pass


class OnCallService:
    def __init__(
        self,
        config: TocsinConfig,
        overrides: OverrideStore,
        fetch: Callable[[str], bytes] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.overrides = overrides
        self._fetch = fetch
        self.clock = clock
        # schedule -> (fetched at, monotonic; shifts): the imported feed, refreshed per `refresh`
        self._imported: dict[str, tuple[float, list[Shift]]] = {}
        self._lock = threading.Lock()

    def schedule(self, name: str) -> Schedule:
        found = self.config.schedule(name)
        if found is None:
            known = ", ".join(s.name for s in self.config.schedules) or "none defined"
            raise ScheduleNotFoundError(f"unknown schedule {name!r} (known: {known})")
        return found

    # --- who ------------------------------------------------------------------------------------
    def on_call(self, name: str, at: datetime) -> str | None:
        """The person on call in schedule `name` at `at`, or None."""
        schedule = self.schedule(name)
        shift = who_is_on_call(schedule, at, self.runtime_overrides(name), self.imported(schedule))
        return shift.person if shift else None

    def shifts(self, name: str, start: datetime, end: datetime) -> list[Shift]:
        schedule = self.schedule(name)
        return shifts(schedule, start, end, self.runtime_overrides(name), self.imported(schedule))

    def imported(self, schedule: Schedule) -> list[Shift]:
        """The feed's shifts for a schedule imported from iCal (cached for its `refresh`;
        a feed that cannot be fetched keeps its last good copy)."""
        if schedule.ical is None:
            return []
        now = time.monotonic()
        with self._lock:
            cached = self._imported.get(schedule.name)
        if cached and now - cached[0] < schedule.ical.refresh.total_seconds():
            return cached[1]
        from tocsin.services.ical import fetch_calendar, import_calendar

        try:
            data = (self._fetch or fetch_calendar)(schedule.ical.url)
        except Exception:
            if cached:
                return cached[1]  # stale beats nobody; the next call tries again
            raise
        at = self.clock()
        result = import_calendar(
            data,
            self.config.people,
            at - IMPORT_WINDOW,
            at + IMPORT_WINDOW,
            timezone=schedule.timezone,
        )
        if result.unmatched or result.problems:  # counts only: summaries name people
            log.warning(
                "schedule %s: %d feed event(s) match no person, %d unreadable",
                schedule.name,
                len(result.unmatched),
                len(result.problems),
            )
        with self._lock:
            self._imported[schedule.name] = (now, result.shifts)
        return result.shifts

    # --- runtime overrides ----------------------------------------------------------------------
    def runtime_overrides(self, name: str) -> list[Override]:
        return [_override(item) for item in self.overrides.list(name)]

    def add_override(
        self,
        name: str,
        person: str,
        start: datetime,
        end: datetime,
        reason: str,
        created_by: str,
    ) -> Override:
        self.schedule(name)
        if self.config.person(person) is None:
            known = ", ".join(p.id for p in self.config.people) or "none defined"
            raise ValueError(f"unknown person {person!r} (known: {known})")
        override = Override(
            id=ulid(),
            person=person,
            start=start,
            end=end,
            reason=reason,
            created_by=created_by,
            created_at=self.clock(),
        )
        self.overrides.add(name, _item(override))
        return override

    def list_overrides(self, name: str, include_past: bool = False) -> list[Override]:
        self.schedule(name)
        items = self.overrides.list(name, None if include_past else self.clock())
        return [_override(item) for item in items]

    def delete_override(self, name: str, override_id: str) -> None:
        self.schedule(name)
        if not self.overrides.delete(name, override_id):
            raise OverrideNotFoundError(f"schedule {name!r} has no override {override_id!r}")


def _item(override: Override) -> dict[str, Any]:
    return {
        "id": override.id,
        "person": override.person,
        "start": iso(override.start),
        "end": iso(override.end),
        "reason": override.reason,
        "created_by": override.created_by,
        "created_at": iso(override.created_at or utcnow()),
    }


def _override(item: dict[str, Any]) -> Override:
    return Override.model_validate(
        {
            k: item.get(k)
            for k in ("id", "person", "start", "end", "reason", "created_by", "created_at")
        }
    )
