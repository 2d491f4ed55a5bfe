"""iCal export and import of on-call schedules, and fetching feeds (against 127.0.0.1 only)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar
from tocsin.domain.response import Person
from tocsin.domain.schedules import Override, Schedule, Shift, shifts
from tocsin.integrations.ports import PermanentIntegrationError, RetryableIntegrationError
from tocsin.services.ical import (
    CalendarFormatError,
    export_person,
    export_schedule,
    fetch_calendar,
    import_calendar,
)

from tests.fakes.server import FakeServer, Request, route

H = timedelta(hours=1)
PEOPLE = [
    Person(id="alice", name="Alice Doe", email="alice@example.com"),
    Person(id="bob", name="Bob Roe", email="bob@example.com"),
    Person(id="carol", name="Carol", email=None),
]
NAMES = {p.id: p.name for p in PEOPLE}
NOW = datetime(2024, 3, 1, tzinfo=UTC)


def z(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


SCHEDULE = Schedule.model_validate(
    {
        "name": "primary",
        "description": "Platform primary",
        "timezone": "Europe/Berlin",
        "layers": [
            {
                "name": "weekly",
                "rotation": {"type": "daily", "start": "2024-03-25", "people": ["alice", "bob"]},
            }
        ],
    }
)
OVERRIDES = [Override(person="carol", start=z(2024, 3, 30, 12), end=z(2024, 3, 30, 18))]
SHIFTS = shifts(SCHEDULE, z(2024, 3, 28), z(2024, 4, 3), OVERRIDES)


def vevents(data: bytes) -> list[Any]:
    return list(Calendar.from_ical(data).walk("VEVENT"))


def ics(*events: str, extra: str = "") -> bytes:
    body = "".join(f"BEGIN:VEVENT\n{e.strip()}\nEND:VEVENT\n" for e in events)
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{extra}{body}END:VCALENDAR\n"
    return text.replace("\n", "\r\n").encode()


def spans(result: Any) -> list[tuple[str, datetime, datetime]]:
    return [(s.person, s.start, s.end) for s in result.shifts]


# --- export -----------------------------------------------------------------------------------


def test_export_parses_back() -> None:
    data = export_schedule(
        SCHEDULE, SHIFTS, NAMES, now=NOW, url="https://tocsin.example.com/s/primary"
    )
    cal = Calendar.from_ical(data)
    assert str(cal["X-WR-CALNAME"]) == "On call: primary"
    assert str(cal["X-WR-TIMEZONE"]) == "Europe/Berlin"
    assert str(cal["METHOD"]) == "PUBLISH"
    events = vevents(data)
    assert len(events) == len(SHIFTS)
    for event, shift in zip(events, SHIFTS, strict=True):
        assert str(event["TRANSP"]) == "TRANSPARENT"
        assert event.decoded("DTSTART") == shift.start
        assert event.decoded("DTEND") == shift.end
        assert event.decoded("DTSTART").tzinfo is not None
        assert event.decoded("DTSTART").utcoffset() == timedelta(0)
        assert event.decoded("DTSTAMP") == NOW
        assert [str(c) for c in event["CATEGORIES"].cats] == ["on-call"]
        assert str(event["UID"]).endswith("@tocsin")
        assert str(event["URL"]) == "https://tocsin.example.com/s/primary"
    summaries = [str(e["SUMMARY"]) for e in events]
    assert "On call: primary — Alice Doe" in summaries
    assert "On call: primary — Carol (override)" in summaries
    assert b"DTSTART:20240328T000000Z" in data  # UTC on the wire


def test_uids_are_stable_and_unique() -> None:
    first = vevents(export_schedule(SCHEDULE, SHIFTS, NAMES, now=NOW))
    second = vevents(export_schedule(SCHEDULE, list(reversed(SHIFTS)), NAMES, now=NOW + H))
    assert [str(e["UID"]) for e in first] == [str(e["UID"]) for e in second]
    assert len({str(e["UID"]) for e in first}) == len(first)


def test_unknown_person_is_shown_by_id() -> None:
    shift = Shift(person="zed", start=z(2024, 1, 1), end=z(2024, 1, 2), source="weekly")
    (event,) = vevents(export_schedule(SCHEDULE, [shift], {}, now=NOW))
    assert str(event["SUMMARY"]) == "On call: primary — zed"


def test_export_person_across_schedules() -> None:
    other = [
        Shift(person="alice", start=z(2024, 4, 5), end=z(2024, 4, 6), source="nights"),
        Shift(person="bob", start=z(2024, 4, 6), end=z(2024, 4, 7), source="nights"),
    ]
    data = export_person("alice", "Alice Doe", {"primary": SHIFTS, "secondary": other}, now=NOW)
    cal = Calendar.from_ical(data)
    assert str(cal["X-WR-CALNAME"]) == "On call: Alice Doe"
    events = vevents(data)
    expected = [s for s in SHIFTS if s.person == "alice"] + other[:1]
    assert [(e.decoded("DTSTART"), e.decoded("DTEND")) for e in events] == [
        (s.start, s.end) for s in expected
    ]
    assert {str(e["SUMMARY"]) for e in events} == {"On call: primary", "On call: secondary"}
    assert all(str(e["TRANSP"]) == "TRANSPARENT" for e in events)
    # the same shift has the same UID in the schedule's feed
    schedule_uids = {str(e["UID"]) for e in vevents(export_schedule(SCHEDULE, SHIFTS, NAMES))}
    assert {str(e["UID"]) for e in events[:-1]} <= schedule_uids


def test_export_then_import_gives_the_same_shifts() -> None:
    data = export_schedule(SCHEDULE, SHIFTS, NAMES, now=NOW)
    result = import_calendar(data, PEOPLE, z(2024, 3, 1), z(2024, 5, 1), timezone="Europe/Berlin")
    assert result.unmatched == [] and result.problems == []
    assert spans(result) == [(s.person, s.start, s.end) for s in SHIFTS]
    assert {s.source for s in result.shifts} == {"ical"}


def test_import_of_a_foreign_copy_of_our_feed_maps_by_summary_name() -> None:
    # a calendar app re-exported the feed without our X- properties
    data = export_schedule(SCHEDULE, SHIFTS, NAMES, now=NOW)
    stripped = b"\r\n".join(
        line for line in data.split(b"\r\n") if not line.startswith(b"X-TOCSIN-")
    )
    result = import_calendar(stripped, PEOPLE, z(2024, 3, 1), z(2024, 5, 1))
    assert spans(result) == [(s.person, s.start, s.end) for s in SHIFTS]


# --- import: recurrence -----------------------------------------------------------------------


def test_weekly_rrule_with_exdate_across_dst() -> None:
    data = ics(
        """
