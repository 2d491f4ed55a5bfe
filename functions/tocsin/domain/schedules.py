"""On-call schedules: who is on call when (pure code, no AWS).

A schedule is rendered the way PagerDuty renders one:

- **Layers** are rendered bottom (the first in the list) to top (the last). A higher layer wins
  wherever it has coverage; where it has none (outside its restrictions, before it starts,
  after it ends) the layers below show through.
- **Overrides** win over every layer. The schedule's own (config) overrides come first, then
  the runtime ones passed in; where two overrides overlap the later-created one (the later in
  that combined list) wins.
- Where nobody is on call there is simply no shift (gaps are not filled).
- A schedule imported from an iCal feed (`ical`) gets its shifts from the feed (passed in as
  `imported`); they form the bottom of the schedule: layers (if any) and overrides apply on
  top.

Time, which is where on-call tools go wrong:

- Rotation turns whose length is a whole number of days (daily, weekly, "3d", "2w", also
  "24h") hand off at the same **local wall-clock time** of the schedule's zone: a daily 09:00
  Europe/Berlin handoff stays 09:00 local across both DST changes, so the turn spanning a
  change is 23 or 25 hours long.
- Other lengths ("12h", "36h", "90m") count **elapsed time** from the first handoff: a 12h
  rotation handing off at 09:00 and 21:00 in winter hands off at 10:00 and 22:00 local after
  spring-forward.
- A local time that does not exist (the spring-forward gap) moves to the first instant after
  the gap (02:30 on the Berlin spring-forward day is 03:00 CEST); an ambiguous one (the
  fall-back hour) means its first occurrence (fold=0, still summer time).
- Restriction windows are local wall-clock times too.

All computed times are timezone-aware UTC. Rendering computes boundaries, never steps through
time, so a 90-day horizon of a few layers is a few hundred small operations.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated, Literal, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator, model_validator

from tocsin.domain import durations
from tocsin.domain.durations import Duration
from tocsin.domain.response import _SLUG, WEEKDAYS, Strict, Weekday

#: the source of a shift that comes from an override
OVERRIDE = "override"
#: the default source of a shift imported from an iCal feed
ICAL = "ical"

_DAY = timedelta(days=1)


def parse_duration(text: str) -> timedelta:
    """A duration string ('12h', '3d', '1h30m'); see tocsin.domain.durations."""
    return cast(timedelta, durations.parse_duration(text))


PersonId = Annotated[str, Field(pattern=_SLUG)]


# --- local time -------------------------------------------------------------------------------


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone `name`, or ValueError with a hint."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)"
        ) from None


def resolve_local(wall: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of the naive wall-clock time `wall` in `zone`.

    An ambiguous time (fall-back) is its first occurrence (fold=0). A time inside a
    spring-forward gap does not exist: it becomes the first instant after the gap (the
    transition itself), so 02:30 on the Berlin spring-forward day is 03:00 CEST = 01:00 UTC."""
    wall = wall.replace(tzinfo=None, fold=0)
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # In a gap. The first instant whose wall time is >= `wall` is the transition; it lies
    # within a day of `wall` read as UTC (offsets are within +-14h). Bisect on whole seconds
    # (transitions are on whole seconds); only gap times pay for this.
    as_utc = wall.replace(tzinfo=UTC, microsecond=0)
    low, high = as_utc - timedelta(hours=15), as_utc + timedelta(hours=15)
    while high - low > timedelta(seconds=1):
        middle = low + timedelta(seconds=(high - low).total_seconds() // 2)
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high


def local_instant(day: date, at: time, zone: tzinfo) -> datetime:
    """`day` at wall-clock `at` in `zone`, as UTC (see `resolve_local` for gaps and folds)."""
    return resolve_local(datetime.combine(day, at), zone)


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} must include a time zone, like 2024-03-31T09:00:00Z or "
            f"2024-03-31T09:00:00+02:00 (got {value.isoformat()})"
        )
    return value.astimezone(UTC)


def _naive_time(value: time, what: str) -> time:
    if value.tzinfo is not None:
        raise ValueError(f"{what} is a local time of the schedule's zone; drop the offset")
    return value


# --- models -----------------------------------------------------------------------------------


