"""Action items' rules that need no AWS: due dates, overdue, the reminders' clock."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError
from tocsin.domain.action_items import Reminders, parse_due
from tocsin.domain.errors import InvalidRequestError

TODAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("today", TODAY),
        ("Tomorrow", date(2026, 11, 28)),
        ("3d", date(2026, 11, 30)),
        ("2w", date(2026, 12, 11)),
        ("2027-01-15", date(2027, 1, 15)),
    ],
)
def test_due_words(word: str, expected: date) -> None:
    assert parse_due(word, TODAY) == expected


@pytest.mark.parametrize("word", ["soon", "d", "3x", "2026-13-01", "next week"])
def test_a_due_word_that_is_no_date_says_what_is_accepted(word: str) -> None:
    with pytest.raises(InvalidRequestError, match=r"is not a date .*tomorrow, 3d, 2w"):
        parse_due(word, TODAY)


def test_reminders_go_out_from_their_time_in_their_zone() -> None:
    berlin = Reminders(at="09:00", timezone="Europe/Berlin")
    # 07:30 UTC is 08:30 in Berlin (winter): not yet; 08:00 UTC is 09:00 there
    assert not berlin.due_now(datetime(2026, 11, 27, 7, 30, tzinfo=UTC))
    assert berlin.due_now(datetime(2026, 11, 27, 8, 0, tzinfo=UTC))
    # summer time: 09:00 in Berlin is 07:00 UTC
    assert berlin.due_now(datetime(2026, 7, 1, 7, 0, tzinfo=UTC))
    # the day is the zone's: 23:30 UTC on the 27th is already the 28th in Berlin
    assert berlin.local_day(datetime(2026, 11, 27, 23, 30, tzinfo=UTC)) == date(2026, 11, 28)


def test_the_scheduler_fires_on_the_hour_in_the_zone() -> None:
    india = Reminders(timezone="Asia/Kolkata")  # UTC+05:30: its hours are at :30 UTC
    now = datetime(2026, 11, 27, 10, 10, tzinfo=UTC)
    assert india.next_run(now) == datetime(2026, 11, 27, 10, 30, tzinfo=UTC)
    assert Reminders().next_run(now) == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"at": "9am"}, "String should match pattern"),
        ({"timezone": "Mars/Base"}, "unknown time zone"),
    ],
)
def test_reminder_settings_are_checked(fields: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        Reminders.model_validate(fields)
