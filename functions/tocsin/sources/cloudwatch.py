"""CloudWatch alarms delivered by Amazon SNS: an HTTP(S) subscription, or a Lambda SNS event.

SNS HTTP(S) bodies (https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html)
are chosen by the `x-amz-sns-message-type` header (else the body's `Type`):

- SubscriptionConfirmation: the SubscribeURL to confirm, only if it is an https URL on
  `sns.<region>.amazonaws.com[.cn]` (we never fetch any other URL);
- UnsubscribeConfirmation: ignored;
- Notification: `Message` must be a CloudWatch alarm (a JSON string with AlarmName,
  NewStateValue, ...). ALARM is firing, OK resolved, INSUFFICIENT_DATA ignored.

The Lambda SNS event (`Records[].Sns`, whose keys are spelled `SigningCertUrl` and
`UnsubscribeUrl`) carries Notifications only; each record's Message is read the same way.

`alarm_to_alert` is the single place alarms are normalized (tocsin.sources.eventbridge uses it):
fingerprint the alarm ARN (else a hash of account, region and name), no group key.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

from pydantic import BaseModel, BeforeValidator, Field

from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus, stable_fingerprint
from tocsin.domain.errors import PayloadFormatError
from tocsin.sources.base import SourceResult, VendorTime, validate

SOURCE = "cloudwatch"

_SNS_HOST = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-\d+\.amazonaws\.com(?:\.cn)?")
_REGION_CODE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")


class AlarmDimension(BaseModel):
    name: str
    value: str


class AlarmMetric(BaseModel):
    MetricName: str | None = None
    Namespace: str | None = None
    Dimensions: list[AlarmDimension] = Field(default_factory=list)


class AlarmMetricStat(BaseModel):
    Metric: AlarmMetric


class AlarmMetricQuery(BaseModel):
    MetricStat: AlarmMetricStat | None = None


class AlarmTrigger(AlarmMetric):
    #: metric-math and anomaly-detection alarms list their metrics here instead
    Metrics: list[AlarmMetricQuery] = Field(default_factory=list)


class CloudWatchAlarm(BaseModel):
    AlarmName: str = Field(min_length=1)
    AlarmDescription: str | None = None
    AWSAccountId: str | None = None
    NewStateValue: Literal["ALARM", "OK", "INSUFFICIENT_DATA"]
    NewStateReason: str = ""
    StateChangeTime: VendorTime = None
    Region: str | None = None
    AlarmArn: str | None = None
    Trigger: AlarmTrigger | None = None


def _decode_alarm(value: Any) -> Any:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if not isinstance(value, dict) or "AlarmName" not in value:
        raise ValueError(
            "not a CloudWatch alarm (expected the alarm JSON with AlarmName, NewStateValue, ...)"
        )
    return value


AlarmMessage = Annotated[CloudWatchAlarm, BeforeValidator(_decode_alarm)]


class SnsEnvelope(BaseModel):
    Type: str | None = None
    TopicArn: str = ""


class SnsSubscription(SnsEnvelope):
    SubscribeURL: str = Field(min_length=1)


class SnsNotification(SnsEnvelope):
    Message: AlarmMessage


class LambdaSns(BaseModel):
    Type: Literal["Notification"] = "Notification"
    Message: AlarmMessage


class LambdaRecord(BaseModel):
    Sns: LambdaSns


class LambdaSnsEvent(BaseModel):
    Records: list[LambdaRecord] = Field(min_length=1)


def _arn_region(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" and parts[3] else None


def _console_url(arn: str | None, region: str | None, name: str) -> str | None:
    if not region or not _REGION_CODE.fullmatch(region) or (arn and not arn.startswith("arn:aws:")):
        return None  # only the commercial partition's console is known here
    return (
        f"https://console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#alarmsV2:alarm/{quote(name, safe='')}"
    )


def alarm_to_alert(
    source: str,
    *,
    name: str,
    state: str,
    arn: str | None,
    account: str | None,
    region: str | None,
    reason: str = "",
    description: str | None = None,
    changed_at: datetime | None = None,
    namespace: str | None = None,
    metric_name: str | None = None,
    dimensions: Mapping[str, str] | None = None,
) -> Alert | None:
    """A CloudWatch alarm state as an Alert; None for INSUFFICIENT_DATA (neither firing nor
    resolved). `region` should be the region code; the ARN's region wins when there is one."""
    if state == "INSUFFICIENT_DATA":
        return None
    region = _arn_region(arn) or region
    firing = state == "ALARM"
    labels = {
        "alarm_name": name,
        "region": region,
        "account": account,
        "namespace": namespace,
        "metric_name": metric_name,
    }
    labels.update({f"dimension_{key}": value for key, value in (dimensions or {}).items()})
    if arn:  # an alarm name may be 255 characters, so its ARN may exceed a fingerprint's
        fingerprint = arn if len(arn) <= 255 else stable_fingerprint(arn)
    else:
        fingerprint = stable_fingerprint(account, region, name)
    return Alert(
        source=source,
        fingerprint=fingerprint,
        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
        title=name,
        description="\n\n".join(text for text in (description, reason) if text),
        labels={key: value for key, value in labels.items() if value},
        started_at=changed_at if firing else None,
        ended_at=None if firing else changed_at,
        links=AlertLinks(source=_console_url(arn, region, name)),
    )


