"""Realistic payloads for the demo, in each vendor's published webhook format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any


def _ts(delta_minutes: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(minutes=delta_minutes)).isoformat().replace("+00:00", "Z")


def alertmanager_checkout(status: str = "firing") -> dict[str, Any]:
    """Alertmanager webhook v4: two pods of one group."""
    ends = _ts() if status == "resolved" else "0001-01-01T00:00:00Z"
    alerts = [
        {
            "status": status,
            "labels": {
                "alertname": "CheckoutLatencyHigh",
                "job": "checkout-api",
                "pod": pod,
                "severity": "critical",
            },
            "annotations": {
                "summary": "Checkout p99 latency above 2s",
                "description": f"p99 latency on {pod} is 3.4s (threshold 2s)",
                "runbook_url": "https://runbooks.example.com/checkout/latency",
            },
            "startsAt": _ts(-3),
            "endsAt": ends,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=histogram_quantile",
            "fingerprint": fp,
        }
        for pod, fp in (
            ("checkout-7d9f-abcde", "5f2a9c0e11d4b7a1"),
            ("checkout-7d9f-fghij", "9b3e4d2c7a1f0e88"),
        )
    ]
    return {
        "version": "4",
        "groupKey": '{}:{alertname="CheckoutLatencyHigh"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "tocsin",
        "groupLabels": {"alertname": "CheckoutLatencyHigh"},
        "commonLabels": {
            "alertname": "CheckoutLatencyHigh",
            "job": "checkout-api",
            "severity": "critical",
        },
        "commonAnnotations": {"summary": "Checkout p99 latency above 2s"},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


def grafana_search(service: str = "search") -> dict[str, Any]:
    """Grafana unified alerting webhook."""
    return {
        "receiver": "tocsin",
        "status": "firing",
        "orgId": 1,
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "SearchErrorRate",
                    "service": service,
                    "severity": "warning",
                },
                "annotations": {"summary": "Search 5xx ratio above 5%"},
                "startsAt": _ts(-2),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://grafana.example.com/alerting/grafana/abc123/view",
                "fingerprint": "c0ffee1234567890",
                "silenceURL": "https://grafana.example.com/alerting/silence/new",
                "dashboardURL": "https://grafana.example.com/d/search",
                "panelURL": "https://grafana.example.com/d/search?viewPanel=2",
                "values": {"B": 0.073},
                "valueString": "[ var='B' labels={} value=0.073 ]",
            }
        ],
        "groupLabels": {"alertname": "SearchErrorRate"},
        "commonLabels": {"alertname": "SearchErrorRate", "service": service},
        "commonAnnotations": {},
        "externalURL": "https://grafana.example.com/",
        "version": "1",
        "groupKey": '{}:{alertname="SearchErrorRate"}',
        "truncatedAlerts": 0,
        "title": "[FIRING:1] SearchErrorRate",
        "state": "alerting",
        "message": "Search 5xx ratio above 5%",
    }


def datadog_db() -> dict[str, Any]:
    """Datadog webhook with a custom payload ($AGGREG_KEY, $ALERT_TRANSITION, $ALERT_PRIORITY)."""
    return {
        "id": "7410852963012345678",
        "last_updated": "1795750000000",
        "event_type": "query_alert_monitor",
        "title": "[Triggered] Orders DB connections above 90%",
        "date": "1795750000000",
        "org": {"id": "352347", "name": "example"},
        "body": "%%%\n**postgresql.percent_usage_connections** over **db:orders** was **> 0.9**.\n%%%",
        "transition": "Triggered",
        "aggregate": "4f1c2b9e0a7d6c5b3e2f1a0b9c8d7e6f",
        "alert_priority": "P2",
        "tags": "service:orders,env:prod,db:orders",
    }


def generic_disk(status: str = "firing") -> dict[str, Any]:
    return {
        "title": "Disk 92% full on db-orders-3",
        "dedup_key": "disk-db-orders-3",
        "status": status,
        "severity": "high",
        "labels": {"service": "orders", "host": "db-orders-3"},
        "links": {"runbook": "https://runbooks.example.com/disk-full"},
    }


def cloudwatch_sns_alarm() -> tuple[dict[str, Any], dict[str, str]]:
    """An SNS HTTP(S) notification carrying a CloudWatch alarm (as SNS posts it)."""
    alarm = {
        "AlarmName": "prod-api-5xx-critical",
        "AlarmDescription": "API Gateway 5xx rate above 5% for 3 minutes",
        "AWSAccountId": "123456789012",
        "NewStateValue": "ALARM",
        "NewStateReason": "Threshold Crossed: 3 datapoints were greater than the threshold (5.0).",
        "StateChangeTime": _ts(),
        "Region": "US East (N. Virginia)",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-api-5xx-critical",
        "OldStateValue": "OK",
        "Trigger": {
            "MetricName": "5XXError",
            "Namespace": "AWS/ApiGateway",
            "Statistic": "AVERAGE",
            "Dimensions": [{"name": "ApiName", "value": "public-api"}],
            "Period": 60,
            "EvaluationPeriods": 3,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 5.0,
        },
    }
    body = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:tocsin-alarms",
        "Subject": 'ALARM: "prod-api-5xx-critical" in US East (N. Virginia)',
        "Message": json.dumps(alarm),
        "Timestamp": _ts(),
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }
    headers = {
        "x-amz-sns-message-type": "Notification",
        "x-amz-sns-topic-arn": "arn:aws:sns:us-east-1:123456789012:tocsin-alarms",
        "Content-Type": "text/plain; charset=UTF-8",
    }
    return body, headers


def aws_health_event() -> dict[str, Any]:
    """An AWS Health event as EventBridge delivers it (detail of put_events)."""
    return {
        "eventArn": "arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/AWS_EC2_OPERATIONAL_ISSUE_DEMO",
        "service": "EC2",
        "eventTypeCode": "AWS_EC2_OPERATIONAL_ISSUE",
        "eventTypeCategory": "issue",
        "startTime": "Fri, 27 Nov 2026 02:10:00 GMT",
        "statusCode": "open",
        "eventDescription": [
            {"language": "en_US", "latestDescription": "Increased API error rates in us-east-1."}
        ],
    }


def sentry_event_alert() -> dict[str, Any]:
    return {
        "action": "triggered",
        "installation": {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"},
        "data": {
            "event": {
                "event_id": "0f7a1d5e2b3c4d5e6f7a8b9c0d1e2f3a",
                "issue_id": "4242",
                "level": "fatal",
                "title": "PaymentError: card processor timeout",
                "culprit": "payments.charge",
                "url": "https://sentry.io/api/0/projects/example/payments/events/0f7a1d5e/",
                "web_url": "https://sentry.io/organizations/example/issues/4242/events/0f7a1d5e/",
                "issue_url": "https://sentry.io/api/0/issues/4242/",
                "tags": [["environment", "production"], ["service", "payments"]],
            },
            "triggered_rule": "Payment errors",
        },
        "actor": {"type": "application", "id": "sentry", "name": "Sentry"},
    }
