"""Configuration of the response: people, teams, stakeholders, business hours, integrations and
the workflows that decide which actions an incident gets (see docs/workflows.md)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from tocsin.domain.durations import Duration

_SLUG = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _workdays() -> list[Weekday]:
    return ["mon", "tue", "wed", "thu", "fri"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- people -----------------------------------------------------------------------------------


#: how a person can be reached. `chat` is a direct message through the chat integration.
PersonMethod = Literal["chat", "sms", "email", "opsgenie"]


class NotificationRule(Strict):
    """Reach a person by `method`, `after` their escalation level started paging (0 = at once)."""

    method: PersonMethod
    after: Duration = timedelta(0)

    @field_validator("after")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("`after` cannot be negative")
        return value


class Person(Strict):
    id: str = Field(pattern=_SLUG)
    name: str
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    #: Slack member id (U…/W…)
    slack: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,}$")
    #: Microsoft Entra (AAD) object id, for Teams
    teams: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$"
    )
    #: mobile number for SMS pages, E.164 (+4915112345678)
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{7,14}$")
    #: how this person is paged, in order (default: `paging.default_rules`)
    notify: list[NotificationRule] | None = None

    def chat_id(self, provider: str) -> str | None:
        if provider == "slack":
            return self.slack
        if provider in {"teams", "teams_webhook"}:
            return self.teams
        return self.id  # the local adapter addresses people by their id


class TeamConfig(Strict):
    name: str = Field(pattern=_SLUG)
    description: str = ""
    owners: list[str] = Field(default_factory=list)
    members: list[str] = Field(default_factory=list)
    #: the team's own chat channel (name or id), told about the team's incidents
    channel: str | None = None
    #: on-call schedules of the team (paging uses them)
    schedules: list[str] = Field(default_factory=list)
    #: the escalation policy paged for the team's incidents (default: its schedules, then
    #: its owners)
    escalation_policy: str | None = None

    @property
    def people(self) -> list[str]:
        return list(dict.fromkeys(self.owners + self.members))


class StakeholderGroup(Strict):
    name: str = Field(pattern=_SLUG)
    description: str = ""
    people: list[str] = Field(default_factory=list)
    #: chat channel (name or id) where the group's updates are posted
    channel: str | None = None


# --- business hours ---------------------------------------------------------------------------


class BusinessHours(Strict):
    timezone: str = "UTC"
    days: list[Weekday] = Field(default_factory=_workdays)
    start: time = time(9, 0)
    end: time = time(17, 0)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)"
            ) from None
        return value

    @model_validator(mode="after")
    def _order(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("business hours must end after they start")
        return self

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        return WEEKDAYS[local.weekday()] in self.days and self.start <= local.time() < self.end


# --- integrations -----------------------------------------------------------------------------


class IntegrationConfig(Strict):
    """One port's adapter. `local` records what it would have sent (the default). Secrets
    (tokens) are never in these files: `secret` names an AWS Secrets Manager secret holding
    a JSON object with the adapter's keys (docs/integrations/)."""

    provider: str = "local"
    secret: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class Integrations(Strict):
    chat: IntegrationConfig = IntegrationConfig()
    conferencing: IntegrationConfig = IntegrationConfig()
    ticketing: IntegrationConfig = IntegrationConfig()


# --- workflows --------------------------------------------------------------------------------


class Trigger(StrEnum):
    INCIDENT_CREATED = "incident_created"
    SEVERITY_CHANGED = "severity_changed"
    STATUS_CHANGED = "status_changed"
    RESOLVED = "resolved"


class ActionType(StrEnum):
    CREATE_CHANNEL = "create_channel"
    INVITE = "invite"
    POST_SUMMARY = "post_summary"
    START_BRIDGE = "start_bridge"
    CREATE_TICKET = "create_ticket"
    LINK_RESOURCES = "link_resources"
    NOTIFY_STAKEHOLDERS = "notify_stakeholders"
    POST_MESSAGE = "post_message"
    COMMENT_TICKET = "comment_ticket"
    UPDATE_CHANNEL = "update_channel"
    PAGE = "page"
    ASSIGN_ROLES = "assign_roles"
    UPDATE_STATUS_PAGE = "update_status_page"
    GENERATE_POSTMORTEM = "generate_postmortem"


