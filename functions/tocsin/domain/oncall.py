"""Paging configuration: how people are reached, escalation policies and incident roles.

Schedules (who is on call when) are in `tocsin.domain.schedules`; this module says what
happens with them: an escalation policy pages its levels in order until someone acknowledges,
each person is reached through their notification rules, and incident roles are filled from
schedules per severity. See docs/paging.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from tocsin.domain.durations import Duration
from tocsin.domain.response import _SLUG, IntegrationConfig, NotificationRule, Strict

#: paging services that route a page themselves (a level can target them directly)
ServiceProvider = Literal["pagerduty", "opsgenie"]
METHODS: tuple[str, ...] = ("chat", "sms", "email", "opsgenie")


def _default_rules() -> list[NotificationRule]:
    return [
        NotificationRule(method="chat"),
        NotificationRule(method="sms", after=timedelta(minutes=1)),
        NotificationRule(method="email", after=timedelta(minutes=2)),
    ]


class EscalationTarget(Strict):
    """Exactly one of: a person, a schedule (whoever is on call when the level pages), or a
    paging service (PagerDuty, Opsgenie: it notifies and escalates on its side)."""

    person: str | None = None
    schedule: str | None = None
    service: ServiceProvider | None = None
    #: for a paging service: another service tried when this one fails (5xx, 429, timeout)
    fallback: ServiceProvider | None = None

    @model_validator(mode="after")
    def _one(self) -> EscalationTarget:
        given = [k for k in ("person", "schedule", "service") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a target is exactly one of `person`, `schedule` or `service`")
        if self.fallback and not self.service:
            raise ValueError("`fallback` is for a paging service target")
        if self.fallback and self.fallback == self.service:
            raise ValueError("`fallback` must be a different paging service")
        return self

    @property
    def label(self) -> str:
        if self.person:
            return f"person:{self.person}"
        if self.schedule:
            return f"schedule:{self.schedule}"
        return f"service:{self.service}"


class EscalationLevel(Strict):
    targets: list[EscalationTarget] = Field(min_length=1)
    #: how long the level waits for an acknowledgement before the next level is paged
    timeout: Duration = timedelta(minutes=5)

    @model_validator(mode="after")
    def _timeout(self) -> EscalationLevel:
        if self.timeout < timedelta(seconds=1):
            raise ValueError("timeout must be at least 1s")
        if self.timeout > timedelta(days=1):
            raise ValueError("timeout must be at most 1d")
        return self


class EscalationPolicy(Strict):
    """Levels paged in order until someone acknowledges. After the last level the policy
    starts again `repeat` more times; then `fallback` is paged once and the escalation ends
    (recorded on the timeline as exhausted, never silently)."""

    name: str = Field(pattern=_SLUG)
    description: str = ""
    levels: list[EscalationLevel] = Field(min_length=1, max_length=20)
    repeat: int = Field(default=0, ge=0, le=9)
    fallback: list[EscalationTarget] = Field(default_factory=list)
    #: how long the fallback is given to acknowledge (default: the last level's timeout)
    fallback_timeout: Duration | None = None

    @model_validator(mode="after")
    def _fallback_timeout(self) -> EscalationPolicy:
        timeout = self.fallback_timeout
        if timeout is not None and not timedelta(seconds=1) <= timeout <= timedelta(days=1):
            raise ValueError("fallback_timeout must be between 1s and 1d")
        return self

    def targets(self) -> list[EscalationTarget]:
        return [t for level in self.levels for t in level.targets] + list(self.fallback)


class RoleConfig(Strict):
    """An incident role, filled automatically from a schedule per severity.

    `assign` maps a severity to a schedule name, or to `team` (the first schedule of the
    service's team). Severities not listed leave the role open (assign it by hand)."""

    id: str = Field(pattern=_SLUG)
    name: str = Field(min_length=1, max_length=60)
    description: str = ""
    assign: dict[str, str] = Field(default_factory=dict)


def _default_roles() -> list[RoleConfig]:
    return [
        RoleConfig(
            id="commander",
            name="Incident Commander",
            description="Leads the response and decides.",
        ),
        RoleConfig(
            id="communications",
            name="Communications Lead",
            description="Keeps stakeholders and the status page informed.",
        ),
        RoleConfig(
            id="operations",
            name="Operations Lead",
            description="Leads the hands-on investigation and the fix.",
        ),
    ]


class PagingConfig(Strict):
    """Which provider serves each paging method, and the defaults of people's rules.

    Methods: `sms` (sns | local), `email` (ses | local), `chat` (chat: direct messages through
    the configured chat integration), `pagerduty` (pagerduty | local), `opsgenie` (opsgenie |
    local). `local` records what would have been sent (in Tocsin's table)."""

    methods: dict[str, IntegrationConfig] = Field(default_factory=dict)
    #: notification rules of people who have none of their own
    default_rules: list[NotificationRule] = Field(default_factory=_default_rules, min_length=1)
    #: how long a signed acknowledgement link (SMS, e-mail, chat) stays valid
    ack_link_ttl: Duration = timedelta(hours=24)
    #: the public base URL of the API (links in pages); default: the API's own URL
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")

    def method(self, name: str) -> IntegrationConfig:
        default = "chat" if name == "chat" else "local"
        return self.methods.get(name) or IntegrationConfig(provider=default)