class Rotation(Strict):
    """People taking turns, in order, starting with `people[0]`.

    - `daily`: one-day turns; `weekly`: seven-day turns; `custom`: turns of `length` ("12h",
      "3d", "2w"; at least 1h).
    - `handoff` is the local time of the schedule's zone at which turns change (09:00).
    - The first turn starts on `start` at `handoff`; there is no coverage before it.
    - `handoff_day` (weekly only; default: the weekday of `start`): turns change on that
      weekday. When `start` is another weekday, `people[0]` covers the partial first turn from
      `start` to the first handoff day, then `people[1]` takes over.

    Whole-day lengths hand off at local wall-clock time; other lengths count elapsed time (see
    the module docstring)."""

    type: Literal["daily", "weekly", "custom"]
    length: Duration | None = None
    handoff: time = time(9, 0)
    handoff_day: Weekday | None = None
    start: date
    people: list[PersonId]

    @field_validator("handoff")
    @classmethod
    def _local(cls, value: time) -> time:
        return _naive_time(value, "handoff")

    @field_validator("people")
    @classmethod
    def _someone(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a rotation needs at least one person")
        return value

    @model_validator(mode="after")
    def _shape(self) -> Rotation:
        if self.type == "custom":
            if self.length is None:
                raise ValueError("a custom rotation needs a `length`, like '12h', '3d' or '2w'")
            if self.length < timedelta(hours=1):
                raise ValueError(f"rotation length must be at least 1h (got {self.length})")
        elif self.length is not None:
            raise ValueError(
                f"`length` is only for custom rotations (a {self.type} turn is "
                f"{'1 day' if self.type == 'daily' else '7 days'})"
            )
        if self.handoff_day is not None and self.type != "weekly":
            raise ValueError("`handoff_day` is only for weekly rotations")
        return self

    @property
    def turn(self) -> timedelta:
        """The length of one turn."""
        if self.type == "daily":
            return _DAY
        if self.type == "weekly":
            return 7 * _DAY
        assert self.length is not None
        return self.length

    @property
    def turn_days(self) -> int | None:
        """Whole days per turn (handoffs at local wall-clock time), or None (elapsed time)."""
        turn = self.turn
        return turn.days if turn % _DAY == timedelta(0) else None


class Restriction(Strict):
    """A window of local time (the schedule's zone) starting on each of `days`. `end <= start`
    crosses midnight: 18:00-09:00 on `mon` is Monday 18:00 to Tuesday 09:00; `end == start` is
    a whole 24 hours. Restrictions only mask coverage; they never move handoffs."""

    days: list[Weekday] = Field(default_factory=lambda: list(cast(tuple[Weekday, ...], WEEKDAYS)))
    start: time
    end: time

    @field_validator("start", "end")
    @classmethod
    def _local(cls, value: time, info: ValidationInfo) -> time:
        return _naive_time(value, f"restriction {info.field_name}")

    @field_validator("days")
    @classmethod
    def _some_days(cls, value: list[Weekday]) -> list[Weekday]:
        if not value:
            raise ValueError("a restriction needs at least one day")
        return list(dict.fromkeys(value))

    @property
    def overnight(self) -> bool:
        return self.end <= self.start


class Layer(Strict):
    """One rotation. With `restrictions` it has coverage only inside any of their windows;
    with `starts_at`/`ends_at` only between them."""

    name: str = Field(min_length=1, max_length=100)
    rotation: Rotation
    restrictions: list[Restriction] = Field(default_factory=list)
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == OVERRIDE:
            raise ValueError(f"{OVERRIDE!r} is reserved for overrides; name the layer otherwise")
        return value

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return None if value is None else _aware(value, f"layer {info.field_name}")

    @model_validator(mode="after")
    def _order(self) -> Layer:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError(f"layer {self.name!r}: ends_at must be after starts_at")
        return self


class Override(Strict):
    """`person` is on call from `start` to `end`, whatever the layers say. Times must carry a
    zone; they are kept in UTC."""

    person: PersonId
    start: datetime
    end: datetime
    reason: str = ""
    id: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None

    @field_validator("start", "end", "created_at")
    @classmethod
    def _aware(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        return None if value is None else _aware(value, f"override {info.field_name}")

    @model_validator(mode="after")
    def _order(self) -> Override:
        if self.end <= self.start:
            raise ValueError(
                f"override end ({self.end.isoformat()}) must be after its start "
                f"({self.start.isoformat()})"
            )
        return self


class ICalSource(Strict):
    """An external iCal feed the schedule is imported from, fetched every `refresh`."""

    url: str
    refresh: Duration = timedelta(minutes=15)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"https", "http"} or not parts.netloc:
            raise ValueError("ical url must be an https:// (or http://) URL")
        return value

    @field_validator("refresh")
    @classmethod
    def _sane(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("ical refresh must be at least 1m")
        return value


class Schedule(Strict):
    """Who is on call when. See the module docstring for how layers, overrides and imported
    shifts combine and how time zones are handled."""

    name: str = Field(pattern=_SLUG)
    description: str = ""
    #: IANA zone of handoff times and restriction windows
    timezone: str
    layers: list[Layer] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)
    ical: ICalSource | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone_of(value)
        return value

    @model_validator(mode="after")
    def _layers(self) -> Schedule:
        if not self.layers and self.ical is None:
            raise ValueError(
                f"schedule {self.name!r} needs at least one layer (or an `ical` feed to import)"
            )
        seen: set[str] = set()
        for layer in self.layers:
            if layer.name in seen:
                raise ValueError(f"schedule {self.name!r}: two layers are named {layer.name!r}")
            seen.add(layer.name)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Shift(Strict):
    """`person` is on call from `start` (inclusive) to `end` (exclusive), because of `source`:
    a layer's name, "override", or the import's source (default "ical")."""

    person: PersonId
    start: datetime
    end: datetime
    source: str

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime, info: ValidationInfo) -> datetime:
        return _aware(value, f"shift {info.field_name}")

    @model_validator(mode="after")
    def _order(self) -> Shift:
        if self.end <= self.start:
            raise ValueError("a shift must end after it starts")
        return self

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end


