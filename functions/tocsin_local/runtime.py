"""The embedded local mode: moto as the AWS backend, the real ASL executed, our handlers
invoked in-process, and a gateway on 127.0.0.1 exposing the same routes as API Gateway."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from werkzeug.serving import BaseWSGIServer, make_server

from tocsin_local import patches
from tocsin_local.gateway import LocalGateway
from tocsin_local.provision import REGION, Resources, provision

ENV_TOKEN = "TOCSIN_TOKEN"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reset_runtime_caches() -> None:
    """Clients, settings and services are cached per process; a new backend needs new ones."""
    from tocsin.config_loader import cached_config
    from tocsin.dal.aws import reset_clients
    from tocsin.handlers.container import reset_container
    from tocsin.settings import get_settings

    reset_clients()
    get_settings.cache_clear()
    reset_container()
    cached_config.cache_clear()


@dataclass
class LocalTocsin:
    port: int = 0
    token: str | None = None
    sweep_interval: float = 5.0
    #: SQS event source mappings delivered on a background thread, as on AWS (SendMessage
    #: returns first) instead of inside SendMessage; None: TOCSIN_LOCAL_ASYNC_QUEUES, else off
    async_queues: bool | None = None
    base_url: str = ""
    resources: Resources | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _servers: list[BaseWSGIServer] = field(default_factory=list)
    _moto: object | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> LocalTocsin:
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        patches.apply()
        if self.async_queues is None:
            self.async_queues = patches.async_queues_from_env(default=False)
        patches.set_async_queues(self.async_queues)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # metrics are off locally; Powertools still warns on every flush that none were added
        warnings.filterwarnings("ignore", "No application metrics to publish")
        self.token = self.token or os.environ.get(ENV_TOKEN) or "tcn_" + secrets.token_urlsafe(24)
        moto_port = free_port()
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
                "MOTO_PORT": str(moto_port),
                "POWERTOOLS_SERVICE_NAME": "tocsin",
                "POWERTOOLS_METRICS_NAMESPACE": "Tocsin",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_DEV": "false",
                "POWERTOOLS_METRICS_DISABLED": os.environ.get(
                    "POWERTOOLS_METRICS_DISABLED", "true"
                ),
                "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
            }
        )
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
        server.start()
        self._moto = server
        reset_runtime_caches()
        self.resources = provision(self.token)
        port = self.port or free_port()
        os.environ.update(
            {
                "TOCSIN_TABLE": self.resources.table,
                "TOCSIN_ARTIFACT_BUCKET": self.resources.bucket,
                "TOCSIN_STATE_MACHINE_ARN": self.resources.state_machine_arn,
                "TOCSIN_ESCALATION_STATE_MACHINE_ARN": (
                    self.resources.escalation_state_machine_arn
                ),
                "TOCSIN_SIGNING_KEY_NAME": self.resources.signing_secret,
                "TOCSIN_STATUS_BUCKET": self.resources.status_bucket,
                "TOCSIN_STATUS_COOKIE_KEY_NAME": self.resources.status_cookie_secret,
                "TOCSIN_CHATOPS_QUEUE_URL": self.resources.chatops_queue_url,
                # links in pages (acknowledge) point at this gateway
                "TOCSIN_PUBLIC_URL": f"http://127.0.0.1:{port}",
            }
        )
        reset_runtime_caches()
        from tocsin.routes import HANDLERS

        patches.import_handlers(sorted(set(HANDLERS.values())))
        app = LocalGateway()
        app.cookie_public_key = self.resources.status_cookie_public_key
        gateway = make_server("127.0.0.1", port, app, threaded=True)
        self._servers.append(gateway)
        self._spawn(gateway.serve_forever, "gateway")
        # the status pages exist from the start (the sweeper keeps them current)
        from tocsin.handlers.container import container

        container().status_pages.ensure_published()
        self._spawn(self._sweep_loop, "sweeper")
        self._spawn(self._scheduler_loop, "scheduler")
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def _spawn(self, target: object, name: str) -> None:
        thread = threading.Thread(target=target, name=f"tocsin-{name}", daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _sweep_loop(self) -> None:
        from tocsin.handlers.sweeper import handler

        from tocsin_local.patches import FakeLambdaContext

        while not self._stop.wait(self.sweep_interval):
            try:
                handler({}, FakeLambdaContext("sweeper"))
            except Exception as exc:  # keep the loop alive; report like a failed invocation
                print(f"[local] sweeper failed: {exc}")

    def _scheduler_loop(self) -> None:
        """EventBridge Scheduler's part (its schedules never fire under moto): the action
        item reminders' hourly run, on the hour in their time zone, as infra/events.py."""
        from datetime import UTC, datetime

        from tocsin.handlers.container import container

        while True:
            now = datetime.now(UTC)
            wait = (container().config.action_items.reminders.next_run(now) - now).total_seconds()
            if self._stop.wait(max(wait, 1.0)):
                return
            try:
                self.remind_now()
            except Exception as exc:  # as a failed invocation: the next hour runs again
                print(f"[local] action item reminders failed: {exc}")

    def remind_now(self) -> dict[str, object]:
        """Run the action item reminders now (what the schedule invokes)."""
        from tocsin.handlers.sweeper import REMINDERS_TASK, handler

        from tocsin_local.patches import FakeLambdaContext

        return handler({"task": REMINDERS_TASK}, FakeLambdaContext("sweeper"))  # type: ignore[no-any-return]

    def sweep_now(self) -> dict[str, object]:
        from tocsin.handlers.sweeper import handler

        from tocsin_local.patches import FakeLambdaContext

        return handler({}, FakeLambdaContext("sweeper"))  # type: ignore[no-any-return]

    def stop(self) -> None:
        self._stop.set()
        for server in self._servers:
            server.shutdown()
        patches.stop_queue_consumers()
        patches.set_async_queues(False)
        if self._moto is not None:
            self._moto.stop()  # type: ignore[attr-defined]

    def wait_for_queues(self, timeout: float = 30.0) -> bool:
        """Until the queues delivered in the background are empty: every queued job done (or,
        having failed maxReceiveCount times, in its dead-letter queue). At once when delivery
        is synchronous (the job ran inside SendMessage)."""
        return patches.drain_queues(timeout)

    def wait_for_executions(self, timeout: float = 30.0, escalations: bool = False) -> bool:
        """Until no response workflow (and, with `escalations`, no escalation) is running
        (the demo and tests read settled state). New incidents start theirs from the table's
        stream, delivered in the background when queues are: those are waited for first."""
        import boto3

        deadline = time.monotonic() + timeout
        if not patches.drain_queues(timeout):
            return False
        sfn = boto3.client("stepfunctions", region_name=REGION)
        assert self.resources is not None
        machines = [self.resources.state_machine_arn]
        if escalations:
            machines.append(self.resources.escalation_state_machine_arn)
        while time.monotonic() < deadline:
            if not any(
                sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
                for arn in machines
            ):
                return True
            time.sleep(0.1)
        return False


@contextmanager
def running(
    port: int = 0,
    token: str | None = None,
    sweep_interval: float = 5.0,
    async_queues: bool | None = None,
) -> Iterator[LocalTocsin]:
    local = LocalTocsin(
        port=port, token=token, sweep_interval=sweep_interval, async_queues=async_queues
    ).start()
    try:
        yield local
    finally:
        local.stop()
