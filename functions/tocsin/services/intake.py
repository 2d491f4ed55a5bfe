"""Alert intake: payload -> normalized alerts -> at most one incident per group.

The hot path, a re-delivered alert, is one conditional DynamoDB update and loads nothing
else; new alerts and state changes go to the slow path (services/settle.py), built on first
use so that a cold start serving duplicates does not pay for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from tocsin.dal.dedup import DedupStore
from tocsin.domain.alerts import Alert
from tocsin.domain.clock import utcnow
from tocsin.domain.errors import PayloadFormatError, TocsinError
from tocsin.services.outcome import IntakeOutcome
from tocsin.sources import get_source

if TYPE_CHECKING:
    from tocsin.dal.artifacts import ArtifactStore
    from tocsin.dal.raw import RawPayload
    from tocsin.services.settle import AlertSettler

__all__ = ["IntakeService", "PayloadRejectedError"]


class PayloadRejectedError(TocsinError):
    """A payload we could not accept; it is kept in quarantine under `quarantine_id`."""

    def __init__(self, status_code: int, message: str, quarantine_id: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.quarantine_id = quarantine_id


class IntakeService:
    def __init__(
        self,
        dedup: DedupStore,
        settler: Callable[[], AlertSettler],
        artifacts: Callable[[], ArtifactStore],
        raw_payload: Callable[[str, bytes, datetime], RawPayload],
        confirm_subscription: Callable[[str], None],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.dedup = dedup
        self.settler = settler
        self.artifacts = artifacts
        self.raw_payload = raw_payload
        self.confirm_subscription = confirm_subscription
        self.clock = clock

    def ingest(
        self, source: str, body: bytes, headers: Mapping[str, str], replay_of: str | None = None
    ) -> IntakeOutcome:
        """Parse one webhook delivery. Raises PayloadRejectedError (quarantined) on bad input;
        a replay of a quarantined payload that fails again keeps its original quarantine id."""
        module = get_source(source)
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            message = f"{source}: body is not valid JSON ({exc})"
            raise self._reject(source, body, lowered, message, 400, replay_of) from None
        try:
            result = module.parse(payload, lowered)
        except PayloadFormatError as exc:
            raise self._reject(source, body, lowered, str(exc), 422, replay_of) from None
        if result.confirm_subscription_url:
            self.confirm_subscription(result.confirm_subscription_url)
            return IntakeOutcome(subscription_confirmed=True)
        if result.ignored_reason:
            return IntakeOutcome(ignored=result.ignored_reason)
        return self.ingest_alerts(source, result.alerts, body)

    def ingest_alerts(self, source: str, alerts: list[Alert], body: bytes | None) -> IntakeOutcome:
        outcome = IntakeOutcome(alerts=len(alerts))
        now = self.clock()
        raw: RawPayload | None = None
        for alert in alerts:
            repeat = self.dedup.repeat(alert, now)
            if repeat.settled is not None:
                outcome.duplicates += 1
                if repeat.settled.incident_id:
                    outcome.joined.append(repeat.settled.incident_id)
                continue
            if raw is None and body is not None:
                raw = self.raw_payload(source, body, now)
            settled = alert.with_raw_ref(raw.ref) if raw else alert
            self.settler().settle(settled, repeat.previous, raw, now, outcome)
        if raw is not None:
            raw.flush()
        return outcome

    def _reject(
        self,
        source: str,
        body: bytes,
        headers: dict[str, str],
        message: str,
        status: int,
        replay_of: str | None,
    ) -> PayloadRejectedError:
        qid = replay_of or self.artifacts().quarantine(
            source, body, headers, message, status, self.clock()
        )
        return PayloadRejectedError(status, message, qid)
