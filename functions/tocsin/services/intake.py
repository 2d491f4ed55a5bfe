"""Alert intake: payload -> normalized alerts -> at most one incident per group.

The hot path, a re-delivered alert, is one conditional DynamoDB update and loads nothing
else; new alerts and state changes go to the slow path (services/settle.py), built on first
use so that a cold start serving duplicates does not pay for it. For sources with a quick
reader (tocsin.sources.QUICK_READERS) the hot path does not load pydantic either: the
payload's alert identities are read first, and the source's full parse (pydantic models)
only runs when an alert is not a pure re-delivery, or the reader cannot vouch for the payload.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from tocsin.dal.dedup import DedupStore, Repeat
from tocsin.domain.clock import utcnow
from tocsin.domain.errors import PayloadFormatError, TocsinError
from tocsin.services.outcome import IntakeOutcome
from tocsin.sources import SOURCES, get_source, quick_keys

if TYPE_CHECKING:
    from tocsin.dal.artifacts import ArtifactStore
    from tocsin.dal.dedup import Dedup
    from tocsin.dal.raw import RawPayload
    from tocsin.domain.alerts import Alert
    from tocsin.services.settle import AlertSettler
    from tocsin.sources.base import SourceResult

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
        if source not in SOURCES:
            get_source(source)  # raises UnknownSourceError
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            message = f"{source}: body is not valid JSON ({exc})"
            raise self._reject(source, body, lowered, message, 400, replay_of) from None
        keys = quick_keys(source, payload, lowered)
        if keys is None:
            result = self._parse(source, payload, body, lowered, replay_of)
            if result.confirm_subscription_url:
                self.confirm_subscription(result.confirm_subscription_url)
                return IntakeOutcome(subscription_confirmed=True)
            if result.ignored_reason:
                return IntakeOutcome(ignored=result.ignored_reason)
            return self.ingest_alerts(source, result.alerts, body)
        # the quick reader vouched for the payload: count the re-deliveries, and parse it fully
        # (the same alerts, in the same order) from the first alert that is not one
        outcome = IntakeOutcome(alerts=len(keys))
        now = self.clock()
        for index, key in enumerate(keys):
            repeat = self.dedup.repeat(key, now)
            if repeat.settled is not None:
                _count_duplicate(outcome, repeat.settled)
                continue
            alerts = self._parse(source, payload, body, lowered, replay_of).alerts
            if [(a.fingerprint, a.status) for a in alerts] != [
                (k.fingerprint, k.status) for k in keys
            ]:
                raise RuntimeError(f"{source}: the quick reader disagrees with the full parse")
            return self._settle_from(source, alerts, body, now, outcome, index, repeat)
        return outcome

    def ingest_alerts(self, source: str, alerts: list[Alert], body: bytes | None) -> IntakeOutcome:
        outcome = IntakeOutcome(alerts=len(alerts))
        return self._settle_from(source, alerts, body, self.clock(), outcome, 0, None)

    def _settle_from(
        self,
        source: str,
        alerts: list[Alert],
        body: bytes | None,
        now: datetime,
        outcome: IntakeOutcome,
        start: int,
        first: Repeat | None,
    ) -> IntakeOutcome:
        """Alerts from `start` on, one after another; `first` is the fast path's answer for
        alerts[start] when it was asked already."""
        raw: RawPayload | None = None
        for index in range(start, len(alerts)):
            alert = alerts[index]
            repeat = (
                first if first is not None and index == start else self.dedup.repeat(alert, now)
            )
            if repeat.settled is not None:
                _count_duplicate(outcome, repeat.settled)
                continue
            if raw is None and body is not None:
                raw = self.raw_payload(source, body, now)
            settled = alert.with_raw_ref(raw.ref) if raw else alert
            self.settler().settle(settled, repeat.previous, raw, now, outcome)
        if raw is not None:
            raw.flush()
        return outcome

    def _parse(
        self,
        source: str,
        payload: object,
        body: bytes,
        headers: dict[str, str],
        replay_of: str | None,
    ) -> SourceResult:
        try:
            return get_source(source).parse(payload, headers)
        except PayloadFormatError as exc:
            raise self._reject(source, body, headers, str(exc), 422, replay_of) from None

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


def _count_duplicate(outcome: IntakeOutcome, settled: Dedup) -> None:
    outcome.duplicates += 1
    if settled.incident_id:
        outcome.joined.append(settled.incident_id)
