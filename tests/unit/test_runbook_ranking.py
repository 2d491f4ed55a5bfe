"""Runbook suggestions: for realistic incidents, the expected runbook comes first, and every
suggestion says why it matched."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from tocsin.config_loader import load_config
from tocsin.domain.incidents import Incident
from tocsin.runbook_loader import load_runbooks, runbooks_dir
from tocsin.services.runbook_index import RunbookIndex, Situation, literal_prefix

from tests.helpers import REPO

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


@cache
def index() -> RunbookIndex:
    config = load_config(REPO / "config")
    runbooks, problems = load_runbooks(config, runbooks_dir(config, REPO / "config"))
    assert not problems
    return RunbookIndex(runbooks)


def incident(title: str, service: str | None = None, **fields: Any) -> Incident:
    return Incident(
        id="01TEST", number=42, title=title, severity="SEV2", service=service,
        created_at=NOW, updated_at=NOW, **fields,
    )  # fmt: skip


def alert(
    title: str, description: str = "", runbook: str | None = None, **labels: str
) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "labels": labels,
        "links": {"runbook": runbook} if runbook else {},
        "status": "firing",
    }


# (case, incident, alerts, expected top runbook id)
CASES: list[tuple[str, Incident, list[dict[str, Any]], str]] = [
    (
        "alertmanager latency alert on checkout",
        incident("CheckoutHighLatency", "checkout"),
        [
            alert(
                "CheckoutHighLatency",
                "p99 above 2s",
                alertname="CheckoutHighLatency",
                job="checkout-api",
                severity="critical",
            )
        ],
        "checkout-latency",
    ),
    (
        "generic error rate alert narrowed by job label",
        incident("HighErrorRate", "checkout"),
        [alert("HighErrorRate", "5xx ratio 12%", alertname="HighErrorRate", job="checkout-api")],
        "checkout-5xx",
    ),
    (
        "CloudWatch RDS alarm",
        incident("payments-prod CPU and connections", "checkout"),
        [
            alert(
                "payments-prod-DatabaseConnections",
                namespace="AWS/RDS",
                metric_name="DatabaseConnections",
                alarm_name="payments-prod-DatabaseConnections",
            )
        ],
        "payments-db-failover",
    ),
    (
        "SQS age of oldest message alarm",
        incident("order-events backlog", "checkout"),
        [
            alert(
                "order-events-age",
                namespace="AWS/SQS",
                metric_name="ApproximateAgeOfOldestMessage",
                alarm_name="order-events-age",
            )
        ],
        "checkout-queue-backlog",
    ),
    (
        "kafka lag on the search indexer, by label",
        incident("Consumer group lag", "search"),
        [
            alert(
                "KafkaConsumerGroupLag",
                alertname="KafkaConsumerGroupLag",
                consumergroup="search-indexer",
                topic="catalog.products.v2",
            )
        ],
        "search-indexing-kafka-lag",
    ),
    (
        "node exporter disk alert without a service",
        incident("NodeFilesystemAlmostOutOfSpace"),
        [
            alert(
                "NodeFilesystemAlmostOutOfSpace",
                "Filesystem on /dev/nvme1n1 at 3% available",
                alertname="NodeFilesystemAlmostOutOfSpace",
                instance="db-3:9100",
                mountpoint="/var/lib/postgresql",
            )
        ],
        "disk-full",
    ),
    (
        "AWS Health scheduled change",
        incident("AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED (EC2)"),
        [
            alert(
                "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED (EC2)",
                "Your instance will be retired",
                aws_service="EC2",
                event_type_code="AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
                event_type_category="scheduledChange",
                region="eu-west-1",
            )
        ],
        "aws-health-event",
    ),
    (
        "OOM kill reason label",
        incident("Container restarted", "search"),
        [
            alert(
                "KubeContainerRestarted",
                "search-api restarted 4 times",
                alertname="KubeContainerRestarted",
                reason="OOMKilled",
                namespace="search",
            )
        ],
        "oom-memory-leak",
    ),
    (
        "only text relevance decides: a declared incident in plain words",
        incident(
            "Customers report certificate error on https://shop.example.com, browsers say the TLS cert expired"
        ),
        [],
        "certificate-expiry",
    ),
    (
        "only text relevance decides: DNS lookups failing",
        incident("Pods cannot resolve hostnames: getaddrinfo EAI_AGAIN, SERVFAIL from coredns"),
        [],
        "dns-resolution",
    ),
    (
        "the alert's runbook_url annotation wins over a service and name match",
        incident("CheckoutHighLatency", "checkout"),
        [
            alert(
                "CheckoutHighLatency",
                alertname="CheckoutHighLatency",
                job="checkout-api",
                runbook="https://wiki.example.com/payments/psp-outage",
            )
        ],
        "psp-outage",
    ),
    (
        "wiki page found by its metadata",
        incident("PaymentProviderErrors", "checkout"),
        [
            alert(
                "PaymentProviderErrors",
                "card authorisation failing",
                alertname="PaymentProviderErrors",
            )
        ],
        "psp-outage",
    ),
    (
        "search incident with zero results",
        incident("Search shows no results for most queries", "search"),
        [alert("SearchZeroResultRateHigh", alertname="SearchZeroResultRateHigh")],
        "search-zero-results",
    ),
    (
        "Lambda throttles alarm",
        incident("Throttles on order-webhook"),
        [
            alert(
                "order-webhook-throttles",
                namespace="AWS/Lambda",
                metric_name="Throttles",
                dimension_FunctionName="order-webhook",
            )
        ],
        "lambda-throttling",
    ),
]


@pytest.mark.parametrize(
    ("inc", "alerts", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_expected_runbook_is_suggested_first(
    inc: Incident, alerts: list[dict[str, Any]], expected: str
) -> None:
    suggestions = index().rank(Situation.of(inc, alerts), limit=3)
    assert suggestions, "something is suggested"
    assert suggestions[0].runbook_id == expected, [
        (s.runbook_id, s.score, s.reasons) for s in suggestions
    ]
    assert all(s.reasons for s in suggestions), "every suggestion says why"


def test_reasons_name_the_service_the_alert_the_labels_and_the_words() -> None:
    inc = incident("Checkout p99 latency high", "checkout")
    alerts = [
        alert(
            "CheckoutHighLatency",
            alertname="CheckoutHighLatency",
            job="checkout-api",
            slo="latency",
        )
    ]
    (top, *_) = index().rank(Situation.of(inc, alerts))
    assert top.runbook_id == "checkout-latency"
    assert "service checkout" in top.reasons
    assert "alert CheckoutHighLatency" in top.reasons
    assert "labels job=checkout-api, slo=latency" in top.reasons
    text = next(r for r in top.reasons if r.startswith("text: "))
    assert "latency" in text and "p99" in text


def test_a_runbook_url_is_linked_directly_even_when_tocsin_does_not_know_it() -> None:
    url = "https://runbooks.example.org/HighCPU"
    suggestions = index().rank(Situation.of(incident("HighCPU"), [alert("HighCPU", runbook=url)]))
    assert suggestions[0].direct and suggestions[0].url == url and suggestions[0].runbook_id is None
    assert suggestions[0].reasons == ["runbook_url of alert HighCPU"]


def test_a_known_runbook_linked_by_url_is_marked_direct() -> None:
    inc = incident("Card payments failing", "checkout")
    alerts = [alert("PSPDown", runbook="https://wiki.example.com/payments/psp-outage/")]
    top = index().rank(Situation.of(inc, alerts))[0]
    assert top.runbook_id == "psp-outage" and top.direct
    assert "runbook_url of alert PSPDown" in top.reasons


def test_nothing_is_suggested_for_an_unrelated_incident() -> None:
    assert index().rank(Situation.of(incident("Office coffee machine empty"), [])) == []


def test_search_finds_by_words_and_prefers_the_incidents_service() -> None:
    idx = index()
    found = idx.rank(Situation.of(None), query="kafka lag", limit=5)
    assert found[0].runbook_id == "search-indexing-kafka-lag"
    latency = idx.rank(Situation.of(incident("slow", "search")), query="latency p99", limit=5)
    assert latency[0].runbook_id == "search-latency"
    assert "service search" in latency[0].reasons


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("checkout.*", "checkout"),
        ("AWS/RDS", "AWS/RDS"),
        ("AWS_RDS_.*", "AWS_RDS_"),
        ("checkouts?", "checkout"),
        ("a{2}b", ""),
        ("(?i)checkout", ""),
        ("checkout|search", ""),
        ("svc[0-9]+", "svc"),
        (r"10\.0\..*", "10"),
    ],
)
def test_label_matchers_are_bucketed_by_a_safe_literal_prefix(pattern: str, prefix: str) -> None:
    assert literal_prefix(pattern) == prefix


def test_regex_matchers_without_a_prefix_still_match() -> None:
    from tocsin.domain.runbooks import Runbook, RunbookMeta, RunbookSource

    def rb(rid: str, pattern: str) -> Runbook:
        meta = RunbookMeta.model_validate(
            {
                "title": rid,
                "owner": "x",
                "last_reviewed": "2026-01-01",
                "alerts": [{"labels": {"job": pattern}}],
            }
        )
        return Runbook(id=rid, meta=meta, source=RunbookSource.REPOSITORY)

    idx = RunbookIndex(
        [rb("ci", "(?i)CHECKOUT.*"), rb("alt", "search|checkout-api"), rb("no", "search.*")]
    )
    found = idx.rank(Situation.of(None, [alert("X", job="checkout-api")]), limit=5)
    assert {s.runbook_id for s in found} == {"ci", "alt"}