UID:alice-weeks
SUMMARY:Primary on call
DTSTART;TZID=Europe/Berlin:20240318T090000
DTEND;TZID=Europe/Berlin:20240325T090000
RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=20240501T000000Z
EXDATE;TZID=Europe/Berlin:20240401T090000
ATTENDEE;CN=Alice:mailto:alice@example.com
""",
        """
UID:bob-weeks
SUMMARY:Primary on call
DTSTART;TZID=Europe/Berlin:20240325T090000
DTEND;TZID=Europe/Berlin:20240401T090000
RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=3
ATTENDEE;CN=Bob:mailto:BOB@EXAMPLE.COM
""",
    )
    result = import_calendar(data, PEOPLE, z(2024, 3, 1), z(2024, 6, 1), timezone="UTC")
    assert spans(result) == [
        ("alice", z(2024, 3, 18, 8), z(2024, 3, 25, 8)),  # 09:00 CET
        ("bob", z(2024, 3, 25, 8), z(2024, 4, 1, 7)),  # to 09:00 CEST: 7 days - 1 hour
        # alice's 2024-04-01 week is excluded
        ("bob", z(2024, 4, 8, 7), z(2024, 4, 15, 7)),
        ("alice", z(2024, 4, 15, 7), z(2024, 4, 22, 7)),
        ("bob", z(2024, 4, 22, 7), z(2024, 4, 29, 7)),
        ("alice", z(2024, 4, 29, 7), z(2024, 5, 6, 7)),  # starts before UNTIL
    ]
    assert result.unmatched == [] and result.problems == []


def test_import_window_cuts_and_skips_occurrences() -> None:
    data = ics(
        """
