"""Deciding, for a normalized alert: its service, severity, group and maintenance window."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from tocsin.domain.alerts import Alert
from tocsin.domain.config import GroupingRule, MaintenanceWindow, TocsinConfig


def _labels_match(patterns: dict[str, str], labels: dict[str, str]) -> bool:
    return all(
        key in labels and re.fullmatch(pattern, labels[key]) is not None
        for key, pattern in patterns.items()
    )


def service_for(alert: Alert, config: TocsinConfig) -> str | None:
    explicit = alert.labels.get(config.service_label)
    if explicit:
        return explicit
    for service in config.services:
        if service.match and _labels_match(service.match, alert.labels):
            return service.name
    return None


def severity_for(alert: Alert, config: TocsinConfig) -> str:
    hint = (alert.severity_hint or "").strip().lower()
    for rule in config.severity_rules:
        if rule.sources and alert.source not in rule.sources:
            continue
        if rule.hints and hint not in {h.lower() for h in rule.hints}:
            continue
        if rule.labels and not _labels_match(rule.labels, alert.labels):
            continue
        if rule.title and not re.search(rule.title, alert.title):
            continue
        return rule.severity
    # a hint that already names a severity ("SEV1", "sev2") is taken as is
    for name in config.severity_names:
        if hint == name.lower():
            return name
    return config.default_severity


@dataclass(frozen=True)
class Grouping:
    key: str
    #: None: join the open incident as long as it is open (the source's own grouping)
    window: timedelta | None
    rule: str | None


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def grouping_for(alert: Alert, service: str | None, rules: list[GroupingRule]) -> Grouping:
    """A configured rule wins over the source's own group key; else the alert is its own group."""
    values = dict(alert.labels)
    if service:
        values["service"] = service
    for rule in rules:
        if rule.sources and alert.source not in rule.sources:
            continue
        if rule.match and not _labels_match(rule.match, values):
            continue
        key_values = [f"{name}={values.get(name, '')}" for name in rule.by]
        return Grouping(
            key=f"rule:{rule.name}:{_digest(*key_values)}", window=rule.window, rule=rule.name
        )
    if alert.group_key:
        return Grouping(
            key=f"src:{alert.source}:{_digest(alert.group_key)}", window=None, rule=None
        )
    return Grouping(key=f"fp:{alert.source}:{_digest(alert.fingerprint)}", window=None, rule=None)


def maintenance_for(
    alert: Alert, service: str | None, windows: list[MaintenanceWindow], now: datetime
) -> MaintenanceWindow | None:
    for window in windows:
        if not (window.starts_at <= now < window.ends_at):
            continue
        if window.services and service not in window.services:
            continue
        if window.labels and not _labels_match(window.labels, alert.labels):
            continue
        return window
    return None