def _sns_alarm_alert(alarm: CloudWatchAlarm) -> Alert | None:
    trigger = alarm.Trigger or AlarmTrigger()
    metric: AlarmMetric = trigger
    if not trigger.MetricName:
        metric = next((q.MetricStat.Metric for q in trigger.Metrics if q.MetricStat), trigger)
    return alarm_to_alert(
        SOURCE,
        name=alarm.AlarmName,
        state=alarm.NewStateValue,
        arn=alarm.AlarmArn,
        account=alarm.AWSAccountId,
        region=alarm.Region,  # a display name ("US East (N. Virginia)"); the ARN has the code
        reason=alarm.NewStateReason,
        description=alarm.AlarmDescription,
        changed_at=alarm.StateChangeTime,
        namespace=metric.Namespace,
        metric_name=metric.MetricName,
        dimensions={d.name: d.value for d in metric.Dimensions},
    )


def _alarms_result(alarms: list[CloudWatchAlarm]) -> SourceResult:
    alerts = [alert for alert in map(_sns_alarm_alert, alarms) if alert is not None]
    if not alerts:
        names = ", ".join(repr(alarm.AlarmName) for alarm in alarms)
        return SourceResult(ignored_reason=f"CloudWatch alarm {names} is INSUFFICIENT_DATA")
    return SourceResult(alerts=alerts)


def _check_subscribe_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or any(ch.isspace() or ord(ch) < 32 for ch in url)
        or parts.scheme != "https"
        or parts.username is not None
        or port not in (None, 443)
        or not _SNS_HOST.fullmatch(parts.hostname or "")
        or parse_qs(parts.query).get("Action") != ["ConfirmSubscription"]
    ):
        raise PayloadFormatError(
            SOURCE,
            "SubscribeURL: not an https://sns.<region>.amazonaws.com ConfirmSubscription URL;"
            " refusing to confirm",
        )


def parse(body: Any, headers: Mapping[str, str]) -> SourceResult:
    if isinstance(body, dict) and "Records" in body:
        event = validate(SOURCE, LambdaSnsEvent, body)
        return _alarms_result([record.Sns.Message for record in event.Records])

    envelope = validate(SOURCE, SnsEnvelope, body)
    header_type = headers.get("x-amz-sns-message-type")
    if header_type and envelope.Type and header_type != envelope.Type:
        raise PayloadFormatError(
            SOURCE,
            f"Type: the body says {envelope.Type!r} but x-amz-sns-message-type says"
            f" {header_type!r}",
        )
    kind = header_type or envelope.Type
    if kind == "SubscriptionConfirmation":
        subscription = validate(SOURCE, SnsSubscription, body)
        _check_subscribe_url(subscription.SubscribeURL)
        return SourceResult(confirm_subscription_url=subscription.SubscribeURL)
    if kind == "UnsubscribeConfirmation":
        return SourceResult(ignored_reason=f"SNS UnsubscribeConfirmation ({envelope.TopicArn})")
    if kind == "Notification":
        return _alarms_result([validate(SOURCE, SnsNotification, body).Message])
    if not kind:
        raise PayloadFormatError(SOURCE, "Type: missing, and no x-amz-sns-message-type header")
    raise PayloadFormatError(
        SOURCE,
        f"Type: {kind!r} is not an SNS message type (SubscriptionConfirmation, Notification,"
        " UnsubscribeConfirmation)",
    )
