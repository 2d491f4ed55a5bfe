"""Wiring: the services of one Lambda container (or local-mode process), each built on first
use, so a function only pays at cold start for what its requests need (a re-delivered alert
needs the token store and the dedup store, nothing else)."""

from __future__ import annotations

import threading
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from tocsin.dal.dedup import DedupStore
from tocsin.dal.tokens import TokenStore
from tocsin.services.intake import IntakeService
from tocsin.settings import Settings, get_settings

if TYPE_CHECKING:
    from tocsin.dal.alerts import AlertRepository
    from tocsin.dal.artifacts import ArtifactStore
    from tocsin.dal.chatops import EventReceipts
    from tocsin.dal.incidents import IncidentRepository
    from tocsin.dal.maintenance import MaintenanceRepository
    from tocsin.dal.raw import RawPayload
    from tocsin.dal.statuspage import ViewerStore
    from tocsin.dal.steps import StepStore
    from tocsin.domain.config import TocsinConfig
    from tocsin.domain.incidents import Incident
    from tocsin.integrations.registry import AdapterFactory
    from tocsin.services.action_items import ActionItemService
    from tocsin.services.capture import CaptureService
    from tocsin.services.chatops import ChatOps
    from tocsin.services.escalation import EscalationService
    from tocsin.services.incidents import IncidentService
    from tocsin.services.oncall import OnCallService
    from tocsin.services.postmortem import PostmortemService
    from tocsin.services.response import ResponseSteps
    from tocsin.services.roles import RoleService
    from tocsin.services.runbooks import RunbookService
    from tocsin.services.settle import AlertSettler
    from tocsin.services.signing import Signer
    from tocsin.services.sla import SlaEnforcer
    from tocsin.services.statuspage import StatusPageService


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
        from tocsin.domain.timeline import Actor
        from tocsin.services.incidents import IncidentService

        workflow = StepFunctionsWorkflow(self.settings.state_machine_arn)
        service = IncidentService(self.incident_repo, self.alert_repo, workflow, self.config)
        actor = Actor.system("resolution")

        # resolving ends paging (escalations are only looked at when the incident resolves)
        def end_paging(incident: Incident) -> None:
            self.escalations.stop(incident.id, "resolved", actor)

        service.on_resolved.append(end_paging)

        def acknowledged(incident: Incident, by: Actor) -> None:
            self.escalations.stop(incident.id, "acknowledged", by)

        service.on_acknowledged.append(acknowledged)
        return service

    @cached_property
    def steps(self) -> StepStore:
        from tocsin.dal.steps import StepStore

        return StepStore(self.settings.table_name)

    @cached_property
    def adapters(self) -> AdapterFactory:
        from tocsin.integrations.registry import AdapterFactory

        return AdapterFactory(
            self.config.integrations, self.settings.table_name, paging=self.config.paging
        )

    @cached_property
    def escalations(self) -> EscalationService:
        from tocsin.adapters.workflow import StepFunctionsEscalations
        from tocsin.dal.oncall import EscalationStore
        from tocsin.domain.timeline import Actor
        from tocsin.services.escalation import EscalationService
        from tocsin.services.incidents import IncidentChange

        def change_status(incident_id: str, status: Any, actor: Actor) -> Any:
            def decide(incident: Any) -> IncidentChange | None:
                if incident.status.value != "triggered":
                    return None
                return IncidentChange(status=status, reason="paging acknowledged")

            return self.incidents.change_with_retry(incident_id, decide, actor)

        runner = StepFunctionsEscalations(self.settings.escalation_state_machine_arn)

        return EscalationService(
            self.config,
            self.incident_repo,
            EscalationStore(self.settings.table_name),
            self.steps,
            self.adapters.pager,
            lambda: self.signer,
            self.oncall.on_call,
            lambda: runner,
            self.public_url,
            change_status=change_status,
            clock=self.incidents.clock,
        )

    @cached_property
    def roles(self) -> RoleService:
        from tocsin.dal.oncall import RoleStore
        from tocsin.services.roles import RoleService

        return RoleService(
            self.config,
            self.incident_repo,
            RoleStore(self.settings.table_name),
            self.oncall.on_call,
            clock=self.incidents.clock,
        )

    @cached_property
    def oncall(self) -> OnCallService:
        from tocsin.dal.oncall import OverrideStore
        from tocsin.services.oncall import OnCallService

        return OnCallService(self.config, OverrideStore(self.settings.table_name))

    @property
    def signer(self) -> Signer:
        """Signs ack and calendar links; its secret is cached (and re-read after rotation)."""
        from tocsin.services.signing import signer_from_secret

        if not self.settings.signing_secret:
            raise RuntimeError(
                "TOCSIN_SIGNING_KEY_NAME is not set: signed links (acknowledgement, calendars) "
                "need the signing secret the stack creates"
            )
        return signer_from_secret(self.adapters.secrets.get(self.settings.signing_secret))

    def public_url(self) -> str:
        return self.config.paging.public_url or self.settings.public_url or "http://localhost"

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
            escalations=lambda: self.escalations,
            roles=lambda: self.roles,
            status_pages=lambda: self.status_pages,
            runbooks=lambda: self.runbooks,
            postmortems=lambda: self.postmortems,
        )

    @cached_property
    def status_pages(self) -> StatusPageService:
        from tocsin.dal.statuspage import StatusPageStore
        from tocsin.domain.statuspage import StatusPageConfig
        from tocsin.services.statuspage import StatusPageService

        def base_url(page: StatusPageConfig) -> str:
            if page.url:
                return page.url.rstrip("/")
            root = self.settings.status_url or self.public_url()
            return f"{root.rstrip('/')}/status/{page.id}"

        return StatusPageService(
            self.config,
            StatusPageStore(self.settings.table_name),
            self.settings.status_bucket,
            base_url,
            self.incident_repo,
            clock=self.incidents.clock,
        )

    @cached_property
    def action_items(self) -> ActionItemService:
        from tocsin.dal.actions import ActionItemStore
        from tocsin.services.action_items import ActionItemService

        return ActionItemService(
            self.config,
            ActionItemStore(self.settings.table_name),
            self.incident_repo,
            self.adapters.get,
            self.public_url,
            clock=self.incidents.clock,
        )

    @cached_property
    def chatops(self) -> ChatOps:
        from tocsin.dal.chatops import ChannelDirectory, DraftStore
        from tocsin.services.chatops import ChatOps

        table = self.settings.table_name
        return ChatOps(
            self.config,
            self.incident_repo,
            self.steps,
            ChannelDirectory(table),
            DraftStore(table),
            status_pages=lambda: self.status_pages,
            roles=lambda: self.roles,
            incident_service=lambda: self.incidents,
            escalations=lambda: self.escalations,
            response=lambda: self.response,
            action_items=lambda: self.action_items,
            runbooks=lambda: self.runbooks,
            postmortems=lambda: self.postmortems,
            clock=self.incidents.clock,
        )

    @cached_property
    def chat_event_receipts(self) -> EventReceipts:
        from tocsin.dal.chatops import EventReceipts

        return EventReceipts(self.settings.table_name)

    @cached_property
    def capture(self) -> CaptureService:
        """The incident channels' transcript; files are fetched with the chat integration's
        credentials (Slack: the bot token, from Slack's file host only)."""
        from tocsin.dal.chatops import ChannelDirectory
        from tocsin.services.capture import CaptureService

        def fetch(provider: str, file: Any, max_bytes: int) -> bytes:
            from tocsin.integrations import slack
            from tocsin.integrations.ports import PermanentIntegrationError
            from tocsin.integrations.slack_events import download_file

            chat = self.config.integrations.chat
            if provider != slack.PROVIDER or chat.provider != provider or not chat.secret:
                raise PermanentIntegrationError(provider, "no file download for this chat tool")
            token = str(self.adapters.secrets.get(chat.secret).get("bot_token") or "")
            if not token:
                raise PermanentIntegrationError(provider, "the chat secret has no bot_token")
            options = slack.Options.model_validate(chat.options)
            return download_file(options, token, file, max_bytes)

        def store(incident_id: str, provider: str, file: Any, body: bytes) -> str:
            return self.artifacts.store_chat_file(
                incident_id, provider, file.id, file.name, body, file.mimetype
            )

        return CaptureService(
            self.config,
            self.incident_repo,
            ChannelDirectory(self.settings.table_name),
            fetch,
            store,
        )

    @cached_property
    def postmortems(self) -> PostmortemService:
        from tocsin.dal.actions import ActionItemStore
        from tocsin.dal.postmortems import PostmortemStore
        from tocsin.services.postmortem import PostmortemService

        table = self.settings.table_name
        return PostmortemService(
            self.config,
            self.incident_repo,
            self.alert_repo,
            ActionItemStore(table),
            PostmortemStore(table, self.settings.artifact_bucket),
            self.steps.set_links,
            roles=lambda: self.roles,
            status_pages=lambda: self.status_pages.store,
            runbooks=lambda: self.runbooks,
            public_url=self.public_url,
            config_dir=self.settings.config_dir,
            clock=self.incidents.clock,
            signer=(lambda: self.signer) if self.settings.signing_secret else None,
        )

    @cached_property
    def runbooks(self) -> RunbookService:
        from tocsin.dal.runbooks import RunbookStore
        from tocsin.runbook_loader import usable_runbooks
        from tocsin.services.runbooks import RunbookService

        return RunbookService(
            self.config,
            lambda: usable_runbooks(self.config, self.settings.config_dir),
            RunbookStore(self.settings.table_name),
            self.incident_repo,
            self.alert_repo,
            lambda: self.signer,
            self.public_url,
            clock=self.incidents.clock,
        )

    @cached_property
    def status_viewers(self) -> ViewerStore:
        from tocsin.dal.statuspage import ViewerStore

        return ViewerStore(self.settings.table_name)

    def status_cookies(self, resource: str, expires: datetime) -> dict[str, str]:
        """CloudFront signed cookies for `resource` (private status pages). The key is the
        secret `TOCSIN_STATUS_COOKIE_KEY_NAME` names: {"private_key": PEM, "key_pair_id": …}."""
        from tocsin.services.cloudfront_cookies import (
            PUBLIC_KEY_FILE,
            sign_cookies,
            signing_key_from_secret,
        )

        if not self.settings.status_cookie_secret:
            raise RuntimeError(
                "TOCSIN_STATUS_COOKIE_KEY_NAME is not set: private status pages need the "
                "cookie signing key (docs/status-pages.md)"
            )
        secret = self.adapters.secrets.get(self.settings.status_cookie_secret)
        # the stack names the key CloudFront trusts (its public half ships in config/); local
        # mode keeps its throwaway key pair's id in the secret
        key_pair_id = self.settings.status_key_pair_id or str(secret.get("key_pair_id", ""))
        public = self.settings.config_dir / PUBLIC_KEY_FILE
        deployed = (
            public.read_bytes() if self.settings.status_key_pair_id and public.is_file() else None
        )
        private_key = signing_key_from_secret(secret, deployed)
        return sign_cookies(private_key, key_pair_id, resource, expires)

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