class CreateChannelParams(Strict):
    #: the channel is named `<prefix>-<number>-<title slug>`
    prefix: str = Field(default="inc", pattern=r"^[a-z][a-z0-9-]{0,15}$")


class InviteParams(Strict):
    responders: bool = True  # the service team's people (and, with paging, who is on call)
    stakeholders: bool = False  # the severity's stakeholder groups
    people: list[str] = Field(default_factory=list)


class PostSummaryParams(Strict):
    pin: bool = True


class NoParams(Strict):
    pass


class NotifyStakeholdersParams(Strict):
    #: also tell the owning team's channel
    team_channel: bool = True
    channels: list[str] = Field(default_factory=list)
    #: what to say (a template like post_message's); default: the incident's state and links
    text: str | None = Field(default=None, min_length=1, max_length=3000)


class PageParams(Strict):
    #: the escalation policy to page (default: the severity's `page` list: the team's policy)
    policy: str | None = None


class StatusPageParams(Strict):
    #: status page ids (default: every page showing a component of the incident's service)
    pages: list[str] | None = None
    #: open a status-page incident where there is none yet; false: only update existing ones
    open: bool = True
    #: the wording (default: the page templates' for the status and severity)
    text: str | None = Field(default=None, min_length=1, max_length=5000)


class MessageParams(Strict):
    #: a template: {ref} {title} {severity} {status} {service} {duration} are filled in
    text: str = Field(min_length=1, max_length=3000)


class PostmortemParams(Strict):
    #: post the postmortem's link in the incident channel / as a comment on its ticket
    post_to_channel: bool = True
    comment_ticket: bool = True


PARAMS: dict[ActionType, type[Strict]] = {
    ActionType.CREATE_CHANNEL: CreateChannelParams,
    ActionType.INVITE: InviteParams,
    ActionType.POST_SUMMARY: PostSummaryParams,
    ActionType.START_BRIDGE: NoParams,
    ActionType.CREATE_TICKET: NoParams,
    ActionType.LINK_RESOURCES: NoParams,
    ActionType.NOTIFY_STAKEHOLDERS: NotifyStakeholdersParams,
    ActionType.POST_MESSAGE: MessageParams,
    ActionType.COMMENT_TICKET: MessageParams,
    ActionType.UPDATE_CHANNEL: NoParams,
    ActionType.PAGE: PageParams,
    ActionType.ASSIGN_ROLES: NoParams,
    ActionType.UPDATE_STATUS_PAGE: StatusPageParams,
    ActionType.GENERATE_POSTMORTEM: PostmortemParams,
}


def _action_shape(value: object) -> object:
    """`- create_channel` or `- invite: {stakeholders: true}` -> {type, params}."""
    if isinstance(value, str):
        return {"type": value, "params": {}}
    if isinstance(value, dict) and len(value) == 1 and "type" not in value:
        ((name, params),) = value.items()
        return {"type": name, "params": params if params is not None else {}}
    return value


class ActionSpec(Strict):
    type: ActionType
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_params(self) -> ActionSpec:
        PARAMS[self.type].model_validate(self.params)  # errors name the bad parameter
        return self

    def parsed(self) -> Any:
        return PARAMS[self.type].model_validate(self.params)


Action = Annotated[ActionSpec, BeforeValidator(_action_shape)]


class Conditions(Strict):
    """All given conditions must hold; an empty list means any."""

    severities: list[str] = Field(default_factory=list)
    services: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)  # label -> full-match regex
    #: for status_changed: the new status
    statuses: list[Literal["triggered", "acknowledged", "mitigated", "resolved"]] = Field(
        default_factory=list
    )
    #: true: only inside business hours; false: only outside; unset: always
    business_hours: bool | None = None

    @field_validator("labels")
    @classmethod
    def _regexes(cls, patterns: dict[str, str]) -> dict[str, str]:
        for key, pattern in patterns.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"label {key!r}: invalid regular expression: {exc}") from None
        return patterns


class Workflow(Strict):
    name: str = Field(pattern=_SLUG)
    description: str = ""
    triggers: list[Trigger] = Field(min_length=1)
    when: Conditions = Conditions()
    actions: list[Action] = Field(min_length=1)
    enabled: bool = True
