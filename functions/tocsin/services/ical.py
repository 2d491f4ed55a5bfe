"""On-call schedules as iCalendar (RFC 5545): feeds to subscribe to, and feeds to import.

Export: one VEVENT per shift, in UTC, marked TRANSPARENT (on call is not busy: it must not
block meeting slots), with a UID derived from schedule, person, start and source, so a
calendar app that refreshes the feed updates events instead of duplicating them.

Import (a schedule kept in another calendar): recurring events are expanded (RRULE, RDATE,
EXDATE, and single instances moved or cancelled with RECURRENCE-ID); all-day events run from
local midnight to midnight and floating times are read in the schedule's zone; each event is
mapped to a person by its attendees, a name, e-mail or id in its summary, or its organizer.
Events that match nobody are reported, never guessed.
"""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from http.client import HTTPException
from typing import Any, Protocol
from urllib.parse import urlsplit

from dateutil.rrule import rrulestr
from icalendar import Calendar, Component, Event, vBroken, vDuration, vRecur

from tocsin.domain.clock import utcnow
from tocsin.domain.schedules import ICAL, OVERRIDE, Schedule, Shift, resolve_local, zone_of
from tocsin.integrations.http import USER_AGENT, retry_after_seconds
from tocsin.integrations.ports import PermanentIntegrationError, RetryableIntegrationError

PRODID = "-//Tocsin//On-call schedules//EN"
#: the largest feed `fetch_calendar` reads
MAX_BYTES = 5 * 1024 * 1024
#: the most occurrences one import expands (a runaway rule is cut, and reported)
MAX_OCCURRENCES = 20_000
#: how often subscribers are asked to refresh an exported feed
REFRESH = timedelta(minutes=15)
PROVIDER = "ical"

_DAY = timedelta(days=1)


class CalendarFormatError(ValueError):
    """The data is not an iCalendar feed (or not one that can be read)."""


class PersonLike(Protocol):
    """What the import needs of a person (`tocsin.domain.response.Person` fits)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def email(self) -> str | None: ...


@dataclass(frozen=True)
class ImportResult:
    """The imported shifts (sorted, cut to the window); `unmatched`: events within the window
    that no person (or more than one) matches, one line each; `problems`: events that could
    not be read and were skipped."""

    shifts: list[Shift]
    unmatched: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


# --- export -----------------------------------------------------------------------------------


def shift_uid(schedule: str, shift: Shift) -> str:
    """A stable UID: the same shift gets the same UID in every export."""
    key = "\x1f".join(
        (schedule, shift.person, shift.start.astimezone(UTC).isoformat(), shift.source)
    )
    return hashlib.sha256(key.encode()).hexdigest()[:32] + "@tocsin"


def _calendar(
    name: str, description: str, prodid: str, url: str | None, zone: str | None
) -> Calendar:
    cal = Calendar()
    cal.add("prodid", prodid)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", name)
    cal.add("x-wr-calname", name)
    if description:
        cal.add("x-wr-caldesc", description)
    if zone:
        cal.add("x-wr-timezone", zone)
    if url:
        cal.add("url", url)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(REFRESH))
    return cal


def _event(
    schedule: str, shift: Shift, summary: str, description: str, stamp: datetime, url: str | None
) -> Event:
    event = Event()
    event.add("uid", shift_uid(schedule, shift))
    event.add("dtstamp", stamp)
    event.add("dtstart", shift.start.astimezone(UTC))
    event.add("dtend", shift.end.astimezone(UTC))
    event.add("summary", summary)
    event.add("description", description)
    event.add("transp", "TRANSPARENT")  # on call shows as free, not busy
    event.add("categories", ["on-call"])
    event.add("status", "CONFIRMED")
    if url:
        event.add("url", url)
    event.add("x-tocsin-schedule", schedule)
    event.add("x-tocsin-person", shift.person)
    event.add("x-tocsin-source", shift.source)
    return event


def _why(shift: Shift) -> str:
    return "an override" if shift.source == OVERRIDE else f"layer {shift.source!r}"


def export_schedule(
    schedule: Schedule,
    shifts: Iterable[Shift],
    people: Mapping[str, str],
    *,
    url: str | None = None,
    prodid: str = PRODID,
    now: datetime | None = None,
) -> bytes:
    """A VCALENDAR of the schedule's `shifts` (as rendered by `tocsin.domain.schedules.shifts`).

    `people` maps person ids to display names (an unknown id is shown as is); `url` (the
    schedule's page) is set on the calendar and its events; `now` is the DTSTAMP (default:
    the current time). SUMMARY is "On call: <schedule> — <name>", with "(override)" for an
    override's shift."""
    stamp = (now or utcnow()).astimezone(UTC)
    cal = _calendar(
        f"On call: {schedule.name}", schedule.description, prodid, url, schedule.timezone
    )
    for shift in sorted(shifts, key=lambda s: (s.start, s.person)):
        name = people.get(shift.person, shift.person)
        summary = f"On call: {schedule.name} — {name}"
        if shift.source == OVERRIDE:
            summary += " (override)"
        description = f"{name} ({shift.person}) is on call for {schedule.name} ({_why(shift)})."
        cal.add_component(_event(schedule.name, shift, summary, description, stamp, url))
    return bytes(cal.to_ical())


