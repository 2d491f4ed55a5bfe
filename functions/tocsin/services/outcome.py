"""What one webhook delivery did (the intake endpoint's 202 body)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class IntakeOutcome:
    alerts: int = 0
    created: list[str] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)
    duplicates: int = 0
    suppressed: list[dict[str, str]] = field(default_factory=list)
    unmatched_resolves: int = 0
    ignored: str | None = None
    subscription_confirmed: bool = False

    @property
    def incident_ids(self) -> list[str]:
        return list(dict.fromkeys([*self.created, *self.joined]))

    def as_dict(self) -> dict[str, Any]:
        return {
            "incidents": self.incident_ids,
            "created": list(dict.fromkeys(self.created)),
            "alerts": self.alerts,
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "unmatched_resolves": self.unmatched_resolves,
            **({"ignored": self.ignored} if self.ignored else {}),
            **({"subscription_confirmed": True} if self.subscription_confirmed else {}),
        }
