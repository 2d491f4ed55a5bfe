"""CloudWatch alarms delivered by SNS (HTTP(S) subscription or Lambda SNS event)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus, stable_fingerprint
from tocsin.domain.errors import PayloadFormatError
from tocsin.sources import cloudwatch

SNS_OK = "aws/sns_http_notification_cloudwatch_metric_alarm_OK.json"
LAMBDA_ALARM = "aws/lambda_sns_record_cloudwatch_metric_alarm_ALARM.json"
SUBSCRIBE = "aws/sns_http_subscription_confirmation_docs.json"
HELLO = "aws/sns_http_notification_docs.json"


def sns_headers(message_type: str) -> dict[str, str]:
    return {
        "content-type": "text/plain; charset=UTF-8",
        "user-agent": "Amazon Simple Notification Service Agent",
        "x-amz-sns-message-type": message_type,
    }


def problem_of(body: Any, headers: dict[str, str]) -> str:
    with pytest.raises(PayloadFormatError) as caught:
        cloudwatch.parse(body, headers)
    assert caught.value.source == "cloudwatch"
    return caught.value.problem


def with_alarm(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The SNS HTTP body with its alarm Message changed."""
    alarm = json.loads(body["Message"])
    alarm.update(changes)
    return {**body, "Message": json.dumps(alarm)}


def test_sns_http_notification_alarm_ok_resolves(fixture):
    """Given a real SNS HTTP Notification whose Message is an alarm going ALARM -> OK,
    when parsed, then the alarm (keyed by its ARN) is resolved at StateChangeTime, with the
    description and reason, the labels and the console link."""
    result = cloudwatch.parse(fixture(SNS_OK), sns_headers("Notification"))

    assert result.alerts == [
        Alert(
            source="cloudwatch",
            fingerprint="arn:aws:cloudwatch:ap-northeast-1:257706363616:alarm:ec2CPUUtilization",
            status=AlertStatus.RESOLVED,
            title="ec2CPUUtilization",
            description=(
                "EC2 CPUUtilization sample\n\nThreshold Crossed: 1 out of the last 1 datapoints"
                " [5.470572292836039 (18/06/21 07:23:00)] was not greater than the threshold"
                " (5.5) (minimum 1 datapoint for ALARM -> OK transition)."
            ),
            labels={
                "alarm_name": "ec2CPUUtilization",
                "region": "ap-northeast-1",
                "account": "257706363616",
                "namespace": "AWS/EC2",
                "metric_name": "CPUUtilization",
                "dimension_AutoScalingGroupName": "eks-6ebcce7e-400b-8a69-f0e9-d9e14bb635d2",
            },
            started_at=None,
            ended_at=datetime(2021, 6, 18, 7, 28, 21, 921000, tzinfo=UTC),
            links=AlertLinks(
                source="https://console.aws.amazon.com/cloudwatch/home?region=ap-northeast-1"
                "#alarmsV2:alarm/ec2CPUUtilization"
            ),
        )
    ]


def test_sns_http_notification_without_header_uses_the_body_type(fixture):
    """Given the same body without x-amz-sns-message-type, when parsed,
    then the body's Type (Notification) is used."""
    (alert,) = cloudwatch.parse(fixture(SNS_OK), {}).alerts

    assert alert.status is AlertStatus.RESOLVED


def test_sns_http_notification_alarm_fires(fixture):
    """Given the OK notification flipped to ALARM, when parsed, then the same ARN fires."""
    body = with_alarm(fixture(SNS_OK), NewStateValue="ALARM", OldStateValue="OK")

    (alert,) = cloudwatch.parse(body, sns_headers("Notification")).alerts

    assert alert.fingerprint == (
        "arn:aws:cloudwatch:ap-northeast-1:257706363616:alarm:ec2CPUUtilization"
    )
    assert alert.status is AlertStatus.FIRING
    assert alert.started_at == datetime(2021, 6, 18, 7, 28, 21, 921000, tzinfo=UTC)
    assert alert.ended_at is None


def test_lambda_sns_event_record_alarm_fires(fixture):
    """Given a Lambda SNS event (Records[].Sns, SigningCertUrl casing) carrying an
    INSUFFICIENT_DATA -> ALARM alarm without description, when parsed, then it fires with
    the reason as description and both dimensions as labels; the region label is the ARN's
    code, not the message's display name."""
    result = cloudwatch.parse(fixture(LAMBDA_ALARM), {})

    name = "if-sim-app_427809481713_us-east-1-metric_emitting_node_failure"
    assert result.alerts == [
        Alert(
            source="cloudwatch",
            fingerprint=f"arn:aws:cloudwatch:us-east-1:427809481713:alarm:{name}",
            status=AlertStatus.FIRING,
            title=name,
            description=(
                "Threshold Crossed: 1 out of the last 1 datapoints [1.0 (10/11/21 02:40:00)] was"
                " greater than or equal to the threshold (1.0) (minimum 1 datapoint for"
                " OK -> ALARM transition)."
            ),
            labels={
                "alarm_name": name,
                "region": "us-east-1",
                "account": "427809481713",
                "namespace": "sim-app_427809481713_us-east-1",
                "metric_name": "IExecutionFailureHook",
                "dimension_MetricGroupId": "routing_table.receive.hook",
                "dimension_RouteID": "metric_emitting_node",
            },
            started_at=datetime(2021, 11, 10, 2, 45, 55, 640000, tzinfo=UTC),
            links=AlertLinks(
                source="https://console.aws.amazon.com/cloudwatch/home?region=us-east-1"
                f"#alarmsV2:alarm/{name}"
            ),
        )
    ]