def export_person(
    person_id: str,
    name: str,
    shifts_by_schedule: Mapping[str, Sequence[Shift]],
    *,
    url: str | None = None,
    prodid: str = PRODID,
    now: datetime | None = None,
) -> bytes:
    """One person's shifts across schedules (schedule name -> its shifts; shifts of other
    people are left out). SUMMARY is "On call: <schedule>", with "(override)" for an
    override's shift. UIDs are the same as in the schedule's own feed."""
    stamp = (now or utcnow()).astimezone(UTC)
    cal = _calendar(f"On call: {name}", "", prodid, url, None)
    mine = [
        (schedule, shift)
        for schedule, shifts in shifts_by_schedule.items()
        for shift in shifts
        if shift.person == person_id
    ]
    for schedule, shift in sorted(mine, key=lambda item: (item[1].start, item[0])):
        summary = f"On call: {schedule}"
        if shift.source == OVERRIDE:
            summary += " (override)"
        description = f"{name} ({person_id}) is on call for {schedule} ({_why(shift)})."
        cal.add_component(_event(schedule, shift, summary, description, stamp, url))
    return bytes(cal.to_ical())


# --- import: reading events -------------------------------------------------------------------


class _Skip(Exception):
    """An event that cannot be read (reported in `ImportResult.problems`)."""


def _values(component: Component, name: str) -> list[Any]:
    """A property's values (a property may repeat, and list values like EXDATE hold many)."""
    prop = component.get(name)
    if prop is None:
        return []
    props = prop if isinstance(prop, list) else [prop]
    out: list[Any] = []
    for item in props:
        if isinstance(item, vBroken):
            raise _Skip(f"{name} {str(item)!r} is not a date or date-time")
        dts = getattr(item, "dts", None)
        if dts is not None:
            out += [d.dt for d in dts]
        else:
            try:
                out.append(item.dt)
            except (AttributeError, ValueError) as exc:
                raise _Skip(f"{name} {str(item)!r} is not a date or date-time") from exc
    return out


def _single(component: Component, name: str) -> Any:
    values = _values(component, name)
    if len(values) > 1:
        raise _Skip(f"{name} is given {len(values)} times")
    return values[0] if values else None