UID:daily
SUMMARY:alice
DTSTART:20240101T090000Z
DTEND:20240102T090000Z
RRULE:FREQ=DAILY
"""
    )
    result = import_calendar(data, PEOPLE, z(2024, 6, 1, 12), z(2024, 6, 3))
    assert spans(result) == [
        ("alice", z(2024, 6, 1, 12), z(2024, 6, 2, 9)),
        ("alice", z(2024, 6, 2, 9), z(2024, 6, 3)),
    ]


def test_recurrence_id_moves_and_cancels_single_instances() -> None:
    data = ics(
        """
UID:series
SUMMARY:On call: Bob Roe
DTSTART:20240101T090000Z
DTEND:20240101T170000Z
RRULE:FREQ=DAILY;COUNT=4
""",
        """
UID:series
RECURRENCE-ID:20240102T090000Z
SUMMARY:On call: Bob Roe
DTSTART:20240102T120000Z
DTEND:20240102T180000Z
""",
        """
UID:series
RECURRENCE-ID:20240103T090000Z
STATUS:CANCELLED
SUMMARY:On call: Bob Roe
DTSTART:20240103T090000Z
DTEND:20240103T170000Z
""",
    )
    result = import_calendar(data, PEOPLE, z(2024, 1, 1), z(2024, 1, 10))
    assert spans(result) == [
        ("bob", z(2024, 1, 1, 9), z(2024, 1, 1, 17)),
        ("bob", z(2024, 1, 2, 12), z(2024, 1, 2, 18)),
        ("bob", z(2024, 1, 4, 9), z(2024, 1, 4, 17)),
    ]


def test_rdate_period_and_duration() -> None:
    data = ics(
        """
UID:r
SUMMARY:carol
DTSTART;TZID=Europe/Berlin:20240330T210000
DURATION:PT12H
RDATE;VALUE=PERIOD:20240406T080000Z/20240406T100000Z
RDATE;TZID=Europe/Berlin:20240413T210000
"""
    )
    result = import_calendar(data, PEOPLE, z(2024, 3, 1), z(2024, 5, 1))
    assert spans(result) == [
        # 21:00 CET + 12 elapsed hours (DURATION's hours are exact): 10:00 CEST
        ("carol", z(2024, 3, 30, 20), z(2024, 3, 31, 8)),
        ("carol", z(2024, 4, 6, 8), z(2024, 4, 6, 10)),
        ("carol", z(2024, 4, 13, 19), z(2024, 4, 14, 7)),
    ]


def test_dtend_span_is_wall_clock_across_dst() -> None:
    data = ics(
        """
UID:nights
SUMMARY:carol
DTSTART;TZID=America/New_York:20241102T210000
DTEND;TZID=America/New_York:20241103T090000
RRULE:FREQ=DAILY;COUNT=2
"""
    )
    result = import_calendar(data, PEOPLE, z(2024, 11, 1), z(2024, 11, 5))
    assert spans(result) == [
        ("carol", z(2024, 11, 3, 1), z(2024, 11, 3, 14)),  # 21:00 EDT -> 09:00 EST: 13 hours
        ("carol", z(2024, 11, 4, 2), z(2024, 11, 4, 14)),  # 21:00 EST -> 09:00 EST
    ]


# --- import: all-day and floating times -------------------------------------------------------


def test_all_day_events_are_local_midnight_to_midnight() -> None:
    data = ics(
        """
UID:weekend
SUMMARY:Weekend: alice
DTSTART;VALUE=DATE:20240330
DTEND;VALUE=DATE:20240401
""",
        """
UID:one-day
SUMMARY:bob
DTSTART;VALUE=DATE:20240402
""",
    )
    result = import_calendar(data, PEOPLE, z(2024, 3, 1), z(2024, 5, 1), timezone="Europe/Berlin")
    assert spans(result) == [
        ("alice", z(2024, 3, 29, 23), z(2024, 3, 31, 22)),  # the night DST starts: 47 hours
        ("bob", z(2024, 4, 1, 22), z(2024, 4, 2, 22)),  # no DTEND: one day
    ]


def test_all_day_recurring_with_date_exdate_and_until() -> None:
    data = ics(
        """
UID:sat
SUMMARY:alice
DTSTART;VALUE=DATE:20240106
DTEND;VALUE=DATE:20240107
RRULE:FREQ=WEEKLY;UNTIL=20240127
EXDATE;VALUE=DATE:20240113
"""
    )
    result = import_calendar(data, PEOPLE, z(2024, 1, 1), z(2024, 3, 1), timezone="UTC")
    assert [s.start.date().isoformat() for s in result.shifts] == [
        "2024-01-06",
        "2024-01-20",
        "2024-01-27",
    ]


def test_floating_times_use_the_schedule_zone_then_x_wr_timezone() -> None:
    event = """