def test_subscription_confirmation_returns_the_sns_subscribe_url(fixture):
    """Given the docs' SubscriptionConfirmation (SubscribeURL on sns.us-west-2), when parsed
    (with the header, or by the body's Type), then Tocsin is told which URL to GET."""
    body = fixture(SUBSCRIBE)

    for headers in (sns_headers("SubscriptionConfirmation"), {}):
        result = cloudwatch.parse(body, headers)
        assert result.alerts == []
        assert result.confirm_subscription_url == body["SubscribeURL"]
    assert body["SubscribeURL"].startswith(
        "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=x",
        "https://evil.example/?Action=ConfirmSubscription&Token=x",
        "https://sns.us-west-2.amazonaws.com.evil.example/?Action=ConfirmSubscription",
        "https://sns.us-west-2.amazonaws.com@evil.example/?Action=ConfirmSubscription",
        "https://user@sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
        "https://sns.us-west-2.amazonaws.com:8443/?Action=ConfirmSubscription",
        "https://sqs.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
        "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
        "https://sns.us-west-2.amazonaws.com/\n?Action=ConfirmSubscription",
        "https://sns.amazonaws.com/?Action=ConfirmSubscription",
        "https://sns.us-west-2.amazonaws.com:x/?Action=ConfirmSubscription",
        "file:///etc/passwd",
    ],
)
def test_subscription_confirmation_never_points_elsewhere(fixture, url):
    """Given a SubscriptionConfirmation whose SubscribeURL is not an https SNS
    ConfirmSubscription URL, when parsed, then it is refused (Tocsin must never fetch it)."""
    body = {**fixture(SUBSCRIBE), "SubscribeURL": url}

    assert problem_of(body, sns_headers("SubscriptionConfirmation")) == (
        "SubscribeURL: not an https://sns.<region>.amazonaws.com ConfirmSubscription URL;"
        " refusing to confirm"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription&Token=x",
        "https://sns.us-gov-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=x",
        "https://sns.eu-central-1.amazonaws.com:443/?Action=ConfirmSubscription&Token=x",
    ],
)
def test_subscription_confirmation_in_other_partitions_is_accepted(fixture, url):
    """Given SubscribeURLs of the China and GovCloud partitions, when parsed, then accepted."""
    body = {**fixture(SUBSCRIBE), "SubscribeURL": url}

    assert cloudwatch.parse(body, {}).confirm_subscription_url == url


def test_unsubscribe_confirmation_is_ignored(fixture):
    """Given an UnsubscribeConfirmation, when parsed, then it is acknowledged and ignored."""
    body = {**fixture(SUBSCRIBE), "Type": "UnsubscribeConfirmation"}

    result = cloudwatch.parse(body, sns_headers("UnsubscribeConfirmation"))

    assert result.alerts == []
    assert result.confirm_subscription_url is None
    assert result.ignored_reason == (
        "SNS UnsubscribeConfirmation (arn:aws:sns:us-west-2:123456789012:MyTopic)"
    )


def test_docs_hello_world_notification_is_not_an_alarm(fixture):
    """Given the docs' Notification whose Message is "Hello world!", when parsed,
    then it is refused: the message is not a CloudWatch alarm."""
    assert problem_of(fixture(HELLO), sns_headers("Notification")) == (
        "Message: Value error, not a CloudWatch alarm (expected the alarm JSON with"
        " AlarmName, NewStateValue, ...)"
    )


def test_insufficient_data_is_ignored(fixture):
    """Given an alarm entering INSUFFICIENT_DATA, when parsed, then nothing fires or resolves."""
    body = with_alarm(fixture(SNS_OK), NewStateValue="INSUFFICIENT_DATA")

    result = cloudwatch.parse(body, sns_headers("Notification"))

    assert result.alerts == []
    assert result.ignored_reason == "CloudWatch alarm 'ec2CPUUtilization' is INSUFFICIENT_DATA"


def test_alarm_without_arn_is_keyed_by_account_region_and_name(fixture):
    """Given an alarm message without AlarmArn, when parsed, then the fingerprint hashes
    account, region and name, and the region is the message's own (display) Region."""
    body = with_alarm(fixture(SNS_OK), AlarmArn=None)

    (alert,) = cloudwatch.parse(body, {}).alerts

    assert alert.fingerprint == stable_fingerprint(
        "257706363616", "Asia Pacific (Tokyo)", "ec2CPUUtilization"
    )
    assert alert.labels["region"] == "Asia Pacific (Tokyo)"
    assert alert.links.source is None


