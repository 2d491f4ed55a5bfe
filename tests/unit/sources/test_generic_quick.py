"""The generic source's quick reader (the intake's pydantic-free fast path) never vouches for a
payload the full parse would refuse or read differently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tocsin.domain.alert_identity import AlertKey, AlertStatus
from tocsin.domain.alerts import stable_fingerprint
from tocsin.domain.errors import PayloadFormatError
from tocsin.sources import QUICK_READERS, generic, generic_quick, quick_keys

HEADERS = {"content-type": "application/json"}
FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"

PLAIN = {"title": "Disk full", "dedup_key": "disk-1", "labels": {"service": "db"}}

#: payloads of every shape: the quick reader must either decline (None) or agree with the
#: full parse on each alert's fingerprint and status
PAYLOADS: list[Any] = [
    PLAIN,
    {"title": "Disk full"},
    {"title": "Disk full", "labels": {"b": "2", "a": "1"}},
    {"title": "Disk full", "status": "resolved", "dedup_key": "k"},
    {"title": "Disk full", "status": "firing", "severity": "critical", "description": "d"},
    {"title": "Disk full", "severity": None, "dedup_key": None, "group_key": None},
    {"title": "Disk full", "group_key": "g"},
    {"title": "Disk full", "dedup_key": "x" * 255},
    {"alerts": [PLAIN, {"title": "CPU", "status": "resolved"}]},
    {"alerts": [PLAIN, PLAIN]},
    # refused by the full parse
    {},
    {"title": ""},
    {"title": "   "},
    {"title": 3},
    {"title": None},
    {"title": "t", "dedup_key": ""},
    {"title": "t", "dedup_key": "x" * 256},
    {"title": "t", "dedup_key": 5},
    {"title": "t", "status": "ok"},
    {"title": "t", "status": None},
    {"title": "t", "status": ["firing"]},
    {"title": "t", "severity": 1},
    {"title": "t", "description": None},
    {"title": "t", "group_key": ""},
    {"title": "t", "labels": {"a": {"b": "c"}}},
    {"title": "t", "labels": ["a"]},
    {"title": "t", "lables": {}},
    {"title": "t", "links": {"runbook": "ftp://x"}},
    {"alerts": []},
    {"alerts": {"title": "t"}},
    {"alerts": [PLAIN], "extra": 1},
    {"alerts": [PLAIN, {"title": ""}]},
    [PLAIN],
    "Disk full",
    None,
    # accepted by the full parse, but only read by it
    {"title": "t", "labels": {"attempt": 3, "ok": True}},
    {"title": "t", "links": {"runbook": "https://wiki/r"}},
    {"title": "t", "started_at": "2026-11-27T10:00:00Z"},
    {"title": "t", "ended_at": 1764237600},
]


def full_parse(payload: Any) -> list[tuple[str, AlertStatus]] | None:
    try:
        alerts = generic.parse(payload, HEADERS).alerts
    except PayloadFormatError:
        return None
    return [(a.fingerprint, a.status) for a in alerts]


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_the_quick_reader_agrees_with_the_full_parse_or_declines(payload: Any) -> None:
    # When both read the payload
    quick = generic_quick.keys(payload, HEADERS)
    # Then the quick reader declined, or the full parse accepts it and reads the same alerts
    if quick is not None:
        assert all(key.source == "generic" for key in quick)
        assert full_parse(payload) == [(key.fingerprint, key.status) for key in quick]


def test_the_quick_reader_vouches_for_plain_payloads_and_declines_invalid_ones() -> None:
    # Given plain payloads, then the quick reader reads them (the fast path is taken)
    assert quick_keys("generic", PLAIN, HEADERS) == [
        AlertKey(source="generic", fingerprint="disk-1", status=AlertStatus.FIRING)
    ]
    assert quick_keys("generic", {"title": "Disk full", "labels": {"b": "2", "a": "1"}}, {}) == [
        AlertKey(
            source="generic",
            fingerprint=stable_fingerprint("Disk full", [("a", "1"), ("b", "2")]),
            status=AlertStatus.FIRING,
        )
    ]
    # and every payload the full parse refuses is left to it (its error, its quarantine)
    for payload in PAYLOADS:
        if full_parse(payload) is None:
            assert generic_quick.keys(payload, HEADERS) is None, payload
    # and sources without a quick reader are always parsed fully
    assert "alertmanager" not in QUICK_READERS
    assert quick_keys("alertmanager", {"alerts": []}, {}) is None


DUPLICATE_IN_A_FRESH_PROCESS = """
import json, sys
from datetime import UTC, datetime
import tocsin.handlers.intake
from tocsin.dal.dedup import Dedup, Repeat
from tocsin.domain.alert_identity import AlertStatus
from tocsin.services.intake import IntakeService

class RepeatedDedup:
    def repeat(self, alert, now):
        settled = Dedup(AlertStatus.FIRING, 2, "inc-1", None)
        return Repeat(settled=settled, previous=settled)

def unused(*args):
    raise AssertionError("a re-delivery needs none of the slow path")

service = IntakeService(RepeatedDedup(), unused, unused, unused, unused,
                        clock=lambda: datetime(2026, 11, 27, tzinfo=UTC))
body = json.dumps({"title": "Disk full", "dedup_key": "disk-1"}).encode()
outcome = service.ingest("generic", body, {})
print(json.dumps([outcome.as_dict(), sorted(m for m in sys.modules if m.startswith("pydantic"))]))
"""


def test_a_redelivery_is_counted_without_loading_pydantic() -> None:
    """A cold start that serves re-delivered alerts pays for neither pydantic's import nor
    its first model (about 140 ms); only the slow path and the other sources load it."""
    env = {**os.environ, "PYTHONPATH": str(FUNCTIONS)}
    out = subprocess.run(
        [sys.executable, "-c", DUPLICATE_IN_A_FRESH_PROCESS],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    outcome, pydantic_modules = json.loads(out.stdout)
    assert outcome["duplicates"] == 1 and outcome["incidents"] == ["inc-1"]
    assert pydantic_modules == []
