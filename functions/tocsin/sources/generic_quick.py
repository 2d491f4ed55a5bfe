"""The generic source's quick reader: the identities of a payload's alerts without pydantic.

It vouches only for payloads of the plainest shape (string fields, string label values, no
links or times), and only when `tocsin.sources.generic.parse` accepts them and reads the same
fingerprints and statuses; anything else returns None and gets the full parse (and, when
invalid, its error and quarantine). Kept in step with the models by
tests/unit/sources/test_generic_quick.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tocsin.domain.alert_identity import AlertKey, AlertStatus, stable_fingerprint

SOURCE = "generic"

#: the fields of GenericAlert the quick reader checks; any other field (links, started_at,
#: ended_at, or an unknown one) sends the payload to the full parse
_FIELDS = frozenset(
    {"title", "dedup_key", "status", "severity", "description", "labels", "group_key"}
)
_STATUSES = {"firing": AlertStatus.FIRING, "resolved": AlertStatus.RESOLVED}


def keys(body: Any, headers: Mapping[str, str]) -> list[AlertKey] | None:
    if type(body) is dict and "alerts" in body:
        alerts = body["alerts"]
        if len(body) != 1 or type(alerts) is not list or not alerts:
            return None
    else:
        alerts = [body]
    found = []
    for alert in alerts:
        key = _key(alert)
        if key is None:
            return None
        found.append(key)
    return found


def _key(alert: Any) -> AlertKey | None:
    if type(alert) is not dict or not alert.keys() <= _FIELDS:
        return None
    title = alert.get("title")
    if type(title) is not str or not title.strip():
        return None
    dedup_key = alert.get("dedup_key")
    if dedup_key is not None and (type(dedup_key) is not str or not 1 <= len(dedup_key) <= 255):
        return None
    status_text = alert.get("status", "firing")
    status = _STATUSES.get(status_text) if type(status_text) is str else None
    if status is None:
        return None
    severity = alert.get("severity")
    if severity is not None and type(severity) is not str:
        return None
    if type(alert.get("description", "")) is not str:
        return None
    group_key = alert.get("group_key")
    if group_key is not None and (type(group_key) is not str or not group_key):
        return None
    labels = alert.get("labels", {})
    if type(labels) is not dict or any(type(v) is not str for v in labels.values()):
        return None
    fingerprint = dedup_key or stable_fingerprint(title, sorted(labels.items()))
    return AlertKey(source=SOURCE, fingerprint=fingerprint, status=status)
