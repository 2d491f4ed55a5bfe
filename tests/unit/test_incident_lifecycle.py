"""The incident lifecycle: explicit transitions, a timestamp for each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tocsin.domain.errors import InvalidTransitionError
from tocsin.domain.incidents import ALLOWED_TRANSITIONS, Incident, IncidentStatus

S = IncidentStatus
T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def incident(status: IncidentStatus = S.TRIGGERED) -> Incident:
    return Incident(
        id="inc-1",
        number=42,
        title="x",
        severity="SEV1",
        status=status,
        created_at=T0,
        updated_at=T0,
    )


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (S.TRIGGERED, S.ACKNOWLEDGED),
        (S.ACKNOWLEDGED, S.MITIGATED),
        (S.MITIGATED, S.RESOLVED),
        (S.TRIGGERED, S.RESOLVED),
        (S.RESOLVED, S.TRIGGERED),  # reopen
        (S.MITIGATED, S.TRIGGERED),  # an alert fired again
    ],
)
def test_allowed_transitions_record_when_they_happened(
    start: IncidentStatus, target: IncidentStatus
) -> None:
    at = datetime(2026, 11, 27, 3, 5, tzinfo=UTC)
    after = incident(start).transitioned(target, at)
    assert after.status is target
    assert after.status_times[target] == at
    assert after.updated_at == at


@pytest.mark.parametrize(
    ("start", "target"),
    [(S.RESOLVED, S.ACKNOWLEDGED), (S.RESOLVED, S.MITIGATED), (S.ACKNOWLEDGED, S.TRIGGERED)],
)
def test_forbidden_transitions_name_what_is_allowed(
    start: IncidentStatus, target: IncidentStatus
) -> None:
    with pytest.raises(InvalidTransitionError) as err:
        incident(start).transitioned(target, T0)
    assert f"from {start} to {target}" in str(err.value)
    assert "allowed:" in str(err.value)


def test_every_status_has_a_way_forward() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(S)
    assert all(ALLOWED_TRANSITIONS[status] for status in S)


def test_human_reference() -> None:
    assert incident().ref == "INC-42"
    assert incident().model_copy(update={"number": None}).ref == "inc-1"
    assert incident().model_dump()["ref"] == "INC-42"
