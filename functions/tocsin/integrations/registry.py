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

from tocsin.domain.oncall import PagingConfig
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
    "paging": {
        "local": "tocsin.integrations.local_paging",
        "sns": "tocsin.integrations.sns_sms",
        "ses": "tocsin.integrations.ses_email",
        "pagerduty": "tocsin.integrations.pagerduty",
        "opsgenie": "tocsin.integrations.opsgenie",
    },
}
#: the ports configured under `integrations:` (paging has its own section, per method)
INTEGRATION_PORTS = ("chat", "conferencing", "ticketing")
#: paging method -> providers that can serve it. `chat` pages through the chat integration.
PAGING_METHODS: dict[str, tuple[str, ...]] = {
    "chat": ("chat",),
    "sms": ("sns", "local"),
    "email": ("ses", "local"),
    "pagerduty": ("pagerduty", "local"),
    "opsgenie": ("opsgenie", "local"),
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
        if spec is None and name == "local" and hasattr(module, "ADAPTERS"):
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
    for port in INTEGRATION_PORTS:
        cfg: IntegrationConfig = getattr(integrations, port)
        problems += [(port, loc, msg) for loc, msg in _provider_problems(port, cfg)]
    return problems


def paging_problems(paging: PagingConfig) -> list[tuple[tuple[Any, ...], str]]:
    """(location under `paging`, message) for every paging method badly configured."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    for method, cfg in paging.methods.items():
        where = ("methods", method)
        if method not in PAGING_METHODS:
            known = ", ".join(PAGING_METHODS)
            problems.append((where, f"unknown paging method {method!r} (known: {known})"))
            continue
        if cfg.provider not in PAGING_METHODS[method]:
            known = ", ".join(PAGING_METHODS[method])
            problems.append(
                ((*where, "provider"), f"{method} is sent by {known}, not {cfg.provider!r}")
            )
            continue
        if cfg.provider == "chat":
            continue
        problems += [((*where, *loc), msg) for loc, msg in _provider_problems("paging", cfg)]
    return problems


def _provider_problems(port: str, cfg: IntegrationConfig) -> list[tuple[tuple[Any, ...], str]]:
    if cfg.provider not in PROVIDERS[port]:
        known = ", ".join(sorted(PROVIDERS[port]))
        return [(("provider",), f"unknown provider {cfg.provider!r} (known: {known})")]
    try:
        provider = Provider(port, cfg.provider)
    except ImportError as exc:
        return [(("provider",), f"adapter {cfg.provider!r} cannot load: {exc}")]
    problems: list[tuple[tuple[Any, ...], str]] = []
    try:
        provider.options_model.model_validate(cfg.options)
    except ValidationError as exc:
        problems += [(("options", *err["loc"]), err["msg"]) for err in exc.errors()]
    if provider.secret_keys and not cfg.secret:
        keys = ", ".join(provider.secret_keys)
        problems.append(
            (
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
        self,
        integrations: Integrations,
        table: str,
        secrets: SecretStore | None = None,
        paging: PagingConfig | None = None,
    ) -> None:
        self.integrations = integrations
        self.paging = paging or PagingConfig()
        self.table = table
        self.secrets = secrets or SecretStore()
        self._built: dict[str, tuple[dict[str, str], Any]] = {}
        self._lock = threading.Lock()

    def provider_name(self, port: str) -> str:
        cfg: IntegrationConfig = getattr(self.integrations, port)
        return cfg.provider

    def get(self, port: str) -> Any:
        cfg: IntegrationConfig = getattr(self.integrations, port)
        return self._adapter(port, port, cfg, {"table": self.table})

    def pager(self, method: str) -> Any:
        """The PagingPort of a paging method (sms, email, chat, pagerduty, opsgenie)."""
        cfg = self.paging.method(method)
        if cfg.provider == "chat":
            from tocsin.integrations.chat_paging import ChatPaging

            return ChatPaging(self.get("chat"))
        return self._adapter(
            f"paging.{method}", "paging", cfg, {"table": self.table, "method": method}
        )

    def _adapter(self, key: str, port: str, cfg: IntegrationConfig, local: dict[str, str]) -> Any:
        provider = Provider(port, cfg.provider)
        if cfg.provider == "local":
            secret: dict[str, str] = local
        else:
            secret = self.secrets.get(cfg.secret) if cfg.secret else {}
            missing = [key for key in provider.secret_keys if not secret.get(key)]
            if missing:
                raise PermanentIntegrationError(
                    cfg.provider, f"secret {cfg.secret!r} lacks {', '.join(missing)}"
                )
        with self._lock:
            built = self._built.get(key)
            if built and built[0] == secret:
                return built[1]
            adapter = provider.build(provider.options_model.model_validate(cfg.options), secret)
            self._built[key] = (secret, adapter)
            return adapter
