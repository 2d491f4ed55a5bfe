"""Configuration as code: severities, severity mapping, grouping, services, maintenance.

The models are pure pydantic; `tocsin.config_loader` reads them from YAML files with line
numbers for every error.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> object:
    """'90s', '30m', '2h', '1d' or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration like '90s', '30m', '2h' or '1d'")
        return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _check_regexes(patterns: dict[str, str]) -> dict[str, str]:
    for key, pattern in patterns.items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(
                f"label {key!r}: invalid regular expression {pattern!r}: {exc}"
            ) from None
    return patterns


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeverityLevel(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,20}$")
    description: str = ""
    #: after every alert of a mitigated incident has resolved, resolve it after this quiet time
    auto_resolve_after: Duration | None = None


class SeverityRule(Strict):
    """First matching rule gives an alert's severity. All given conditions must hold."""

    sources: list[str] = Field(default_factory=list)
    hints: list[str] = Field(default_factory=list)  # case-insensitive, the source's severity
    labels: dict[str, str] = Field(default_factory=dict)  # label -> full-match regex
    title: str | None = None  # regex searched in the title
    severity: str

    _labels = field_validator("labels")(_check_regexes)


class GroupingRule(Strict):
    """Alerts matching `sources`/`match` with equal values of `by` join one open incident,
    as long as it was opened less than `window` ago."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    sources: list[str] = Field(default_factory=list)
    match: dict[str, str] = Field(default_factory=dict)
    by: list[str] = Field(min_length=1)  # label names; "service" means the resolved service
    window: Duration = timedelta(minutes=30)

    _match = field_validator("match")(_check_regexes)


class ServiceConfig(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    #: alerts whose labels match (label -> full-match regex) belong to this service
    match: dict[str, str] = Field(default_factory=dict)

    _match = field_validator("match")(_check_regexes)


class MaintenanceWindow(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    starts_at: datetime
    ends_at: datetime
    services: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)  # label -> full-match regex
    reason: str = ""

    _labels = field_validator("labels")(_check_regexes)

    @model_validator(mode="after")
    def _check(self) -> MaintenanceWindow:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a time zone (e.g. 2026-11-27T02:00:00Z)")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if not self.services and not self.labels:
            raise ValueError("a maintenance window needs `services` or `labels` to match")
        return self


class TocsinConfig(Strict):
    severities: list[SeverityLevel] = Field(min_length=1)
    default_severity: str
    severity_rules: list[SeverityRule] = Field(default_factory=list)
    service_label: str = "service"
    services: list[ServiceConfig] = Field(default_factory=list)
    grouping: list[GroupingRule] = Field(default_factory=list)
    maintenance_windows: list[MaintenanceWindow] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_check(self) -> TocsinConfig:
        names = [level.name for level in self.severities]
        if len(set(names)) != len(names):
            raise ValueError(f"severity names must be unique: {names}")
        if self.default_severity not in names:
            raise ValueError(f"default_severity {self.default_severity!r} is not one of {names}")
        for index, rule in enumerate(self.severity_rules):
            if rule.severity not in names:
                raise ValueError(
                    f"severity_rules[{index}].severity {rule.severity!r} is not one of {names}"
                )
        return self

    @property
    def severity_names(self) -> list[str]:
        return [level.name for level in self.severities]

    def severity_rank(self, name: str) -> int:
        """0 is the most severe."""
        return self.severity_names.index(name)

    def level(self, name: str) -> SeverityLevel:
        return self.severities[self.severity_rank(name)]
