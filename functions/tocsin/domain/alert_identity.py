"""What identifies one alert delivery (source, fingerprint, status), without pydantic.

The intake's fast path, a re-delivered alert, needs only this: a cold start that serves
duplicates does not load pydantic (about 140 ms: its import and its first model).
`tocsin.domain.alerts` re-exports these names.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class AlertIdentity(Protocol):
    """Anything that names one alert and the state a delivery reports (an `Alert`, an
    `AlertKey`)."""

    @property
    def source(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def status(self) -> AlertStatus: ...


@dataclass(frozen=True, slots=True)
class AlertKey:
    """The identity of one alert of a payload, read without building the `Alert`."""

    source: str
    fingerprint: str
    status: AlertStatus


def stable_fingerprint(*parts: object) -> str:
    """A deterministic fingerprint from identifying values (for sources that send none)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]
