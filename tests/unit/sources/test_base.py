"""The source contract: registry, shared helpers, light imports, fixture coverage."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from tocsin.sources import SOURCES, get_source
from tocsin.sources.base import Identifier, LabelText, VendorTime, parse_time

TESTS_DIR = Path(__file__).resolve().parent
VENDOR_DIRS = ("alertmanager", "grafana", "datadog", "sentry", "newrelic", "aws")


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_registered_source_module_follows_the_contract(name):
    """Given a registered source name, when its module is loaded,
    then it declares SOURCE = that name and a parse(body, headers) function."""
    module = get_source(name)

    assert (module.SOURCE, callable(module.parse)) == (name, True)


def test_source_modules_import_nothing_heavy():
    """Given a fresh interpreter, when every source module is imported, then no AWS SDK,
    HTTP client or YAML parser is loaded (they run in the intake Lambda's cold start)."""
    code = (
        "import sys, tocsin.sources as s, importlib\n"
        "[importlib.import_module(m) for m in s.SOURCES.values()]\n"
        "heavy = {'boto3', 'botocore', 'requests', 'urllib3', 'yaml', 'aws_lambda_powertools'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert out.strip() == "[]"


def test_every_vendor_fixture_is_used_by_a_test(fixtures_dir):
    """Given the vendor payloads under shared/fixtures, then each file name appears in one
    of these test modules (so each has an exact expected outcome)."""
    tests = "".join(path.read_text() for path in TESTS_DIR.glob("test_*.py"))
    files = [p for d in VENDOR_DIRS for p in sorted((fixtures_dir / d).glob("*")) if p.is_file()]

    assert len(files) == 19
    assert [f"{p.parent.name}/{p.name}" for p in files if p.name not in tests] == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # the offset must survive a fractional second (it was read as a naive time before)
        ("2021-10-12T09:51:03.157076+02:00", datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)),
        ("2021-11-10T02:45:55.640+0000", datetime(2021, 11, 10, 2, 45, 55, 640000, tzinfo=UTC)),
        ("2019-10-03T16:00:04.653-0130", datetime(2019, 10, 3, 17, 30, 4, 653000, tzinfo=UTC)),
        ("2020-02-06T00:17:58.432911368Z", datetime(2020, 2, 6, 0, 17, 58, 432911, tzinfo=UTC)),
        ("2024-01-01T00:00:00", datetime(2024, 1, 1, tzinfo=UTC)),
        ("1759343824000", datetime(2025, 10, 1, 18, 37, 4, tzinfo=UTC)),
        (1566248777, datetime(2019, 8, 19, 21, 6, 17, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
        ("", None),
        (None, None),
        ("garbage", None),
        # out-of-range epochs (and NaN/inf, which Python's json accepts) are unset, not a crash
        ("99999999999999999999999", None),
        (1e300, None),
        (float("nan"), None),
        (float("inf"), None),
    ],
)
def test_parse_time(value, expected):
    """Given vendor timestamps, when parsed, then aware UTC-comparable datetimes or None."""
    assert parse_time(value) == expected


def test_parse_time_keeps_the_sender_offset():
    """Given an offset timestamp, when parsed, then the offset itself is kept."""
    parsed = parse_time("2021-10-12T09:51:03.157076+02:00")

    assert parsed is not None
    assert parsed.utcoffset() == timedelta(hours=2)
    assert parsed.tzinfo == timezone(timedelta(hours=2))


class Sample(BaseModel):
    at: VendorTime = None
    label: LabelText = ""
    id: Identifier | None = None


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("at", "0001-01-01T00:00:00Z", None),
        ("at", 1759343824, datetime(2025, 10, 1, 18, 37, 4, tzinfo=UTC)),
        ("label", True, "true"),
        ("label", False, "false"),
        ("label", 3, "3"),
        ("label", 2.5, "2.5"),
        ("label", "x", "x"),
        ("id", 1117540176, "1117540176"),
        ("id", "abc", "abc"),
    ],
)
def test_shared_field_types_accept(field, value, expected):
    """Given values vendors send, when validated, then normalized as documented."""
    assert getattr(Sample.model_validate({field: value}), field) == expected


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("at", True, "Value error, expected an ISO-8601 timestamp or epoch seconds/milliseconds"),
        (
            "at",
            {"t": 1},
            "Value error, expected an ISO-8601 timestamp or epoch seconds/milliseconds",
        ),
        ("at", "Monday", "Value error, not a valid timestamp: 'Monday'"),
        ("label", None, "Value error, expected a string, number or boolean"),
        ("label", [1], "Value error, expected a string, number or boolean"),
        ("id", True, "Input should be a valid string"),
        ("id", "", "String should have at least 1 character"),
        ("id", "x" * 256, "String should have at most 255 characters"),
    ],
)
def test_shared_field_types_reject(field, value, message):
    """Given values no vendor format allows, when validated, then one error at the field."""
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate({field: value})

    (error,) = caught.value.errors()
    assert (error["loc"], error["msg"]) == ((field,), message)
