"""Action items: the follow-ups of an incident, each with an owner, a due date and a priority,
tracked to done here and, when a ticketing tool is configured, as a ticket there.

An item is created from chat (`/incident action`), the API or the postmortem; its ticket is
created by the sweeper (it holds the ticketing credentials; chat-ops does not), and done in
Jira comes back through Jira's webhook. Overdue items are reminded to their owner once a day
(`action_items.reminders`), by EventBridge Scheduler on AWS and by the local scheduler in local
mode.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tocsin.domain.errors import TocsinError

MAX_TEXT = 3000


class ActionItemNotFoundError(TocsinError):
    pass


class ActionStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Priority(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class TicketSync(StrEnum):
    """What the sweeper still has to do at the ticketing tool for this item."""

    CREATE = "create"  # no ticket yet
    COMPLETE = "complete"  # done here, the ticket is not yet


class ActionItem(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    incident_id: str
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    owner: str | None = Field(default=None, description="a person id of the configuration")
    due: date | None = None
    priority: Priority = Priority.MEDIUM
    status: ActionStatus = ActionStatus.OPEN
    version: int = 0
    #: where it was created: slack, teams, api, cli, postmortem
    source: str = "api"
    created_by: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    done_at: datetime | None = None
    done_by: str | None = None
    #: the ticket at the ticketing tool: {provider, id, key, url}
    ticket: dict[str, str] | None = None
    #: pending work at the ticketing tool, and the last error it met (retried every sweep)
    ticket_sync: TicketSync | None = None
    ticket_error: str | None = None
    #: the day (in the reminders' time zone) the owner was last reminded
    reminded_on: date | None = None

    @field_validator("due", mode="before")
    @classmethod
    def _empty_due(cls, value: Any) -> Any:
        return value or None


class Reminders(BaseModel):
    """Overdue items are reminded to their owner once a day, from `at` (local time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    at: str = Field(default="09:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name: Europe/Berlin)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def start(self) -> time:
        hours, minutes = self.at.split(":")
        return time(int(hours), int(minutes))

    def local_day(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()

    def due_now(self, now: datetime) -> bool:
        """Reminders go out from `at` on: a run before it (in the zone) sends nothing."""
        return now.astimezone(self.zone).time() >= self.start

    def next_run(self, now: datetime) -> datetime:
        """The next time the scheduler fires (every hour on the hour, in the zone: the first
        run at or after `at` sends the day's reminders; later ones retry failed sends)."""
        local = now.astimezone(self.zone).replace(minute=0, second=0, microsecond=0)
        return (local + timedelta(hours=1)).astimezone(now.tzinfo)


class ActionItemsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: create a ticket for each item in the `ticketing` integration (Jira, Asana; `local`
    #: records it), and complete it when the item is done here
    tickets: bool = True
    default_priority: Priority = Priority.MEDIUM
    reminders: Reminders = Reminders()


def parse_due(word: str, today: date) -> date:
    """`2026-12-01`, `today`, `tomorrow`, `3d` or `2w` -> a date; anything else is an error
    that says what is accepted."""
    from tocsin.domain.errors import InvalidRequestError

    word = word.strip().lower()
    if word == "today":
        return today
    if word == "tomorrow":
        return today + timedelta(days=1)
    if len(word) > 1 and word[-1] in "dw" and word[:-1].isdigit():
        return today + timedelta(days=int(word[:-1]) * (7 if word[-1] == "w" else 1))
    try:
        return date.fromisoformat(word)
    except ValueError:
        raise InvalidRequestError(
            f"{word!r} is not a date (2026-12-01, tomorrow, 3d, 2w)"
        ) from None
