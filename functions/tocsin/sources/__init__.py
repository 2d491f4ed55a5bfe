"""Alert sources. One module per monitoring system, imported on first use."""

from __future__ import annotations

import importlib

from tocsin.domain.errors import UnknownSourceError
from tocsin.sources.base import SourceModule

#: source name in the URL (`POST /v1/alerts/{source}`) -> module
SOURCES: dict[str, str] = {
    "alertmanager": "tocsin.sources.alertmanager",
    "grafana": "tocsin.sources.grafana",
    "datadog": "tocsin.sources.datadog",
    "sentry": "tocsin.sources.sentry",
    "newrelic": "tocsin.sources.newrelic",
    "cloudwatch": "tocsin.sources.cloudwatch",
    "generic": "tocsin.sources.generic",
    # EventBridge deliveries (not HTTP routes): CloudWatch alarm state changes, AWS Health
    "eventbridge": "tocsin.sources.eventbridge",
}

HTTP_SOURCES = tuple(name for name in SOURCES if name != "eventbridge")


def get_source(name: str) -> SourceModule:
    try:
        module_name = SOURCES[name]
    except KeyError:
        known = ", ".join(HTTP_SOURCES)
        raise UnknownSourceError(f"unknown alert source {name!r} (known: {known})") from None
    return importlib.import_module(module_name)  # type: ignore[return-value]
