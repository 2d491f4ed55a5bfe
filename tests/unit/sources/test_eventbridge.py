"""EventBridge events: CloudWatch Alarm State Change and AWS Health Event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus, stable_fingerprint
from tocsin.domain.errors import PayloadFormatError
from tocsin.sources import eventbridge

SINGLE_METRIC = "aws/eventbridge_cloudwatch_alarm_state_change_single_metric_OK_to_ALARM.json"
ANOMALY = "aws/eventbridge_cloudwatch_alarm_state_change_anomaly_detection_OK_to_ALARM.json"
HEALTH = "aws/eventbridge_aws_health_test_event.json"


def problem_of(body: Any) -> str:
    with pytest.raises(PayloadFormatError) as caught:
        eventbridge.parse(body, {})
    assert caught.value.source == "eventbridge"
    return caught.value.problem


def test_single_metric_alarm_state_change_to_alarm_fires(fixture):
    """Given the docs' single-metric alarm going OK -> ALARM, when parsed, then it fires,
    keyed by the alarm ARN in resources[0], normalized like SNS-delivered alarms."""
    result = eventbridge.parse(fixture(SINGLE_METRIC), {})

    assert result.alerts == [
        Alert(
            source="eventbridge",
            fingerprint="arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh",
            status=AlertStatus.FIRING,
            title="ServerCpuTooHigh",
            description=(
                "Goes into alarm when server CPU utilization is too high!\n\n"
                "Threshold Crossed: 1 out of the last 1 datapoints [99.50160229693434"
                " (02/10/19 16:59:00)] was greater than the threshold (50.0) (minimum 1"
                " datapoint for OK -> ALARM transition)."
            ),
            labels={
                "alarm_name": "ServerCpuTooHigh",
                "region": "us-east-1",
                "account": "123456789012",
                "namespace": "AWS/EC2",
                "metric_name": "CPUUtilization",
                "dimension_InstanceId": "i-12345678901234567",
            },
            started_at=datetime(2019, 10, 2, 17, 4, 40, 989000, tzinfo=UTC),
            links=AlertLinks(
                source="https://console.aws.amazon.com/cloudwatch/home?region=us-east-1"
                "#alarmsV2:alarm/ServerCpuTooHigh"
            ),
        )
    ]


def test_anomaly_detection_alarm_reads_the_metric_not_the_band_expression(fixture):
    """Given the docs' anomaly-detection alarm (metric m1 + expression ad1), when parsed,
    then the labels describe m1, and the console link escapes the name's spaces."""
    (alert,) = eventbridge.parse(fixture(ANOMALY), {}).alerts

    assert alert.fingerprint == (
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:EC2 CPU Utilization Anomaly"
    )
    assert alert.status is AlertStatus.FIRING
    assert alert.title == "EC2 CPU Utilization Anomaly"
    assert alert.description.startswith(
        "Goes into alarm if CPU Utilization is out of band\n\nThresholds Crossed: 1 out of"
    )
    assert alert.labels == {
        "alarm_name": "EC2 CPU Utilization Anomaly",
        "region": "us-east-1",
        "account": "123456789012",
        "namespace": "AWS/EC2",
        "metric_name": "CPUUtilization",
        "dimension_InstanceId": "i-12345678901234567",
    }
    assert alert.started_at == datetime(2019, 10, 3, 16, 0, 4, 653000, tzinfo=UTC)
    assert alert.links.source == (
        "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1"
        "#alarmsV2:alarm/EC2%20CPU%20Utilization%20Anomaly"
    )


def test_alarm_back_to_ok_resolves_the_same_alarm(fixture):
    """Given the single-metric event flipped to OK (AWS publishes no OK sample), when parsed,
    then the same ARN is resolved at the state timestamp."""
    body = fixture(SINGLE_METRIC)
    body["detail"]["previousState"], body["detail"]["state"] = (
        body["detail"]["state"],
        {**body["detail"]["previousState"], "timestamp": "2019-10-02T17:20:40.989+0000"},
    )

    (alert,) = eventbridge.parse(body, {}).alerts

    assert alert.fingerprint == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh"
    assert alert.status is AlertStatus.RESOLVED
    assert alert.started_at is None
    assert alert.ended_at == datetime(2019, 10, 2, 17, 20, 40, 989000, tzinfo=UTC)


def test_alarm_insufficient_data_is_ignored(fixture):
    """Given the alarm entering INSUFFICIENT_DATA, when parsed, then it is ignored."""
    body = fixture(SINGLE_METRIC)
    body["detail"]["state"]["value"] = "INSUFFICIENT_DATA"

    result = eventbridge.parse(body, {})

    assert result.alerts == []
    assert result.ignored_reason == "CloudWatch alarm 'ServerCpuTooHigh' is INSUFFICIENT_DATA"


def test_alarm_without_resources_is_keyed_by_account_region_and_name(fixture):
    """Given an alarm event with empty resources (e.g. composite, no metrics), when parsed,
    then the fingerprint hashes account, region and name and metric labels are absent."""
    body = fixture(SINGLE_METRIC)
    body["resources"] = []
    body["detail"]["configuration"] = {"alarmRule": "ALARM(a) OR ALARM(b)"}

    (alert,) = eventbridge.parse(body, {}).alerts

    assert alert.fingerprint == stable_fingerprint("123456789012", "us-east-1", "ServerCpuTooHigh")
    assert alert.labels == {
        "alarm_name": "ServerCpuTooHigh",
        "region": "us-east-1",
        "account": "123456789012",
    }