# --- rendering --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Piece:
    start: datetime
    end: datetime
    person: str
    source: str


class _Turns:
    """The turn boundaries of one rotation in one zone. Turn k runs from `boundary(k)` to
    `boundary(k + 1)` and belongs to `people[k % len(people)]`; coverage begins at `begins`."""

    def __init__(self, rotation: Rotation, zone: tzinfo) -> None:
        self.rotation = rotation
        self.zone = zone
        self.days = rotation.turn_days
        self.begins = local_instant(rotation.start, rotation.handoff, zone)
        anchor_day = rotation.start
        if rotation.type == "weekly" and rotation.handoff_day is not None:
            weekday = WEEKDAYS.index(rotation.handoff_day)
            anchor_day -= timedelta(days=(rotation.start.weekday() - weekday) % 7)
        self.anchor_day = anchor_day
        self.anchor = local_instant(anchor_day, rotation.handoff, zone)

    def boundary(self, k: int) -> datetime:
        if self.days is not None:
            day = self.anchor_day + timedelta(days=k * self.days)
            return local_instant(day, self.rotation.handoff, self.zone)
        return self.anchor + k * self.rotation.turn

    def index(self, at: datetime) -> int:
        """The turn containing `at`."""
        if self.days is None:
            return (at - self.anchor) // self.rotation.turn
        local_day = at.astimezone(self.zone).date()
        k = (local_day - self.anchor_day).days // self.days
        while self.boundary(k) > at:
            k -= 1
        while self.boundary(k + 1) <= at:
            k += 1
        return k

    def person(self, k: int) -> str:
        people = self.rotation.people
        return people[k % len(people)]


def _restriction_windows(
    restrictions: Sequence[Restriction], zone: tzinfo, low: datetime, high: datetime
) -> list[tuple[datetime, datetime]]:
    """The union of the restriction windows within [low, high), sorted, merged."""
    spans: list[tuple[datetime, datetime]] = []
    day = low.astimezone(zone).date() - _DAY  # an overnight window from the day before
    last = high.astimezone(zone).date()
    while day <= last:
        weekday = WEEKDAYS[day.weekday()]
        for restriction in restrictions:
            if weekday not in restriction.days:
                continue
            start = local_instant(day, restriction.start, zone)
            end_day = day + _DAY if restriction.overnight else day
            end = local_instant(end_day, restriction.end, zone)
            start, end = max(start, low), min(end, high)
            if start < end:
                spans.append((start, end))
        day += _DAY
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _intersect(pieces: list[_Piece], windows: list[tuple[datetime, datetime]]) -> list[_Piece]:
    """The parts of `pieces` inside `windows` (both sorted and non-overlapping)."""
    out: list[_Piece] = []
    i = j = 0
    while i < len(pieces) and j < len(windows):
        piece, (w_start, w_end) = pieces[i], windows[j]
        start, end = max(piece.start, w_start), min(piece.end, w_end)
        if start < end:
            out.append(_Piece(start, end, piece.person, piece.source))
        if piece.end <= w_end:
            i += 1
        else:
            j += 1
    return out


def _layer_pieces(layer: Layer, zone: tzinfo, low: datetime, high: datetime) -> list[_Piece]:
    """The layer's coverage within [low, high): its turns, cut to its validity and its
    restriction windows."""
    turns = _Turns(layer.rotation, zone)
    low = max(low, turns.begins, layer.starts_at or low)
    high = min(high, layer.ends_at or high)
    if low >= high:
        return []
    pieces: list[_Piece] = []
    k = turns.index(low)
    start = turns.boundary(k)
    while start < high:
        end = turns.boundary(k + 1)
        pieces.append(_Piece(max(start, low), min(end, high), turns.person(k), layer.name))
        k, start = k + 1, end
    if layer.restrictions:
        pieces = _intersect(pieces, _restriction_windows(layer.restrictions, zone, low, high))
    return pieces