def _is_day(value: object) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _wall(value: date | datetime, zone: tzinfo) -> datetime:
    """`value` as a naive wall-clock time of `zone` (a date is its midnight; a naive
    date-time is floating: already wall-clock)."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time())
    if value.tzinfo is None:
        return value
    return value.astimezone(zone).replace(tzinfo=None)


@dataclass
class _Occurrences:
    """The instants of one event that overlap the window, in UTC."""

    spans: list[tuple[datetime, datetime]]
    truncated: bool = False


def _rule_text(rule: vRecur, zone: tzinfo) -> str:
    """The RRULE with UNTIL as a naive wall-clock time of `zone`, for a naive DTSTART (a
    date UNTIL includes its whole day)."""
    parts = dict(rule)
    until = parts.get("UNTIL")
    if until:
        value = until[0]
        wall = datetime.combine(value, time(23, 59, 59)) if _is_day(value) else _wall(value, zone)
        parts["UNTIL"] = [wall]
    freq = (parts.get("FREQ") or [""])[0]
    if str(freq).upper() in {"SECONDLY", "MINUTELY"}:
        raise _Skip(f"FREQ={freq} repeats too often to be an on-call shift")
    return str(vRecur(parts).to_ical().decode())


def _occurrences(
    event: Component,
    fallback: tzinfo,
    low: datetime,
    high: datetime,
    moved: set[datetime],
    budget: int,
) -> _Occurrences:
    """Expand `event` (DTSTART, DTEND/DURATION, RRULE, RDATE, EXDATE) within [low, high).

    Times are expanded as wall-clock times of the event's zone (floating and all-day ones: of
    `fallback`) and resolved like schedule handoffs (a gap time moves past the gap, an
    ambiguous one is its first occurrence). The span DTEND - DTSTART is wall-clock time too
    (a 09:00-09:00 event stays 09:00-09:00 across DST, like calendar apps show it); DURATION's
    days and weeks are wall-clock, its hours, minutes and seconds elapsed time (RFC 5545).
    `moved` are the wall-clock starts replaced by RECURRENCE-ID instances."""
    start = _single(event, "DTSTART")
    if start is None:
        raise _Skip("no DTSTART")
    zone = start.tzinfo if isinstance(start, datetime) and start.tzinfo is not None else fallback
    first = _wall(start, zone)

    end = _single(event, "DTEND")
    duration = event.get("DURATION")
    nominal, exact = timedelta(0), timedelta(0)
    if end is not None:
        nominal = _wall(end, zone) - first
    elif duration is not None:
        length = getattr(duration, "dt", None)
        if not isinstance(length, timedelta):
            raise _Skip(f"DURATION {str(duration)!r} is not a duration")
        nominal = timedelta(days=length.days)
        exact = length - nominal
    elif _is_day(start):
        nominal = _DAY
    if nominal + exact <= timedelta(0):
        raise _Skip("it ends when (or before) it starts")

    wall_low = _wall(low, zone) - nominal - exact - _DAY
    wall_high = _wall(high, zone) + _DAY
    starts: dict[datetime, datetime | None] = {first: None}  # wall start -> explicit wall end
    truncated = False
    rules = event.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
        try:
            expanded = rrulestr(_rule_text(rule, zone), dtstart=first)
        except (ValueError, TypeError) as exc:
            raise _Skip(f"its RRULE cannot be read: {exc}") from None
        for count, when in enumerate(expanded.xafter(wall_low, inc=True)):
            if when >= wall_high:
                break
            if count >= budget:
                truncated = True
                break
            starts.setdefault(when, None)
    for value in _values(event, "RDATE"):
        if isinstance(value, tuple):  # a PERIOD: (start, end or duration)
            begin = _wall(value[0], zone)
            finish = value[1]
            starts[begin] = begin + finish if isinstance(finish, timedelta) else _wall(finish, zone)
        else:
            starts.setdefault(_wall(value, zone), None)

    excluded_days: set[date] = set()
    excluded: set[datetime] = set(moved)
    for value in _values(event, "EXDATE"):
        if _is_day(value) and not _is_day(start):
            excluded_days.add(value)
        else:
            excluded.add(_wall(value, zone))

    spans: list[tuple[datetime, datetime]] = []
    for wall_start, wall_end in sorted(starts.items()):
        if wall_start in excluded or wall_start.date() in excluded_days:
            continue
        begin = resolve_local(wall_start, zone)
        if wall_end is not None:
            finish = resolve_local(wall_end, zone)
        else:
            finish = resolve_local(wall_start + nominal, zone) + exact
        if begin < high and finish > low and finish > begin:
            spans.append((begin, finish))
    return _Occurrences(spans, truncated)


# --- import: people ---------------------------------------------------------------------------


def _address(value: object) -> str:
    text = str(value).strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    return text.strip().lower()


_NOBODY = "no attendee, organizer or name in its summary matches a person"


class _Matcher:
    """Maps an event to a person, the first that decides:

    1. X-TOCSIN-PERSON (Tocsin's own feeds);
    2. ATTENDEE e-mail addresses (case-insensitive; declined attendees ignored);
    3. a person's name, e-mail or id found as whole words in SUMMARY (case-insensitive; a
       match inside another person's longer match, like "Al" in "Al Smith", does not count);
    4. the ORGANIZER's e-mail address: last, because in a shared on-call calendar the
       organizer is usually whoever keeps the calendar, not who is on call.

    More than one person at the first level that matches anyone is ambiguous: no match."""

    def __init__(self, people: Sequence[PersonLike]) -> None:
        self.ids = {p.id.lower(): p.id for p in people}
        self.emails = {p.email.lower(): p.id for p in people if p.email}
        self.patterns: list[tuple[re.Pattern[str], str]] = []
        for person in people:
            for term in {person.name, person.email or "", person.id}:
                words = term.split()
                if words:
                    body = r"\s+".join(re.escape(w) for w in words)
                    pattern = re.compile(rf"(?<![\w@.]){body}(?![\w@]|\.\w)", re.IGNORECASE)
                    self.patterns.append((pattern, person.id))

    def match(self, event: Component) -> tuple[str | None, str]:
        """(person id, "") or (None, why not)."""
        own = event.get("X-TOCSIN-PERSON")
        if own is not None and str(own).lower() in self.ids:
            return self.ids[str(own).lower()], ""
        attendees = event.get("ATTENDEE")
        found = {
            self.emails[_address(a)]
            for a in (attendees if isinstance(attendees, list) else [attendees])
            if a is not None
            and str(getattr(a, "params", {}).get("PARTSTAT", "")).upper() != "DECLINED"
            and _address(a) in self.emails
        }
        if len(found) > 1:
            return None, f"its attendees match more than one person ({', '.join(sorted(found))})"
        if found:
            return found.pop(), ""
        person, why = self._summary(str(event.get("SUMMARY") or ""))
        if person is not None or why != _NOBODY:
            return person, why
        organizer = event.get("ORGANIZER")
        if organizer is not None and _address(organizer) in self.emails:
            return self.emails[_address(organizer)], ""
        return None, why

    def _summary(self, summary: str) -> tuple[str | None, str]:
        spans: dict[str, list[tuple[int, int]]] = {}
        for pattern, person in self.patterns:
            for hit in pattern.finditer(summary):
                spans.setdefault(person, []).append(hit.span())
        if not spans:
            return None, _NOBODY

        def inside_another(person: str) -> bool:
            return all(
                any(
                    o_start <= start and end <= o_end and (o_start, o_end) != (start, end)
                    for other, theirs in spans.items()
                    if other != person
                    for o_start, o_end in theirs
                )
                for start, end in spans[person]
            )

        candidates = sorted(p for p in spans if not inside_another(p))
        if len(candidates) == 1:
            return candidates[0], ""
        return None, f"its summary matches more than one person ({', '.join(candidates)})"


# --- import -----------------------------------------------------------------------------------


def parse_calendar(data: bytes | str) -> list[Calendar]:
    """The VCALENDARs in `data`, or CalendarFormatError saying why not."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CalendarFormatError("not an iCalendar feed: the data is not UTF-8 text") from None
    else:
        text = data
    if not text.strip():
        raise CalendarFormatError("not an iCalendar feed: the data is empty")
    if not text.lstrip().upper().startswith("BEGIN:VCALENDAR"):
        head = text.strip()[:60].replace("\r", " ").replace("\n", " ")
        raise CalendarFormatError(
            f"not an iCalendar feed: it should start with BEGIN:VCALENDAR, it starts with {head!r}"
        )
    try:
        calendars = Calendar.from_ical(text, multiple=True)
    except Exception as exc:  # icalendar raises ValueError, KeyError, IndexError...
        raise CalendarFormatError(f"not a readable iCalendar feed: {exc}") from None
    found = [c for c in calendars if c.name == "VCALENDAR"]
    if not found:
        raise CalendarFormatError(
            "not an iCalendar feed: no complete VCALENDAR in it (is it cut short?)"
        )
    return found


def _label(event: Component) -> str:
    summary = str(event.get("SUMMARY") or "").strip()
    uid = str(event.get("UID") or "").strip()
    return repr(summary) if summary else f"UID {uid!r}" if uid else "an event without summary"


def import_calendar(
    data: bytes | str,
    people: Sequence[PersonLike],
    start: datetime,
    end: datetime,
    *,
    timezone: str | None = None,
    source: str = ICAL,
) -> ImportResult:
    """The shifts of an iCal feed within [start, end) (cut to it), each mapped to one of
    `people` by X-TOCSIN-PERSON, attendee e-mail, whole-word name/e-mail/id in the summary,
    then organizer e-mail (see `_Matcher`). For a schedule with an `ical` feed, pass them to
    `tocsin.domain.schedules.shifts` as `imported`.

    `timezone` (the schedule's zone) is where all-day events (local midnight to midnight)
    and floating times are read; without it the feed's X-WR-TIMEZONE, else UTC. Cancelled
    events (STATUS:CANCELLED) and cancelled instances are skipped. Overlapping events are
    kept as they are (the schedule decides who wins). Raises CalendarFormatError (a
    ValueError) when `data` is not an iCalendar feed."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must include a time zone")
    low, high = start.astimezone(UTC), end.astimezone(UTC)
    if high <= low:
        raise ValueError("end must be after start")
    calendars = parse_calendar(data)
    problems: list[str] = []
    zone: tzinfo = UTC
    if timezone:
        zone = zone_of(timezone)
    else:
        named = str(calendars[0].get("X-WR-TIMEZONE") or "").strip()
        try:
            zone = zone_of(named) if named else UTC
        except ValueError:
            problems.append(
                f"X-WR-TIMEZONE {named!r} is not a known time zone; floating and all-day "
                "times are read in UTC"
            )
    events = [e for c in calendars for e in c.walk("VEVENT")]

    # instances moved or cancelled by a RECURRENCE-ID event: UID -> their original starts
    moved: dict[str, set[datetime]] = {}
    for event in events:
        if event.get("RECURRENCE-ID") is None:
            continue
        try:
            original = _single(event, "RECURRENCE-ID")
            master_start = next(
                (
                    _single(e, "DTSTART")
                    for e in events
                    if e.get("RECURRENCE-ID") is None and str(e.get("UID")) == str(event.get("UID"))
                ),
                original,
            )
        except _Skip as exc:
            problems.append(f"{_label(event)}: {exc}; skipped")
            continue
        master_zone = (
            master_start.tzinfo
            if isinstance(master_start, datetime) and master_start.tzinfo is not None
            else zone
        )
        moved.setdefault(str(event.get("UID")), set()).add(_wall(original, master_zone))

    matcher = _Matcher(people)
    shifts: list[Shift] = []
    unmatched: list[str] = []
    for event in events:
        if str(event.get("STATUS") or "").upper() == "CANCELLED":
            continue
        budget = MAX_OCCURRENCES - len(shifts)
        if budget <= 0:
            problems.append(f"more than {MAX_OCCURRENCES} shifts in the window; the rest skipped")
            break
        is_master = event.get("RECURRENCE-ID") is None
        try:
            found = _occurrences(
                event,
                zone,
                low,
                high,
                moved.get(str(event.get("UID")), set()) if is_master else set(),
                budget,
            )
        except _Skip as exc:
            problems.append(f"{_label(event)}: {exc}; skipped")
            continue
        if found.truncated:
            problems.append(
                f"{_label(event)}: more than {budget} occurrences in the window; the rest skipped"
            )
        if not found.spans:
            continue
        person, why = matcher.match(event)
        if person is None:
            unmatched.append(f"{_label(event)} ({found.spans[0][0].isoformat()}): {why}")
            continue
        shifts += [
            Shift(person=person, start=max(s, low), end=min(e, high), source=source)
            for s, e in found.spans
        ]
    shifts.sort(key=lambda s: (s.start, s.end, s.person))
    return ImportResult(shifts=shifts, unmatched=unmatched, problems=problems)


# --- fetch ------------------------------------------------------------------------------------


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only (never file:, ftp: ...)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if urlsplit(newurl).scheme not in {"http", "https"}:
            raise PermanentIntegrationError(
                PROVIDER, f"{_where(req.full_url)} redirected to a URL that is not http(s)", code
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _where(url: str) -> str:
    """The feed's host only: feed URLs often carry a secret token in their path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}"


def fetch_calendar(url: str, timeout: float = 10, max_bytes: int = MAX_BYTES) -> bytes:
    """GET an iCal feed (http or https). 429, 5xx, timeouts and connection failures raise
    RetryableIntegrationError("ical", ...); other 4xx, non-HTTP URLs and feeds larger than
    `max_bytes` raise PermanentIntegrationError. Messages name the host only, never the
    URL's path or query (private feed URLs carry their secret there)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise PermanentIntegrationError(PROVIDER, "the feed URL must be an http(s) URL")
    where = _where(url)
    request = urllib.request.Request(
        url,
        headers={"Accept": "text/calendar, */*;q=0.5", "User-Agent": USER_AGENT},
        method="GET",
    )
    opener = urllib.request.build_opener(_HttpOnlyRedirects())
    try:
        with opener.open(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise PermanentIntegrationError(
                    PROVIDER, f"feed at {where} is larger than {max_bytes} bytes", response.status
                )
            body = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        status = exc.code
        if 300 <= status < 400:  # urllib follows http(s) redirects; this one went elsewhere
            message = f"GET {where} -> {status}: redirected to a URL that is not http(s)"
        else:
            message = f"GET {where} -> {status} {exc.reason}"
        if status == 429 or status >= 500:
            raise RetryableIntegrationError(
                PROVIDER,
                message,
                status,
                retry_after_seconds(exc.headers.get("Retry-After") if exc.headers else None),
            ) from None
        raise PermanentIntegrationError(PROVIDER, message, status) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise RetryableIntegrationError(PROVIDER, f"GET {where}: {reason}") from None
    if len(body) > max_bytes:
        raise PermanentIntegrationError(
            PROVIDER, f"feed at {where} is larger than {max_bytes} bytes"
        )
    return body