def test_aws_health_sample_test_event_with_end_time_is_resolved(fixture):
    """Given AWS's sample Health test event (older schema: no statusCode, but an endTime),
    when parsed, then it is a resolved alert keyed by the event ARN, with RFC 1123 times.
    The AWS service goes to the `aws_service` label because `service` names the Tocsin
    service an alert is routed to."""
    result = eventbridge.parse(fixture(HEALTH), {})

    assert result.alerts == [
        Alert(
            source="eventbridge",
            fingerprint="arn:aws:health:us-east-1::event/AWS_HEALTH_TEST_ALERT",
            status=AlertStatus.RESOLVED,
            title="AWS_EC2_HEALTH_TEST_EVENT (AWS_EC2)",
            description="something is wrong",
            labels={
                "aws_service": "AWS_EC2",
                "event_type_code": "AWS_EC2_HEALTH_TEST_EVENT",
                "event_type_category": "category",
                "region": "us-east-1",
            },
            severity_hint="category",
            started_at=datetime(2016, 6, 5, 5, 1, 10, tzinfo=UTC),
            ended_at=datetime(2016, 6, 5, 5, 30, 57, tzinfo=UTC),
        )
    ]


@pytest.mark.parametrize(
    ("status_code", "status"),
    [
        ("open", AlertStatus.FIRING),
        ("upcoming", AlertStatus.FIRING),
        ("closed", AlertStatus.RESOLVED),
    ],
)
def test_health_status_code_decides_firing_or_resolved(fixture, status_code, status):
    """Given the Health event with a statusCode (current schema), when parsed,
    then open/upcoming fire and closed resolves the same event ARN."""
    body = fixture(HEALTH)
    body["detail"]["statusCode"] = status_code

    (alert,) = eventbridge.parse(body, {}).alerts

    assert alert.status is status
    assert alert.fingerprint == "arn:aws:health:us-east-1::event/AWS_HEALTH_TEST_ALERT"
    assert alert.ended_at == (
        datetime(2016, 6, 5, 5, 30, 57, tzinfo=UTC) if status is AlertStatus.RESOLVED else None
    )


def test_health_event_without_status_or_end_time_fires(fixture):
    """Given an older-schema Health event with no endTime yet, when parsed, then it fires;
    eventRegion (when present) is the region label, and ISO times are accepted too."""
    body = fixture(HEALTH)
    del body["detail"]["endTime"]
    body["detail"]["eventRegion"] = "eu-west-1"
    body["detail"]["startTime"] = "2016-06-05T05:01:10Z"

    (alert,) = eventbridge.parse(body, {}).alerts

    assert alert.status is AlertStatus.FIRING
    assert alert.labels["region"] == "eu-west-1"
    assert alert.started_at == datetime(2016, 6, 5, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "body: Input should be a valid dictionary or instance of EventEnvelope"),
        ({"source": "aws.ec2"}, "detail-type: Field required"),
        (
            {"detail-type": "EC2 Instance State-change Notification", "detail": {}},
            "detail-type: 'EC2 Instance State-change Notification' is not supported (expected"
            " 'CloudWatch Alarm State Change' or 'AWS Health Event')",
        ),
        ({"detail-type": "CloudWatch Alarm State Change"}, "detail: Field required"),
        (
            {"detail-type": "CloudWatch Alarm State Change", "detail": {"alarmName": "A"}},
            "detail.state: Field required",
        ),
        (
            {"detail-type": "AWS Health Event", "detail": {"eventTypeCode": "X"}},
            "detail.eventArn: Field required",
        ),
    ],
)
def test_malformed_events_name_the_field(body, problem):
    """Given an event that is not one we handle, when parsed, then the problem names it."""
    assert problem_of(body) == problem


@pytest.mark.parametrize(
    ("path", "section", "field", "value", "problem"),
    [
        (
            SINGLE_METRIC,
            "state",
            "value",
            "BROKEN",
            "detail.state.value: Input should be 'ALARM', 'OK' or 'INSUFFICIENT_DATA'",
        ),
        (
            SINGLE_METRIC,
            "state",
            "timestamp",
            "now",
            "detail.state.timestamp: Value error, not a valid timestamp: 'now'",
        ),
        (
            HEALTH,
            None,
            "statusCode",
            "resolved",
            "detail.statusCode: Input should be 'open', 'upcoming' or 'closed'",
        ),
        (
            HEALTH,
            None,
            "startTime",
            "soon",
            "detail.startTime: Value error, not a valid timestamp: 'soon'",
        ),
        (
            HEALTH,
            None,
            "eventDescription",
            "down",
            "detail.eventDescription: Input should be a valid list",
        ),
    ],
)
def test_malformed_fixture_fields_are_named(fixture, path, section, field, value, problem):
    """Given a fixture with one detail field broken, when parsed, then the problem names it."""
    body = fixture(path)
    target = body["detail"][section] if section else body["detail"]
    target[field] = value

    assert problem_of(body) == problem