UID:f
SUMMARY:alice
DTSTART:20240110T090000
DTEND:20240110T170000
"""
    berlin = import_calendar(
        ics(event), PEOPLE, z(2024, 1, 1), z(2024, 2, 1), timezone="Europe/Berlin"
    )
    assert spans(berlin) == [("alice", z(2024, 1, 10, 8), z(2024, 1, 10, 16))]
    feed_zone = ics(event, extra="X-WR-TIMEZONE:America/New_York\n")
    new_york = import_calendar(feed_zone, PEOPLE, z(2024, 1, 1), z(2024, 2, 1))
    assert spans(new_york) == [("alice", z(2024, 1, 10, 14), z(2024, 1, 10, 22))]
    utc = import_calendar(ics(event), PEOPLE, z(2024, 1, 1), z(2024, 2, 1))
    assert spans(utc) == [("alice", z(2024, 1, 10, 9), z(2024, 1, 10, 17))]
    unknown = import_calendar(
        ics(event, extra="X-WR-TIMEZONE:Nowhere/Special\n"), PEOPLE, z(2024, 1, 1), z(2024, 2, 1)
    )
    assert spans(unknown) == spans(utc)
    assert "X-WR-TIMEZONE 'Nowhere/Special' is not a known time zone" in unknown.problems[0]


def test_custom_vtimezone() -> None:
    data = ics(
        """
UID:vtz
SUMMARY:alice
DTSTART;TZID=Custom Berlin:20240331T090000
DTEND;TZID=Custom Berlin:20240331T100000
""",
        extra="""BEGIN:VTIMEZONE
TZID:Custom Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
""",
    )
    result = import_calendar(data, PEOPLE, z(2024, 3, 1), z(2024, 5, 1))
    assert spans(result) == [("alice", z(2024, 3, 31, 7), z(2024, 3, 31, 8))]


# --- import: people ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ("ATTENDEE;CN=Someone:mailto:Alice@Example.com\nSUMMARY:Primary", "alice"),
        ("ORGANIZER:mailto:bob@example.com\nSUMMARY:Primary", "bob"),
        ("ORGANIZER:mailto:bob@example.com\nSUMMARY:Alice on call", "alice"),
        ("ORGANIZER:mailto:bob@example.com\nSUMMARY:Alice Doe and Carol", None),
        (
            "ATTENDEE;PARTSTAT=DECLINED:mailto:alice@example.com\n"
            "ATTENDEE:mailto:bob@example.com\nSUMMARY:x",
            "bob",
        ),
        ("ATTENDEE:mailto:stranger@example.com\nORGANIZER:mailto:bob@example.com", "bob"),
        ("SUMMARY:on call - alice doe", "alice"),
        ("SUMMARY:Primary: CAROL", "carol"),
        ("SUMMARY:bob@example.com covers", "bob"),
        ("SUMMARY:On call (bob)", "bob"),
        ("SUMMARY:Alice Doe for Bob Roe's team", None),  # two people
        ("SUMMARY:Bobby", None),  # not a whole word
        ("SUMMARY:Caroline", None),
        ("SUMMARY:alice.doe@other.example", None),  # not alice's address, not the id either
    ],
)
def test_person_mapping(properties: str, expected: str | None) -> None:
    data = ics(f"UID:e\nDTSTART:20240110T090000Z\nDTEND:20240110T170000Z\n{properties}")
    result = import_calendar(data, PEOPLE, z(2024, 1, 1), z(2024, 2, 1))
    assert [s.person for s in result.shifts] == ([expected] if expected else [])
    assert len(result.unmatched) == (0 if expected else 1)


def test_name_inside_a_longer_name_does_not_count() -> None:
    people = [
        *PEOPLE,
        Person(id="al", name="Al", email=None),
        Person(id="al-smith", name="Al Smith"),
    ]
    data = ics("UID:e\nDTSTART:20240110T090000Z\nDTEND:20240110T170000Z\nSUMMARY:Al Smith on call")
    result = import_calendar(data, people, z(2024, 1, 1), z(2024, 2, 1))
    assert [s.person for s in result.shifts] == ["al-smith"]


def test_unmatched_events_are_reported_once_with_their_first_start() -> None:
    data = ics(
        """
