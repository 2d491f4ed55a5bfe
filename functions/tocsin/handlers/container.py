"""Wiring: the services of one Lambda container (or local-mode process), each built on first
use, so a function only pays at cold start for what its requests need (a re-delivered alert
needs the token store and the dedup store, nothing else)."""

from __future__ import annotations

import threading
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from tocsin.dal.dedup import DedupStore
from tocsin.dal.tokens import TokenStore
from tocsin.services.intake import IntakeService
from tocsin.settings import Settings, get_settings

if TYPE_CHECKING:
    from tocsin.dal.alerts import AlertRepository
    from tocsin.dal.artifacts import ArtifactStore
    from tocsin.dal.incidents import IncidentRepository
    from tocsin.dal.maintenance import MaintenanceRepository
    from tocsin.dal.raw import RawPayload
    from tocsin.dal.steps import StepStore
    from tocsin.domain.config import TocsinConfig
    from tocsin.integrations.registry import AdapterFactory
    from tocsin.services.incidents import IncidentService
    from tocsin.services.response import ResponseSteps
    from tocsin.services.settle import AlertSettler
    from tocsin.services.sla import SlaEnforcer


def confirm_sns_subscription(url: str) -> None:
    """GET the SubscribeURL (the SNS source only lets https://sns.<region>.amazonaws.com through)."""
    import urllib.request  # rarely needed: not worth its ~40 ms on every cold start

    with urllib.request.urlopen(url, timeout=5) as resp:
        resp.read()


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def config(self) -> TocsinConfig:
        from tocsin.config_loader import cached_config

        return cached_config(self.settings.config_dir)

    @cached_property
    def tokens(self) -> TokenStore:
        return TokenStore(self.settings.table_name)

    @cached_property
    def dedup(self) -> DedupStore:
        return DedupStore(self.settings.table_name)

    @cached_property
    def incident_repo(self) -> IncidentRepository:
        from tocsin.dal.incidents import IncidentRepository

        return IncidentRepository(self.settings.table_name)

    @cached_property
    def alert_repo(self) -> AlertRepository:
        from tocsin.dal.alerts import AlertRepository

        return AlertRepository(self.settings.table_name)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        from tocsin.dal.artifacts import ArtifactStore

        return ArtifactStore(self.settings.artifact_bucket, self.settings.table_name)

    @cached_property
    def maintenance(self) -> MaintenanceRepository:
        from tocsin.dal.maintenance import MaintenanceRepository

        return MaintenanceRepository(self.settings.table_name)

    @cached_property
    def incidents(self) -> IncidentService:
        from tocsin.adapters.workflow import StepFunctionsWorkflow
        from tocsin.services.incidents import IncidentService

        workflow = StepFunctionsWorkflow(self.settings.state_machine_arn)
        return IncidentService(self.incident_repo, self.alert_repo, workflow, self.config)

    @cached_property
    def steps(self) -> StepStore:
        from tocsin.dal.steps import StepStore

        return StepStore(self.settings.table_name)

    @cached_property
    def adapters(self) -> AdapterFactory:
        from tocsin.integrations.registry import AdapterFactory

        return AdapterFactory(self.config.integrations, self.settings.table_name)

    @cached_property
    def response(self) -> ResponseSteps:
        from tocsin.services.response import Adapters, ResponseSteps

        return ResponseSteps(
            self.config,
            self.incident_repo,
            self.alert_repo,
            self.steps,
            Adapters(self.adapters.get),
            self.incidents.clock,
            deliver=self.incidents.workflow.deliver_update,
        )

    @cached_property
    def sla(self) -> SlaEnforcer:
        from tocsin.services.sla import SlaEnforcer

        return SlaEnforcer(self.config, self.incident_repo, self.response)

    @cached_property
    def settler(self) -> AlertSettler:
        from tocsin.services.settle import AlertSettler

        return AlertSettler(
            self.alert_repo,
            self.dedup,
            self.incidents,
            self.maintenance,
            self.config,
            self.incidents.clock,
        )

    def raw_payload(self, source: str, body: bytes, received_at: datetime) -> RawPayload:
        from tocsin.dal.raw import RawPayload

        return RawPayload(
            self.settings.table_name, self.settings.artifact_bucket, source, body, received_at
        )

    @cached_property
    def intake(self) -> IntakeService:
        return IntakeService(
            self.dedup,
            settler=lambda: self.settler,
            artifacts=lambda: self.artifacts,
            raw_payload=self.raw_payload,
            confirm_subscription=confirm_sns_subscription,
        )


_lock = threading.Lock()
_container: Container | None = None


def container() -> Container:
    """The services of this process, created once."""
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                _container = Container(get_settings())
    return _container


def reset_container() -> None:
    global _container
    with _lock:
        _container = None
