"""Amazon EventBridge events delivered to Tocsin (rules targeting the intake).

- "CloudWatch Alarm State Change"
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html):
  normalized by `tocsin.sources.cloudwatch.alarm_to_alert`; fingerprint the alarm ARN in
  `resources[0]`; ALARM firing, OK resolved, INSUFFICIENT_DATA ignored.
- "AWS Health Event" (https://docs.aws.amazon.com/health/latest/ug/aws-health-events-eventbridge-schema.html):
  fingerprint `detail.eventArn`; statusCode open|upcoming is firing, closed resolved. Events
  without a statusCode (older schema, e.g. AWS's sample test event) are resolved when they
  carry an endTime, firing otherwise.

Any other detail-type is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from tocsin.domain.alerts import Alert, AlertStatus, stable_fingerprint
from tocsin.domain.errors import PayloadFormatError
from tocsin.sources.base import SourceResult, VendorTime, parse_time, validate
from tocsin.sources.cloudwatch import alarm_to_alert

SOURCE = "eventbridge"

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
HEALTH_EVENT = "AWS Health Event"


class EventEnvelope(BaseModel):
    detail_type: str = Field(validation_alias="detail-type")


# --- CloudWatch Alarm State Change ----------------------------------------------------------


class AlarmMetric(BaseModel):
    namespace: str | None = None
    name: str | None = None
    dimensions: dict[str, str] = Field(default_factory=dict)


class AlarmMetricStat(BaseModel):
    metric: AlarmMetric


class AlarmMetricQuery(BaseModel):
    metricStat: AlarmMetricStat | None = None


class AlarmConfiguration(BaseModel):
    description: str | None = None
    metrics: list[AlarmMetricQuery] = Field(default_factory=list)


class AlarmState(BaseModel):
    value: Literal["ALARM", "OK", "INSUFFICIENT_DATA"]
    reason: str = ""
    timestamp: VendorTime = None


class AlarmDetail(BaseModel):
    alarmName: str = Field(min_length=1)
    state: AlarmState
    configuration: AlarmConfiguration = AlarmConfiguration()


class AlarmStateChange(BaseModel):
    account: str | None = None
    region: str | None = None
    resources: list[str] = Field(default_factory=list)
    detail: AlarmDetail


def _alarm_result(body: Any) -> SourceResult:
    event = validate(SOURCE, AlarmStateChange, body)
    detail = event.detail
    stats = [query.metricStat for query in detail.configuration.metrics if query.metricStat]
    metric = stats[0].metric if stats else AlarmMetric()
    alert = alarm_to_alert(
        SOURCE,
        name=detail.alarmName,
        state=detail.state.value,
        arn=event.resources[0] if event.resources else None,
        account=event.account,
        region=event.region,
        reason=detail.state.reason,
        description=detail.configuration.description,
        changed_at=detail.state.timestamp,
        namespace=metric.namespace,
        metric_name=metric.name,
        dimensions=metric.dimensions,
    )
    if alert is None:
        reason = f"CloudWatch alarm {detail.alarmName!r} is INSUFFICIENT_DATA"
        return SourceResult(ignored_reason=reason)
    return SourceResult(alerts=[alert])


# --- AWS Health Event -----------------------------------------------------------------------


def _health_time(value: Any) -> datetime | None:
    """AWS Health times are RFC 1123 ("Sun, 05 Jun 2016 05:01:10 GMT"); accept ISO-8601 too."""
    if value is None or value == "" or isinstance(value, datetime):
        return value or None
    if isinstance(value, str) and value[:3].isalpha():
        from email.utils import parsedate_to_datetime  # only Health events pay for it

        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    parsed = parse_time(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError(f"not a valid timestamp: {str(value)[:40]!r}")
    return parsed


HealthTime = Annotated[datetime | None, BeforeValidator(_health_time)]


class HealthDescription(BaseModel):
    language: str = ""
    latestDescription: str = ""


class HealthDetail(BaseModel):
    eventArn: str = Field(min_length=1)
    service: str = ""
    eventTypeCode: str = Field(min_length=1)
    eventTypeCategory: str = ""
    statusCode: Literal["open", "upcoming", "closed"] | None = None
    eventRegion: str | None = None
    startTime: HealthTime = None
    endTime: HealthTime = None
    eventDescription: list[HealthDescription] = Field(default_factory=list)


class HealthEvent(BaseModel):
    region: str | None = None
    detail: HealthDetail


def _health_result(body: Any) -> SourceResult:
    event = validate(SOURCE, HealthEvent, body)
    detail = event.detail
    region = detail.eventRegion or event.region
    if detail.statusCode is None:  # older events: an event with an end time has ended
        closed = detail.endTime is not None
    else:
        closed = detail.statusCode == "closed"
    title = detail.eventTypeCode + (f" ({detail.service})" if detail.service else "")
    labels = {
        # not "service": that label names the Tocsin service an alert is routed to
        "aws_service": detail.service,
        "event_type_code": detail.eventTypeCode,
        "event_type_category": detail.eventTypeCategory,
        "region": region,
    }
    arn = detail.eventArn
    alert = Alert(
        source=SOURCE,
        fingerprint=arn if len(arn) <= 255 else stable_fingerprint(arn),
        status=AlertStatus.RESOLVED if closed else AlertStatus.FIRING,
        title=title,
        description=next((d.latestDescription for d in detail.eventDescription), ""),
        labels={key: value for key, value in labels.items() if value},
        severity_hint=detail.eventTypeCategory or None,
        started_at=detail.startTime,
        ended_at=detail.endTime if closed else None,
    )
    return SourceResult(alerts=[alert])


def parse(body: Any, headers: Mapping[str, str]) -> SourceResult:
    detail_type = validate(SOURCE, EventEnvelope, body).detail_type
    if detail_type == ALARM_STATE_CHANGE:
        return _alarm_result(body)
    if detail_type == HEALTH_EVENT:
        return _health_result(body)
    raise PayloadFormatError(
        SOURCE,
        f"detail-type: {detail_type!r} is not supported (expected {ALARM_STATE_CHANGE!r}"
        f" or {HEALTH_EVENT!r})",
    )
