"""Wiring: build the services once per Lambda container (or local-mode process)."""

from __future__ import annotations

import threading
import urllib.request
from dataclasses import dataclass
from functools import cache

from tocsin.adapters.workflow import StepFunctionsWorkflow
from tocsin.config_loader import cached_config
from tocsin.dal.alerts import AlertRepository
from tocsin.dal.artifacts import ArtifactStore
from tocsin.dal.incidents import IncidentRepository
from tocsin.dal.maintenance import MaintenanceRepository
from tocsin.dal.tokens import TokenStore
from tocsin.domain.config import TocsinConfig
from tocsin.services.incidents import IncidentService
from tocsin.services.intake import IntakeService
from tocsin.settings import get_settings


def confirm_sns_subscription(url: str) -> None:
    """GET the SubscribeURL (the SNS source module only lets through https://sns.<region>.amazonaws.com)."""
    with urllib.request.urlopen(url, timeout=5) as resp:
        resp.read()


@dataclass(frozen=True)
class Container:
    config: TocsinConfig
    tokens: TokenStore
    incident_repo: IncidentRepository
    alert_repo: AlertRepository
    artifacts: ArtifactStore
    maintenance: MaintenanceRepository
    incidents: IncidentService
    intake: IntakeService


_lock = threading.Lock()


@cache
def _build() -> Container:
    settings = get_settings()
    config = cached_config(settings.config_dir)
    incident_repo = IncidentRepository(settings.table_name)
    alert_repo = AlertRepository(settings.table_name)
    artifacts = ArtifactStore(settings.artifact_bucket, settings.table_name)
    maintenance = MaintenanceRepository(settings.table_name)
    incidents = IncidentService(
        incident_repo, alert_repo, StepFunctionsWorkflow(settings.state_machine_arn), config
    )
    intake = IntakeService(
        alert_repo,
        incidents,
        artifacts,
        maintenance,
        config,
        confirm_subscription=confirm_sns_subscription,
    )
    return Container(
        config=config,
        tokens=TokenStore(settings.table_name),
        incident_repo=incident_repo,
        alert_repo=alert_repo,
        artifacts=artifacts,
        maintenance=maintenance,
        incidents=incidents,
        intake=intake,
    )


def container() -> Container:
    """The services of this process, built on first use (once, even under concurrent calls)."""
    with _lock:
        return _build()


container.cache_clear = _build.cache_clear  # type: ignore[attr-defined]
