"""New Relic workflow webhook (default payload) normalization."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus
from tocsin.domain.errors import PayloadFormatError
from tocsin.sources import newrelic

CREATED = "newrelic/zulip_workflow_default_payload_CREATED.json"
HEADERS = {"content-type": "application/json"}


def problem_of(body: Any) -> str:
    with pytest.raises(PayloadFormatError) as caught:
        newrelic.parse(body, HEADERS)
    assert caught.value.source == "newrelic"
    return caught.value.problem


def test_created_issue_fires(fixture):
    """Given the default payload of a CREATED issue, when parsed, then one firing alert keyed
    by the issue id, with the priority as hint and entities/policies/conditions as labels."""
    result = newrelic.parse(fixture(CREATED), HEADERS)

    assert result.alerts == [
        Alert(
            source="newrelic",
            fingerprint="208c5e92-f250-40be-b7c2-50508c268c15",
            status=AlertStatus.FIRING,
            title="MAIN-APP-UBUNTU query result is > 2.0 for 1 minutes on 'High CPU'",
            labels={
                "impacted_entities": "MAIN-APP-UBUNTU",
                "alert_policy_names": "Golden Signals",
                "alert_condition_names": "High CPU",
            },
            severity_hint="CRITICAL",
            started_at=datetime(2024, 4, 22, 6, 36, 29, 495000, tzinfo=UTC),
            links=AlertLinks(
                source="https://radar-api.service.newrelic.com/accounts/1/issues/"
                "0ea2df1c-adab-45d2-aae0-042b609d2322?notifier=SLACK"
            ),
        )
    ]


def test_closed_issue_resolves_the_same_alert_at_its_update_time(fixture):
    """Given the same issue CLOSED later with several entities, when parsed, then the same
    fingerprint is resolved, ending at updatedAt, and list labels are comma-joined."""
    body = fixture(CREATED)
    body.update(
        state="CLOSED",
        updatedAt=1713768089495,
        trigger="STATE_CHANGE",
        impactedEntities=["MAIN-APP-UBUNTU", "DB-1"],
    )

    (alert,) = newrelic.parse(body, HEADERS).alerts

    assert alert.fingerprint == "208c5e92-f250-40be-b7c2-50508c268c15"
    assert alert.status is AlertStatus.RESOLVED
    assert alert.ended_at == datetime(2024, 4, 22, 6, 41, 29, 495000, tzinfo=UTC)
    assert alert.labels["impacted_entities"] == "MAIN-APP-UBUNTU,DB-1"


@pytest.mark.parametrize("state", ["ACTIVATED", "ACKNOWLEDGED"])
def test_activated_and_acknowledged_issues_are_still_firing(fixture, state):
    """Given the issue ACTIVATED or ACKNOWLEDGED (still open), when parsed, then it fires."""
    body = fixture(CREATED)
    body["state"] = state

    (alert,) = newrelic.parse(body, HEADERS).alerts

    assert alert.status is AlertStatus.FIRING
    assert alert.ended_at is None


def test_empty_lists_and_missing_optionals_give_no_labels_or_links():
    """Given a minimal issue, when parsed, then no empty labels, links or hints appear."""
    (alert,) = newrelic.parse({"id": 17, "title": "T", "state": "CREATED"}, HEADERS).alerts

    assert (alert.fingerprint, alert.labels, alert.links, alert.severity_hint) == (
        "17",
        {},
        AlertLinks(),
        None,
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"state": "OPEN"},
            "state: Input should be 'CREATED', 'ACTIVATED', 'ACKNOWLEDGED' or 'CLOSED'",
        ),
        ({"id": None}, "id: Input should be a valid string"),
        ({"id": ""}, "id: String should have at least 1 character"),
        ({"title": ""}, "title: String should have at least 1 character"),
        ({"impactedEntities": "MAIN-APP-UBUNTU"}, "impactedEntities: Input should be a valid list"),
        ({"createdAt": "yesterday"}, "createdAt: Value error, not a valid timestamp: 'yesterday'"),
    ],
)
def test_malformed_fields_are_named(fixture, change, problem):
    """Given the fixture with one field broken, when parsed, then the problem names it."""
    body = fixture(CREATED)
    body.update(change)

    assert problem_of(body) == problem


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([], "body: Input should be a valid dictionary or instance of NewRelicIssue"),
        ({"title": "T", "state": "CREATED"}, "id: Field required"),
    ],
)
def test_malformed_bodies_are_named(body, problem):
    """Given a body that is not an issue, when parsed, then the problem names what is wrong."""
    assert problem_of(body) == problem
