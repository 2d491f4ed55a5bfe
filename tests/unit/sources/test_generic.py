"""Tocsin's generic JSON alert format (docs/generic-alert-format.md)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tocsin.domain.alerts import Alert, AlertLinks, AlertStatus, stable_fingerprint
from tocsin.domain.errors import PayloadFormatError
from tocsin.sources import generic

HEADERS = {"content-type": "application/json", "authorization": "Bearer t"}
DOC = Path(__file__).resolve().parents[3] / "docs" / "generic-alert-format.md"


def parse(body: Any) -> list[Alert]:
    return generic.parse(body, HEADERS).alerts


def problem_of(body: Any) -> str:
    with pytest.raises(PayloadFormatError) as caught:
        generic.parse(body, HEADERS)
    assert caught.value.source == "generic"
    return caught.value.problem


def doc_examples() -> list[Any]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)]


def test_minimal_alert_fires_with_a_fingerprint_from_its_title():
    """Given only a title, when parsed, then one firing alert keyed by title and no labels."""
    assert parse({"title": "Disk full"}) == [
        Alert(
            source="generic",
            fingerprint=stable_fingerprint("Disk full", []),
            status=AlertStatus.FIRING,
            title="Disk full",
        )
    ]


def test_documented_example_is_read_field_by_field():
    """Given the example of docs/generic-alert-format.md, when parsed, then every field lands
    where the doc says (numbers in labels become text)."""
    example = doc_examples()[0]

    assert parse(example) == [
        Alert(
            source="generic",
            fingerprint="backup/db-1",
            status=AlertStatus.FIRING,
            title="Nightly backup failed on db-1",
            description="pg_dump exited with status 1: connection refused",
            labels={"service": "billing", "env": "prod", "attempt": "3"},
            severity_hint="critical",
            started_at=datetime(2024, 5, 1, 2, 0, tzinfo=UTC),
            links=AlertLinks(
                source="https://ci.example.com/jobs/backup/1234",
                runbook="https://wiki.example.com/runbooks/backup",
                dashboard="https://grafana.example.com/d/backups",
                images=("https://grafana.example.com/render/d/backups.png",),
            ),
        )
    ]


def test_documented_resolve_and_batch_examples():
    """Given the doc's resolve and batch examples, when parsed, then the resolve matches the
    firing example's dedup_key and the batch gives two alerts keyed by title + labels."""
    _, resolve, batch = doc_examples()

    (resolved,) = parse(resolve)
    assert (resolved.fingerprint, resolved.status) == ("backup/db-1", AlertStatus.RESOLVED)
    assert resolved.ended_at == datetime(2024, 5, 1, 2, 40, tzinfo=UTC)

    first, second = parse(batch)
    assert first.fingerprint == stable_fingerprint(
        "Disk 91% full on web-1", [("host", "web-1"), ("service", "web")]
    )
    assert second.title == "Disk 93% full on web-2"
    assert second.labels == {"service": "web", "host": "web-2"}


def test_default_fingerprint_ignores_label_order_and_matches_the_resolve():
    """Given a firing and a resolved alert without dedup_key, same title and labels in another
    order (and a bool written as JSON true vs "true"), when parsed, then same fingerprint."""
    (fired,) = parse({"title": "T", "labels": {"a": "1", "ok": True}})
    (resolved,) = parse({"title": "T", "status": "resolved", "labels": {"ok": "true", "a": 1}})

    assert fired.fingerprint == resolved.fingerprint
    assert resolved.status is AlertStatus.RESOLVED


def test_group_key_severity_and_epoch_times():
    """Given group_key, severity and epoch-millisecond times, when parsed, then kept."""
    (alert,) = parse(
        {
            "title": "T",
            "group_key": "deploy-42",
            "severity": "SEV2",
            "started_at": 1714528800000,
            "ended_at": "2024-05-01T03:00:00+02:00",
        }
    )

    assert alert.group_key == "deploy-42"
    assert alert.severity_hint == "SEV2"
    assert alert.started_at == datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
    assert alert.ended_at == datetime(2024, 5, 1, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ([{"title": "T"}], "body: Input should be a valid dictionary or instance of GenericAlert"),
        ("Disk full", "body: Input should be a valid dictionary or instance of GenericAlert"),
        ({}, "title: Field required"),
        ({"title": ""}, "title: Value error, must not be blank"),
        ({"title": "   "}, "title: Value error, must not be blank"),
        ({"title": 5}, "title: Input should be a valid string"),
        ({"title": "T", "dedupe_key": "x"}, "dedupe_key: Extra inputs are not permitted"),
        (
            {"title": "T", "dedup_key": "k" * 256},
            "dedup_key: String should have at most 255 characters",
        ),
        ({"title": "T", "dedup_key": ""}, "dedup_key: String should have at least 1 character"),
        ({"title": "T", "status": "open"}, "status: Input should be 'firing' or 'resolved'"),
        ({"title": "T", "labels": ["a"]}, "labels: Input should be a valid dictionary"),
        (
            {"title": "T", "labels": {"owner": {"team": "x"}}},
            "labels.owner: Value error, expected a string, number or boolean",
        ),
        (
            {"title": "T", "labels": {"x": None}},
            "labels.x: Value error, expected a string, number or boolean",
        ),
        (
            {"title": "T", "started_at": "last tuesday"},
            "started_at: Value error, not a valid timestamp: 'last tuesday'",
        ),
        (
            {"title": "T", "links": {"runbook": "javascript:alert(1)"}},
            "links.runbook: Value error, must be an http:// or https:// URL",
        ),
        (
            {"title": "T", "links": {"images": "https://x/y.png"}},
            "links.images: Input should be a valid list",
        ),
        (
            {"title": "T", "links": {"wiki": "https://x"}},
            "links.wiki: Extra inputs are not permitted",
        ),
        ({"alerts": []}, "alerts: List should have at least 1 item after validation, not 0"),
        ({"alerts": {"title": "T"}}, "alerts: Input should be a valid list"),
        (
            {"alerts": [{"title": "T"}, {"title": "U", "status": "done"}]},
            "alerts.1.status: Input should be 'firing' or 'resolved'",
        ),
        ({"alerts": [{"title": "T"}], "source": "x"}, "source: Extra inputs are not permitted"),
    ],
)
def test_malformed_bodies_name_the_field(body, problem):
    """Given a body that breaks the documented format, when parsed,
    then it is refused and the problem names the field and the reason."""
    assert problem_of(body) == problem


def test_documented_error_examples_are_the_real_messages():
    """Given the error examples listed in the doc, then each is a message parse() produces."""
    produced = {
        problem_of({}),
        problem_of({"title": "T", "dedupe_key": "x"}),
        problem_of({"alerts": [{"title": "T"}, {"title": "U", "status": "x"}]}),
        problem_of({"title": "T", "labels": {"owner": []}}),
        problem_of({"title": "T", "links": {"runbook": "ftp://x"}}),
    }
    documented = re.findall(r"^- `(.+)`$", DOC.read_text().split("## Errors")[1], re.M)

    assert set(documented) == produced
