"""Alert sources. One module per monitoring system, imported on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tocsin.domain.errors import UnknownSourceError

if TYPE_CHECKING:
    from tocsin.domain.alert_identity import AlertKey
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

#: source name -> module of its quick reader, `keys(body, headers) -> list[AlertKey] | None`:
#: the identities of a payload's alerts, read without pydantic, or None when it cannot vouch
#: that the source's full parse accepts the payload and reads the same identities (the
#: intake then parses it fully). A re-delivered alert then costs no pydantic at cold start.
QUICK_READERS: dict[str, str] = {
    "generic": "tocsin.sources.generic_quick",
}

HTTP_SOURCES = tuple(name for name in SOURCES if name != "eventbridge")


def get_source(name: str) -> SourceModule:
    try:
        module_name = SOURCES[name]
    except KeyError:
        known = ", ".join(HTTP_SOURCES)
        raise UnknownSourceError(f"unknown alert source {name!r} (known: {known})") from None
    return importlib.import_module(module_name)  # type: ignore[return-value]


def quick_keys(name: str, body: Any, headers: Mapping[str, str]) -> list[AlertKey] | None:
    """The identities of the payload's alerts if the source has a quick reader that vouches
    for this payload, else None (see QUICK_READERS)."""
    module_name = QUICK_READERS.get(name)
    if module_name is None:
        return None
    keys: Callable[[Any, Mapping[str, str]], list[AlertKey] | None]
    keys = importlib.import_module(module_name).keys
    return keys(body, headers)
