"""Severity, service, grouping and maintenance decisions, from the shipped configuration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tocsin.config_loader import load_config
from tocsin.domain.alerts import Alert, AlertStatus
from tocsin.domain.config import MaintenanceWindow
from tocsin.domain.routing import grouping_for, maintenance_for, service_for, severity_for

from tests.helpers import REPO

CONFIG = load_config(REPO / "config")


def alert(source: str = "generic", **fields: object) -> Alert:
    base: dict[str, object] = {
        "source": source,
        "fingerprint": "fp",
        "status": AlertStatus.FIRING,
        "title": "t",
    }
    return Alert.model_validate(base | fields)


@pytest.mark.parametrize(
    ("source", "hint", "labels", "expected"),
    [
        ("alertmanager", "critical", {}, "SEV1"),
        ("alertmanager", "Warning", {}, "SEV2"),
        ("alertmanager", "info", {}, "SEV3"),
        ("grafana", "page", {}, "SEV1"),
        ("datadog", "P1", {}, "SEV1"),
        ("datadog", "P3", {}, "SEV2"),
        ("datadog", "P5", {}, "SEV3"),
        ("newrelic", "CRITICAL", {}, "SEV1"),
        ("sentry", "fatal", {}, "SEV1"),
        ("cloudwatch", None, {"alarm_name": "prod-api-5xx-critical"}, "SEV1"),
        ("cloudwatch", None, {"alarm_name": "prod-db-cpu-high"}, "SEV2"),
        ("cloudwatch", None, {"alarm_name": "batch-lag"}, "SEV3"),
        ("eventbridge", "issue", {}, "SEV2"),
        ("generic", "sev2", {}, "SEV2"),
        ("generic", None, {}, "SEV3"),
        ("sentry", "SEV1", {}, "SEV1"),  # a hint that names a severity is taken as is
    ],
)
def test_severity_mapping(
    source: str, hint: str | None, labels: dict[str, str], expected: str
) -> None:
    assert severity_for(alert(source, severity_hint=hint, labels=labels), CONFIG) == expected


def test_service_from_label_then_match_rules() -> None:
    assert service_for(alert(labels={"service": "cart"}), CONFIG) == "cart"
    assert service_for(alert(labels={"job": "checkout-api"}), CONFIG) == "checkout"
    assert service_for(alert(labels={"job": "unknown"}), CONFIG) is None


def test_grouping_rule_wins_over_source_group_then_fingerprint() -> None:
    by_rule = grouping_for(
        alert("generic", labels={"service": "orders"}), "orders", CONFIG.grouping
    )
    assert by_rule.rule == "generic-by-service" and by_rule.window == timedelta(minutes=30)
    same = grouping_for(
        alert("datadog", fingerprint="other", labels={"service": "orders"}),
        "orders",
        CONFIG.grouping,
    )
    assert same.key == by_rule.key
    by_source = grouping_for(alert("alertmanager", group_key="{}:{a}"), None, CONFIG.grouping)
    assert by_source.key.startswith("src:alertmanager:") and by_source.window is None
    alone = grouping_for(alert("alertmanager"), None, CONFIG.grouping)
    assert alone.key.startswith("fp:alertmanager:")


def test_maintenance_window_matches_service_labels_and_time() -> None:
    now = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    window = MaintenanceWindow(
        id="w",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
        labels={"env": "staging"},
    )
    assert maintenance_for(alert(labels={"env": "staging"}), None, [window], now) == window
    assert maintenance_for(alert(labels={"env": "prod"}), None, [window], now) is None
    assert (
        maintenance_for(alert(labels={"env": "staging"}), None, [window], now + timedelta(hours=2))
        is None
    )


def test_maintenance_window_needs_a_scope_and_an_order() -> None:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    with pytest.raises(ValueError, match="needs `services` or `labels`"):
        MaintenanceWindow(id="w", starts_at=now, ends_at=now + timedelta(hours=1))
    with pytest.raises(ValueError, match="ends_at must be after starts_at"):
        MaintenanceWindow(id="w", starts_at=now, ends_at=now, services=["a"])