UID:holiday
SUMMARY:Company holiday
DTSTART;VALUE=DATE:20240101
RRULE:FREQ=YEARLY
""",
        """
UID:both
SUMMARY:Swap
DTSTART:20240110T090000Z
DTEND:20240110T170000Z
ATTENDEE:mailto:alice@example.com
ATTENDEE:mailto:bob@example.com
""",
        "UID:later\nSUMMARY:nobody\nDTSTART:20300101T000000Z\nDTEND:20300102T000000Z",
    )
    result = import_calendar(data, PEOPLE, z(2024, 1, 1), z(2024, 2, 1))
    assert result.shifts == []
    assert result.unmatched == [
        "'Company holiday' (2024-01-01T00:00:00+00:00): no attendee, organizer or name in its "
        "summary matches a person",
        "'Swap' (2024-01-10T09:00:00+00:00): its attendees match more than one person (alice, bob)",
    ]


def test_cancelled_events_are_skipped() -> None:
    data = ics(
        "UID:c\nSTATUS:CANCELLED\nSUMMARY:alice\nDTSTART:20240110T090000Z\nDTEND:20240110T170000Z",
        "UID:k\nSTATUS:CONFIRMED\nSUMMARY:bob\nDTSTART:20240111T090000Z\nDTEND:20240111T170000Z",
    )
    result = import_calendar(data, PEOPLE, z(2024, 1, 1), z(2024, 2, 1))
    assert spans(result) == [("bob", z(2024, 1, 11, 9), z(2024, 1, 11, 17))]
    assert result.unmatched == [] and result.problems == []


def test_unreadable_events_are_problems_not_failures() -> None:
    data = ics(
        "UID:no-start\nSUMMARY:alice",
        "UID:bad-start\nSUMMARY:alice\nDTSTART:tomorrow",
        "UID:instant\nSUMMARY:alice\nDTSTART:20240110T090000Z",
        "UID:backwards\nSUMMARY:alice\nDTSTART:20240110T090000Z\nDTEND:20240110T080000Z",
        "UID:busy\nSUMMARY:alice\nDTSTART:20240110T090000Z\nDURATION:PT1M\nRRULE:FREQ=MINUTELY",
        "UID:odd\nSUMMARY:alice\nDTSTART:20240110T090000Z\nDURATION:PT1H\nRRULE:FREQ=SOMETIMES",
        "UID:ok\nSUMMARY:bob\nDTSTART:20240111T090000Z\nDTEND:20240111T170000Z",
    )
    result = import_calendar(data, PEOPLE, z(2024, 1, 1), z(2024, 2, 1))
    assert spans(result) == [("bob", z(2024, 1, 11, 9), z(2024, 1, 11, 17))]
    assert len(result.problems) == 6
    assert "its RRULE cannot be read" in result.problems[5]
    assert "no DTSTART" in result.problems[0]
    assert "'tomorrow' is not a date or date-time" in result.problems[1]
    assert "ends when (or before) it starts" in result.problems[2]
    assert "ends when (or before) it starts" in result.problems[3]
    assert "FREQ=MINUTELY repeats too often" in result.problems[4]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the data is empty"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"<!doctype html><html><body>Sign in</body></html>", "it starts with '<!doctype html>"),
        (b"BEGIN:VCALENDAR\r\nthis is not a content line\r\nEND:VCALENDAR\r\n", "not a readable"),
        (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", "no complete VCALENDAR"),
    ],
)
def test_garbage_input_raises_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(CalendarFormatError, match=message) as info:
        import_calendar(data, PEOPLE, z(2024, 1, 1), z(2024, 2, 1))
    assert isinstance(info.value, ValueError)


def test_import_window_must_be_aware() -> None:
    with pytest.raises(ValueError, match="time zone"):
        import_calendar(ics(), PEOPLE, datetime(2024, 1, 1), z(2024, 2, 1))


def test_imported_shifts_render_in_an_ical_schedule() -> None:
    sched = Schedule.model_validate(
        {
            "name": "ext",
            "timezone": "Europe/Berlin",
            "ical": {"url": "https://cal.example.com/a.ics"},
        }
    )
    data = ics(
        "UID:w\nSUMMARY:alice\nDTSTART:20240101T080000Z\nDTEND:20240108T080000Z\nRRULE:FREQ=WEEKLY"
    )
    imported = import_calendar(data, PEOPLE, z(2024, 1, 1), z(2024, 1, 20), timezone=sched.timezone)
    runtime = [Override(person="bob", start=z(2024, 1, 9), end=z(2024, 1, 10))]
    result = shifts(sched, z(2024, 1, 1), z(2024, 1, 20), runtime, imported=imported.shifts)
    assert [(s.person, s.start, s.end, s.source) for s in result] == [
        ("alice", z(2024, 1, 1, 8), z(2024, 1, 9), "ical"),
        ("bob", z(2024, 1, 9), z(2024, 1, 10), "override"),
        ("alice", z(2024, 1, 10), z(2024, 1, 20), "ical"),
    ]


# --- fetch ------------------------------------------------------------------------------------

FEED = ics("UID:x\nSUMMARY:alice\nDTSTART:20240110T090000Z\nDTEND:20240110T170000Z")


class FakeFeeds(FakeServer):
    @route("GET", r"/feeds/(?P<token>[a-z0-9]+)\.ics")
    def feed(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        assert request.match is not None
        if request.match["token"] == "big":
            return 200, b"X" * 2048, {"Content-Type": "text/calendar"}
        return 200, FEED, {"Content-Type": "text/calendar; charset=utf-8"}

    @route("GET", r"/moved")
    def moved(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        return 302, b"", {"Location": "/feeds/secret123.ics"}

    @route("GET", r"/ftp")
    def ftp(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        return 301, b"", {"Location": "ftp://127.0.0.1/feed.ics"}

    @route("GET", r"/elsewhere")
    def elsewhere(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        return 302, b"", {"Location": "file:///etc/passwd"}


def test_fetch_calendar_200() -> None:
    with FakeFeeds() as server:
        assert fetch_calendar(f"{server.url}/feeds/secret123.ics") == FEED
        assert fetch_calendar(f"{server.url}/moved") == FEED
        (first, *_) = server.calls("GET")
        assert first.headers["accept"].startswith("text/calendar")
        assert first.headers["user-agent"].startswith("tocsin/")


def test_fetch_calendar_404_is_permanent_and_hides_the_secret_path() -> None:
    with FakeFeeds() as server, pytest.raises(PermanentIntegrationError) as info:
        fetch_calendar(f"{server.url}/private/s3cr3t-token/basic.ics")
    assert info.value.status == 404 and info.value.provider == "ical"
    assert "s3cr3t" not in str(info.value)
    assert "http://127.0.0.1" in str(info.value)


def test_fetch_calendar_503_and_429_are_retryable() -> None:
    with FakeFeeds() as server:
        server.fail_next(503)
        with pytest.raises(RetryableIntegrationError) as info:
            fetch_calendar(f"{server.url}/feeds/secret123.ics")
        assert info.value.status == 503
        server.fail_next(429, headers={"Retry-After": "7"})
        with pytest.raises(RetryableIntegrationError) as limited:
            fetch_calendar(f"{server.url}/feeds/secret123.ics")
        assert limited.value.retry_after == 7
        assert fetch_calendar(f"{server.url}/feeds/secret123.ics") == FEED  # then it works


def test_fetch_calendar_size_cap_and_bad_urls() -> None:
    with FakeFeeds() as server:
        with pytest.raises(PermanentIntegrationError, match="larger than 1024 bytes"):
            fetch_calendar(f"{server.url}/feeds/big.ics", max_bytes=1024)
        assert len(fetch_calendar(f"{server.url}/feeds/big.ics", max_bytes=4096)) == 2048
        for path in ("/elsewhere", "/ftp"):
            with pytest.raises(PermanentIntegrationError, match="not http"):
                fetch_calendar(f"{server.url}{path}")
    with pytest.raises(PermanentIntegrationError, match="http"):
        fetch_calendar("file:///etc/passwd")


def test_fetch_calendar_connection_refused_and_timeout_are_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(RetryableIntegrationError):
        fetch_calendar(f"http://127.0.0.1:{port}/feed.ics", timeout=2)
    with socket.socket() as silent:  # accepts, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        with pytest.raises(RetryableIntegrationError):
            fetch_calendar(f"http://127.0.0.1:{silent.getsockname()[1]}/feed.ics", timeout=0.3)
