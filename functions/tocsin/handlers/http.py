"""Shared HTTP plumbing: one resolver class, bearer-token auth, domain errors -> status codes."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import UnauthorizedError
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from tocsin.domain.action_items import ActionItemNotFoundError
from tocsin.domain.errors import (
    IncidentNotFoundError,
    InvalidRequestError,
    InvalidTransitionError,
    MaintenanceWindowNotFoundError,
    QuarantineNotFoundError,
    StatusPageNotFoundError,
    UnknownSourceError,
    VersionConflictError,
)
from tocsin.domain.timeline import Actor, ActorKind
from tocsin.handlers.auth import bearer_token
from tocsin.handlers.container import container
from tocsin.services.intake import PayloadRejectedError

logger = Logger(service="tocsin")


def user(name: str | None) -> Actor:
    """The actor of an API request: the person it names, else the API token itself."""
    return Actor(kind=ActorKind.USER, id=name or "api")


def json_error(status: int, message: str, **extra: Any) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": message, **extra},
    )


class ThreadSafeHttpResolver(APIGatewayHttpResolver):
    """Powertools keeps the current event, Lambda context and route context on the resolver
    (the event even on the BaseRouter class). Lambda runs one event per process at a time, so
    that is fine there; the local mode serves concurrent requests from threads of one process,
    so each thread gets its own copy here. Reads go through these properties, which shadow the
    class attributes that `resolve` also sets."""

    def _tls(self) -> threading.local:
        tls: threading.local | None = self.__dict__.get("_thread_state")
        if tls is None:
            tls = self.__dict__.setdefault("_thread_state", threading.local())
        return tls

    @property  # type: ignore[override]
    def current_event(self) -> Any:
        return getattr(self._tls(), "event", None)

    @current_event.setter
    def current_event(self, value: Any) -> None:
        self._tls().event = value

    @property  # type: ignore[override]
    def lambda_context(self) -> Any:
        return getattr(self._tls(), "lambda_context", None)

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._tls().lambda_context = value

    @property  # type: ignore[override]
    def context(self) -> dict[str, Any]:
        tls = self._tls()
        if not hasattr(tls, "context"):
            tls.context = {}
        return tls.context  # type: ignore[no-any-return]

    @context.setter
    def context(self, value: dict[str, Any]) -> None:
        self._tls().context = value

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        self.current_event = self._to_proxy_event(dict(event))
        self.lambda_context = context
        return super().resolve(event, context)


def new_resolver(validation: bool = True) -> APIGatewayHttpResolver:
    """`validation` turns on Powertools' request/response validation (and its OpenAPI models,
    about 100 ms of cold start); the intake route takes only a path parameter and skips it."""
    app = ThreadSafeHttpResolver(enable_validation=validation)

    @app.exception_handler(UnauthorizedError)
    def _unauthorized(exc: UnauthorizedError) -> Response[Any]:
        return json_error(401, str(exc.msg))

    @app.exception_handler(IncidentNotFoundError)
    @app.exception_handler(QuarantineNotFoundError)
    @app.exception_handler(MaintenanceWindowNotFoundError)
    @app.exception_handler(StatusPageNotFoundError)
    @app.exception_handler(UnknownSourceError)
    @app.exception_handler(ActionItemNotFoundError)
    def _not_found(exc: Exception) -> Response[Any]:
        return json_error(404, str(exc))

    @app.exception_handler(VersionConflictError)
    def _conflict(exc: VersionConflictError) -> Response[Any]:
        return json_error(409, str(exc))

    @app.exception_handler(InvalidTransitionError)
    def _invalid(exc: InvalidTransitionError) -> Response[Any]:
        return json_error(422, str(exc))

    @app.exception_handler(InvalidRequestError)
    def _bad_request(exc: InvalidRequestError) -> Response[Any]:
        return json_error(400, str(exc))

    @app.exception_handler(PayloadRejectedError)
    def _rejected(exc: PayloadRejectedError) -> Response[Any]:
        logger.warning(
            "payload quarantined",
            extra={"quarantine_id": exc.quarantine_id, "status": exc.status_code},
        )
        return json_error(exc.status_code, exc.message, quarantine_id=exc.quarantine_id)

    return app


def require_token(app: APIGatewayHttpRouter, name: str) -> None:
    # the API takes its token in the header only; `?token=` is for integrations that cannot
    # set headers (URLs end up in logs)
    if not container().tokens.verify(name, bearer_token(app.current_event.headers, None)):
        raise UnauthorizedError("missing or invalid bearer token")
