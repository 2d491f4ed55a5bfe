"""Which adapter serves each port: built from the `integrations` configuration and the
credentials in AWS Secrets Manager. `local` (the default) records what it would have sent."""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from tocsin.domain.response import IntegrationConfig, Integrations
from tocsin.integrations.ports import PermanentIntegrationError, RetryableIntegrationError

#: port -> provider -> module implementing it (imported only when used)
PROVIDERS: dict[str, dict[str, str]] = {
    "chat": {
        "local": "tocsin.integrations.local",
        "slack": "tocsin.integrations.slack",
        "teams": "tocsin.integrations.teams",
        "teams_webhook": "tocsin.integrations.teams",
    },
    "conferencing": {
        "local": "tocsin.integrations.local",
        "zoom": "tocsin.integrations.zoom",
        "google_meet": "tocsin.integrations.google_meet",
    },
    "ticketing": {
        "local": "tocsin.integrations.local",
        "jira": "tocsin.integrations.jira",
        "asana": "tocsin.integrations.asana",
    },
}

#: modules holding several providers list them in an ADAPTERS dict: provider ->
#: {"Options", "SECRET_KEYS", "build"} (teams.py: "teams" and "teams_webhook"; local.py: per port)


class Provider:
    """What the registry needs from an adapter module for one provider."""

    def __init__(self, port: str, name: str) -> None:
        self.port = port
        self.name = name
        module = importlib.import_module(PROVIDERS[port][name])
        self.module: ModuleType = module
        spec = getattr(module, "ADAPTERS", {}).get(name)  # modules with several providers
        if spec is None and name == "local":
            spec = module.ADAPTERS[port]
        self.options_model = spec["Options"] if spec else module.Options
        self.secret_keys: tuple[str, ...] = spec["SECRET_KEYS"] if spec else module.SECRET_KEYS
        self._build = spec["build"] if spec else module.build

    def build(self, options: Any, secret: Mapping[str, str]) -> Any:
        return self._build(options, secret)


def option_problems(integrations: Integrations) -> list[tuple[str, tuple[Any, ...], str]]:
    """(port, location, message) for every integration whose provider is unknown, whose
    options do not fit the adapter, or that needs a secret and names none."""
    problems: list[tuple[str, tuple[Any, ...], str]] = []
    for port in PROVIDERS:
        cfg: IntegrationConfig = getattr(integrations, port)
        if cfg.provider not in PROVIDERS[port]:
            known = ", ".join(sorted(PROVIDERS[port]))
            problems.append(
                (port, ("provider",), f"unknown provider {cfg.provider!r} (known: {known})")
            )
            continue
        try:
            provider = Provider(port, cfg.provider)
        except ImportError as exc:
            problems.append((port, ("provider",), f"adapter {cfg.provider!r} cannot load: {exc}"))
            continue
        try:
            provider.options_model.model_validate(cfg.options)
        except ValidationError as exc:
            for err in exc.errors():
                problems.append((port, ("options", *err["loc"]), err["msg"]))
        if provider.secret_keys and not cfg.secret:
            keys = ", ".join(provider.secret_keys)
            problems.append(
                (
                    port,
                    ("secret",),
                    f"{cfg.provider} needs `secret`: the name of a Secrets Manager "
                    f"secret holding a JSON object with {keys}",
                )
            )
    return problems


class SecretStore:
    """JSON secrets from AWS Secrets Manager, cached for `ttl` seconds (rotation shows up
    within that time). Values are never logged."""

    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self._cache: dict[str, tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def get(self, secret_id: str) -> dict[str, str]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(secret_id)
            if hit and now - hit[0] < self.ttl:
                return hit[1]
        from botocore.exceptions import BotoCoreError, ClientError

        from tocsin.dal.aws import client

        try:
            raw = client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"ThrottlingException", "InternalServiceError"}:
                raise RetryableIntegrationError("secretsmanager", f"{secret_id}: {code}") from None
            raise PermanentIntegrationError(
                "secretsmanager", f"secret {secret_id!r}: {code}"
            ) from None
        except BotoCoreError as exc:
            raise RetryableIntegrationError(
                "secretsmanager", f"{secret_id}: {type(exc).__name__}"
            ) from None
        try:
            value = json.loads(raw)
        except ValueError:
            raise PermanentIntegrationError(
                "secretsmanager", f"secret {secret_id!r} is not a JSON object"
            ) from None
        if not isinstance(value, dict):
            raise PermanentIntegrationError(
                "secretsmanager", f"secret {secret_id!r} is not a JSON object"
            )
        secret = {str(k): str(v) for k, v in value.items()}
        with self._lock:
            self._cache[secret_id] = (now, secret)
        return secret


class AdapterFactory:
    """The adapter of each port, built on first use and rebuilt when its secret's cache
    entry expires (so a rotated token is picked up)."""

    def __init__(
        self, integrations: Integrations, table: str, secrets: SecretStore | None = None
    ) -> None:
        self.integrations = integrations
        self.table = table
        self.secrets = secrets or SecretStore()
        self._built: dict[str, tuple[dict[str, str], Any]] = {}
        self._lock = threading.Lock()

    def provider_name(self, port: str) -> str:
        cfg: IntegrationConfig = getattr(self.integrations, port)
        return cfg.provider

    def get(self, port: str) -> Any:
        cfg: IntegrationConfig = getattr(self.integrations, port)
        provider = Provider(port, cfg.provider)
        if cfg.provider == "local":
            secret: dict[str, str] = {"table": self.table}
        else:
            secret = self.secrets.get(cfg.secret) if cfg.secret else {}
            missing = [key for key in provider.secret_keys if not secret.get(key)]
            if missing:
                raise PermanentIntegrationError(
                    cfg.provider, f"secret {cfg.secret!r} lacks {', '.join(missing)}"
                )
        with self._lock:
            built = self._built.get(port)
            if built and built[0] == secret:
                return built[1]
            adapter = provider.build(provider.options_model.model_validate(cfg.options), secret)
            self._built[port] = (secret, adapter)
            return adapter