def test_metric_math_alarm_reads_its_metric_from_trigger_metrics(fixture):
    """Given a metric-math alarm (Trigger.Metrics instead of Trigger.MetricName), when parsed,
    then namespace, metric and dimensions come from the first metric with a MetricStat."""
    trigger = {
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 80.0,
        "TreatMissingData": "",
        "EvaluateLowSampleCountPercentile": "",
        "Metrics": [
            {"Expression": "m1*100", "Id": "e1", "Label": "Percent", "ReturnData": True},
            {
                "Id": "m1",
                "MetricStat": {
                    "Metric": {
                        "Dimensions": [{"value": "q1", "name": "QueueName"}],
                        "MetricName": "ApproximateNumberOfMessagesVisible",
                        "Namespace": "AWS/SQS",
                    },
                    "Period": 60,
                    "Stat": "Average",
                },
                "ReturnData": False,
            },
        ],
    }
    body = with_alarm(fixture(SNS_OK), NewStateValue="ALARM", Trigger=trigger)

    (alert,) = cloudwatch.parse(body, {}).alerts

    assert {k: v for k, v in alert.labels.items() if k != "alarm_name"} == {
        "region": "ap-northeast-1",
        "account": "257706363616",
        "namespace": "AWS/SQS",
        "metric_name": "ApproximateNumberOfMessagesVisible",
        "dimension_QueueName": "q1",
    }


def test_over_long_alarm_arn_is_hashed_into_a_fingerprint(fixture):
    """Given an alarm whose ARN exceeds 255 characters (names may be 255 long), when parsed,
    then the fingerprint is a hash of the ARN."""
    arn = "arn:aws:cloudwatch:ap-northeast-1:257706363616:alarm:" + "a" * 255
    body = with_alarm(fixture(SNS_OK), AlarmArn=arn, AlarmName="a" * 255)

    (alert,) = cloudwatch.parse(body, {}).alerts

    assert alert.fingerprint == stable_fingerprint(arn)


@pytest.mark.parametrize(
    ("body", "headers", "problem"),
    [
        ([], {}, "body: Input should be a valid dictionary or instance of SnsEnvelope"),
        ({"Message": "x"}, {}, "Type: missing, and no x-amz-sns-message-type header"),
        (
            {"Type": "Notification"},
            sns_headers("SubscriptionConfirmation"),
            "Type: the body says 'Notification' but x-amz-sns-message-type says"
            " 'SubscriptionConfirmation'",
        ),
        (
            {"Type": "Publish"},
            {},
            "Type: 'Publish' is not an SNS message type (SubscriptionConfirmation,"
            " Notification, UnsubscribeConfirmation)",
        ),
        ({"Type": "Notification"}, {}, "Message: Field required"),
        ({"Type": "SubscriptionConfirmation"}, {}, "SubscribeURL: Field required"),
        ({"Records": []}, {}, "Records: List should have at least 1 item after validation, not 0"),
        ({"Records": [{}]}, {}, "Records.0.Sns: Field required"),
    ],
)
def test_malformed_sns_bodies_name_the_field(body, headers, problem):
    """Given a body SNS would not send, when parsed, then the problem names the field."""
    assert problem_of(body, headers) == problem


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"NewStateValue": "FIRING"},
            "Message.NewStateValue: Input should be 'ALARM', 'OK' or 'INSUFFICIENT_DATA'",
        ),
        ({"AlarmName": ""}, "Message.AlarmName: String should have at least 1 character"),
        (
            {"NewStateValue": None},
            "Message.NewStateValue: Input should be 'ALARM', 'OK' or 'INSUFFICIENT_DATA'",
        ),
        (
            {"StateChangeTime": "later"},
            "Message.StateChangeTime: Value error, not a valid timestamp: 'later'",
        ),
        (
            {"Trigger": {"Dimensions": [{"name": "X"}]}},
            "Message.Trigger.Dimensions.0.value: Field required",
        ),
    ],
)
def test_malformed_alarm_messages_name_the_field_inside_message(fixture, changes, problem):
    """Given an alarm Message with a broken field, when parsed, then the problem names the
    field inside Message."""
    body = with_alarm(fixture(SNS_OK), **changes)

    assert problem_of(body, {}) == problem


def test_lambda_record_with_a_non_alarm_message_names_the_record(fixture):
    """Given a Lambda SNS event whose record carries a plain-text message, when parsed,
    then the problem names Records.0.Sns.Message."""
    body = fixture(LAMBDA_ALARM)
    body["Records"][0]["Sns"]["Message"] = "Hello world!"

    assert problem_of(body, {}) == (
        "Records.0.Sns.Message: Value error, not a CloudWatch alarm (expected the alarm JSON"
        " with AlarmName, NewStateValue, ...)"
    )