class _Canvas:
    """Non-overlapping pieces sorted by start; `paint` puts a piece on top of what is there."""

    def __init__(self) -> None:
        self.starts: list[datetime] = []
        self.pieces: list[_Piece] = []

    def paint(self, piece: _Piece) -> None:
        first = bisect_right(self.starts, piece.start) - 1
        if first < 0 or self.pieces[first].end <= piece.start:
            first += 1
        stop = bisect_left(self.starts, piece.end)
        replacement: list[_Piece] = []
        if first < stop:
            left, right = self.pieces[first], self.pieces[stop - 1]
            if left.start < piece.start:
                replacement.append(_Piece(left.start, piece.start, left.person, left.source))
            replacement.append(piece)
            if right.end > piece.end:
                replacement.append(_Piece(piece.end, right.end, right.person, right.source))
        else:
            replacement.append(piece)
        self.pieces[first:stop] = replacement
        self.starts[first:stop] = [p.start for p in replacement]

    def merged(self) -> list[Shift]:
        out: list[_Piece] = []
        for piece in self.pieces:
            last = out[-1] if out else None
            if (
                last is not None
                and last.end == piece.start
                and last.person == piece.person
                and last.source == piece.source
            ):
                out[-1] = _Piece(last.start, piece.end, last.person, last.source)
            else:
                out.append(piece)
        return [Shift(person=p.person, start=p.start, end=p.end, source=p.source) for p in out]


def _overlaps(start: datetime, end: datetime, low: datetime, high: datetime) -> bool:
    return start < high and end > low


def shifts(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    overrides: Sequence[Override] = (),
    imported: Sequence[Shift] = (),
) -> list[Shift]:
    """The final schedule within [start, end), sorted, in UTC.

    Layers are painted bottom (first) to top (last); a higher layer wins wherever it has
    coverage. Then the schedule's own overrides and then `overrides` (runtime ones, in
    creation order) are painted on top: they win over every layer, and the later of two
    overlapping overrides wins. `imported` (for a schedule with an `ical` feed: the feed's
    shifts) is the bottom of all; of two overlapping imported shifts the one starting later
    (or, starting together, the later in the list) wins. Adjacent shifts of the same person
    and source are merged; where nobody is on call there is no shift. Shifts are cut to the
    window."""
    low, high = _aware(start, "start"), _aware(end, "end")
    if high <= low:
        raise ValueError(f"end ({high.isoformat()}) must be after start ({low.isoformat()})")
    if imported and schedule.ical is None:
        raise ValueError(
            f"schedule {schedule.name!r} has no `ical` feed; imported shifts are for one that has"
        )
    zone = schedule.zone
    canvas = _Canvas()
    for shift in sorted(imported, key=lambda s: s.start):
        if _overlaps(shift.start, shift.end, low, high):
            canvas.paint(
                _Piece(max(shift.start, low), min(shift.end, high), shift.person, shift.source)
            )
    for layer in schedule.layers:
        for piece in _layer_pieces(layer, zone, low, high):
            canvas.paint(piece)
    for override in [*schedule.overrides, *overrides]:
        if _overlaps(override.start, override.end, low, high):
            canvas.paint(
                _Piece(max(override.start, low), min(override.end, high), override.person, OVERRIDE)
            )
    return canvas.merged()


def _horizon(
    schedule: Schedule, overrides: Sequence[Override], imported: Sequence[Shift]
) -> timedelta:
    lengths = [timedelta(days=8)]
    lengths += [2 * layer.rotation.turn + 2 * _DAY for layer in schedule.layers]
    lengths += [o.end - o.start for o in [*schedule.overrides, *overrides]]
    lengths += [s.end - s.start for s in imported]
    return min(max(lengths), timedelta(days=800))


def who_is_on_call(
    schedule: Schedule,
    at: datetime,
    overrides: Sequence[Override] = (),
    imported: Sequence[Shift] = (),
    *,
    horizon: timedelta | None = None,
) -> Shift | None:
    """The shift covering `at` (start <= at < end) in the final schedule (see `shifts`), or
    None when nobody is on call.

    The shift's start and end are looked up within `horizon` either side of `at` (default:
    two turns of the longest rotation plus two days, at least 8 days, and at least the longest
    override or imported shift): someone on call for longer than that, e.g. the only person of
    a rotation, gets a shift cut at the horizon."""
    at = _aware(at, "at")
    reach = horizon if horizon is not None else _horizon(schedule, overrides, imported)
    for shift in shifts(schedule, at - reach, at + reach, overrides, imported):
        if shift.covers(at):
            return shift
    return None
