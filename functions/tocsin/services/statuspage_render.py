"""A status page as files: HTML, per-record pages, Statuspage-compatible JSON, Atom and RSS.

Rendering is a pure function of (config, page, records, now, base_url): equal inputs give
equal bytes, so publishing can compare content hashes and rewrite only what changed. No file
says when it was generated; the page's `updated_at` is the newest change among its records.
What does depend on time, and when it changes (`next_change_at` returns the next such
moment, the sweeper renders again then):

- a maintenance with `auto_transition` is shown in progress from `scheduled_for` and completed
  from `scheduled_until`, whether or not a sweeper has moved the record yet (readers never
  see a maintenance "scheduled" that is under way);
- the uptime bars and the incident history cover whole days of the page's time zone: they
  move on at local midnight, which is also when a record ages out of the history window;
- downtime that is still accruing (an open outage) is counted up to the last UPTIME_STEP
  boundary, so an ongoing outage rewrites index.html every UPTIME_STEP, not on every render.

Lists follow Statuspage's semantics: `incidents.json` holds the 50 newest incidents (any
age), the summary the unresolved ones and the upcoming or active maintenances. Every record
gets its page (`incidents/<id>.html`, the JSON's shortlink) whatever its age: links handed
out in feeds and chat keep working after the record leaves the history.

Uptime follows Statuspage's rule (DOWNTIME_WEIGHT: a major outage counts fully, a partial one
30 %, degraded performance and maintenance not at all; overlapping incidents count once, at
the worst status). The percentage is 1 - weighted downtime / the component's minutes within
the window (from its `created_at` or the window's start, to the end of today), floored to two
decimals so that a day with downtime never shows as 100 %. Counting today as a whole day
keeps the number still while nothing is down.

Only the page's components (`StatusPagesConfig.components_of`) are shown: a record may name
components of other pages (a private one), and those are dropped from this page's JSON and
HTML alike. Record and update *text* is published as written.

HTML is Jinja2 with autoescape on, no JavaScript and no external resources (a CSP meta tag
allows nothing but the page's own inline stylesheet, by hash: defence in depth should
escaping ever fail). Feeds are built with xml.etree, which escapes text; characters XML 1.0
cannot carry are dropped from them.

Cache headers (for CloudFront in front of S3, and browsers):

- public page, everything that can change soon: `max-age=30` bounds how stale a reader's copy
  is; `stale-while-revalidate` lets the CDN answer at once while it refetches; `stale-if-error`
  keeps the page readable for a day if the origin fails — a status page must stay up precisely
  when things are broken;
- a closed record's page rarely changes (a late postmortem note): five minutes;
- a private page: `private`, so no shared cache keeps a copy that the next reader, who may not
  be authorized, would be served.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from tocsin.domain.clock import iso
from tocsin.domain.schedules import resolve_local
from tocsin.domain.statuspage import (
    DOWNTIME_WEIGHT,
    ComponentConfig,
    ComponentStatus,
    Impact,
    Kind,
    MaintenanceStatus,
    StatusPageConfig,
    StatusPagesConfig,
    StatusRecord,
    StatusUpdate,
    current_component_statuses,
    downtime_by_day,
    page_status,
    worst,
)

HTML = "text/html; charset=utf-8"
JSON = "application/json"
ATOM = "application/atom+xml"
RSS = "application/rss+xml"

PUBLIC_LIVE = "public, max-age=30, stale-while-revalidate=30, stale-if-error=86400"
PUBLIC_SETTLED = "public, max-age=300, stale-while-revalidate=300, stale-if-error=86400"
PRIVATE_LIVE = "private, max-age=30"
PRIVATE_SETTLED = "private, max-age=300"

#: how many incidents `incidents.json` lists and how many entries the feeds carry
LIST_SIZE = 50
#: accruing downtime is counted up to the last multiple of this (since the Unix epoch)
UPTIME_STEP = timedelta(minutes=5)
#: a day's bar: green without downtime, then yellow up to, orange up to (minutes), else red
BAR_YELLOW_UP_TO = 30.0
BAR_ORANGE_UP_TO = 120.0

#: maintenance statuses during which its components are under maintenance
ACTIVE_MAINTENANCE = frozenset({MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING})

_TEMPLATES = Path(__file__).parent.parent / "templates" / "statuspage"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)
_TO = " \u2013 "  # an en dash between the ends of a time range
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: characters XML 1.0 cannot carry (C0 controls but tab, newline, return; surrogates; U+FFFE/F)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

COMPONENT_LABEL = {
    ComponentStatus.OPERATIONAL: "Operational",
    ComponentStatus.DEGRADED_PERFORMANCE: "Degraded performance",
    ComponentStatus.PARTIAL_OUTAGE: "Partial outage",
    ComponentStatus.MAJOR_OUTAGE: "Major outage",
    ComponentStatus.UNDER_MAINTENANCE: "Under maintenance",
}
#: record and update statuses (incidents' and maintenances')
STATUS_LABEL = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "postmortem": "Postmortem",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "verifying": "Verifying",
    "completed": "Completed",
}
IMPACT_LABEL = {
    Impact.NONE: "No impact",
    Impact.MINOR: "Minor impact",
    Impact.MAJOR: "Major impact",
    Impact.CRITICAL: "Critical impact",
}
#: the CSS tone of a component status / page indicator (the text always says it too)
_COMPONENT_TONE = {
    ComponentStatus.OPERATIONAL: "ok",
    ComponentStatus.DEGRADED_PERFORMANCE: "minor",
    ComponentStatus.PARTIAL_OUTAGE: "major",
    ComponentStatus.MAJOR_OUTAGE: "critical",
    ComponentStatus.UNDER_MAINTENANCE: "maint",
}
_INDICATOR_TONE = {"none": "ok", "minor": "minor", "major": "major", "critical": "critical"}


@dataclass(frozen=True)
class RenderedFile:
    """One file of a page; `path` is relative to the page root."""

    path: str
    body: bytes
    content_type: str
    cache_control: str


# --- time -------------------------------------------------------------------------------------


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The start of `day` in `zone` (aware, in `zone`, so a day plus one is the next local
    midnight even across DST changes)."""
    return resolve_local(datetime.combine(day, time()), zone).astimezone(zone)


def _window(page: StatusPageConfig, now: datetime) -> list[datetime]:
    """Local midnights of the page's history days, oldest first; the last is today."""
    zone = ZoneInfo(page.time_zone)
    today = now.astimezone(zone).date()
    return [_midnight(today - _DAY * back, zone) for back in range(page.history_days - 1, -1, -1)]


def _step_floor(now: datetime) -> datetime:
    return _EPOCH + UPTIME_STEP * ((now - _EPOCH) // UPTIME_STEP)


def _minutes(start: datetime, end: datetime) -> float:
    """Elapsed minutes (in UTC: aware datetimes of one zone subtract as wall-clock times)."""
    return (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 60


# --- records as of now ------------------------------------------------------------------------


def _transition(record: StatusRecord, now: datetime) -> tuple[str, datetime] | None:
    """(status, since when) an auto-transitioning maintenance has reached by `now` beyond its
    stored status, or None."""
    if record.kind is not Kind.MAINTENANCE or not record.auto_transition or record.closed:
        return None
    if record.scheduled_until is not None and now >= record.scheduled_until:
        return MaintenanceStatus.COMPLETED.value, record.scheduled_until
    if (
        record.status == MaintenanceStatus.SCHEDULED
        and record.scheduled_for is not None
        and now >= record.scheduled_for
    ):
        return MaintenanceStatus.IN_PROGRESS.value, record.scheduled_for
    return None


def as_of(record: StatusRecord, now: datetime) -> StatusRecord:
    """The record as readers see it at `now` (see the module docstring on maintenances)."""
    moved = _transition(record, now)
    if moved is None:
        return record
    status, since = moved
    changes: dict[str, Any] = {"status": status}
    if status == MaintenanceStatus.COMPLETED and record.resolved_at is None:
        changes["resolved_at"] = since
    return record.model_copy(update=changes)


def _changed_at(record: StatusRecord, now: datetime) -> datetime:
    """When the record last changed what readers see."""
    times = [record.updated_at, *(u.updated_at for u in record.updates)]
    moved = _transition(record, now)
    if moved is not None:
        times.append(moved[1])
    return max(times)


def _named(record: StatusRecord) -> set[str]:
    """Every component name the record mentions."""
    names = set(record.affects)
    for update in record.updates:
        names.update(update.components)
        names.update(a.name for a in update.affected_components)
    return names


def _began(record: StatusRecord) -> datetime:
    if record.kind is Kind.MAINTENANCE and record.scheduled_for is not None:
        return record.scheduled_for
    return record.started_at or record.created_at


def _newest_first(updates: Iterable[StatusUpdate]) -> list[StatusUpdate]:
    return sorted(updates, key=lambda u: (u.display_at, u.created_at, u.id), reverse=True)


def _is_active_maintenance(record: StatusRecord) -> bool:
    return record.kind is Kind.MAINTENANCE and record.status in ACTIVE_MAINTENANCE


def _statuses(
    components: Sequence[ComponentConfig], records: Sequence[StatusRecord], now: datetime
) -> dict[str, ComponentStatus]:
    """The model's current statuses, plus `under_maintenance` for what an active maintenance
    `affects` (its updates need not repeat the components)."""
    statuses = current_component_statuses([c.name for c in components], records, now)
    for record in records:
        if _is_active_maintenance(record):
            for name in record.affects:
                if name in statuses:
                    statuses[name] = worst((statuses[name], ComponentStatus.UNDER_MAINTENANCE))
    return statuses


# --- uptime -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayUptime:
    day: date  # in the page's time zone
    #: weighted downtime minutes (see DOWNTIME_WEIGHT)
    minutes: float
    #: the worst status the component had that day
    worst: ComponentStatus
    #: False before the component existed
    tracked: bool


@dataclass(frozen=True)
class Uptime:
    """A component's history over the page's window."""

    days: list[DayUptime]  # oldest first, the last is today
    downtime_minutes: float
    total_minutes: float

    @property
    def percent(self) -> float | None:
        """Exact uptime in percent (None: the component has no minutes in the window)."""
        if self.total_minutes <= 0:
            return None
        return 100 * max(0.0, 1 - self.downtime_minutes / self.total_minutes)


def _since(component: ComponentConfig) -> datetime | None:
    """The component's `created_at` (a time without a zone is UTC)."""
    created = component.created_at
    if created is not None and created.tzinfo is None:
        return created.replace(tzinfo=UTC)
    return created


def _created(component: ComponentConfig, window: Sequence[datetime]) -> datetime:
    """When the component's history starts: its `created_at`, else the window's start."""
    return _since(component) or window[0].astimezone(UTC)


def uptime(
    component: ComponentConfig,
    records: Iterable[StatusRecord],
    page: StatusPageConfig,
    now: datetime,
) -> Uptime:
    """`component`'s daily downtime and uptime over `page`'s history window (`records`: the
    page's, as stored; accruing downtime is counted up to the last UPTIME_STEP boundary)."""
    window = _window(page, now)
    relevant = [as_of(r, now) for r in records if component.name in _named(r)]
    per_day = downtime_by_day(component.name, relevant, window, _step_floor(now))
    start = _created(component, window)
    end = window[-1] + _DAY
    days = [
        DayUptime(
            day=midnight.date(),
            minutes=minutes,
            worst=status,
            tracked=midnight + _DAY > start,
        )
        for midnight, (minutes, status) in zip(window, per_day, strict=True)
    ]
    downtime = sum(d.minutes for d in days if d.tracked)
    total = _minutes(max(start, window[0]), end)
    return Uptime(days=days, downtime_minutes=downtime, total_minutes=total)


def _percent_text(result: Uptime) -> str | None:
    """Floored to two decimals, and never 100 % once there was downtime."""
    percent = result.percent
    if percent is None:
        return None
    if result.downtime_minutes <= 0:
        return "100"
    return f"{min(math.floor(percent * 100) / 100, 99.99):.2f}"


def _duration(minutes: float) -> str:
    whole = max(1, round(minutes))
    hours, rest = divmod(whole, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def _day_text(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _bar(day: DayUptime) -> tuple[str, str]:
    """(CSS level, text) of one day's bar."""
    when = _day_text(day.day)
    if not day.tracked:
        return "none", f"{when}: no data"
    if day.minutes <= 0:
        if day.worst is ComponentStatus.OPERATIONAL:
            return "0", f"{when}: no downtime"
        return "0", f"{when}: {COMPONENT_LABEL[day.worst].lower()}, no downtime"
    level = (
        "1" if day.minutes <= BAR_YELLOW_UP_TO else "2" if day.minutes <= BAR_ORANGE_UP_TO else "3"
    )
    label = COMPONENT_LABEL[day.worst].lower()
    return level, f"{when}: {label}, {_duration(day.minutes)} of downtime"


# --- the page's state -------------------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    """One page at `now`: what every file is made of."""

    page: StatusPageConfig
    base_url: str
    now: datetime
    zone: ZoneInfo
    window: list[datetime]
    components: list[ComponentConfig]
    statuses: dict[str, ComponentStatus]
    #: the page's records as of now
    records: list[StatusRecord]
    #: the page's stored records (uptime reads them itself)
    stored: list[StatusRecord]
    #: record id -> the component names it mentions
    named: dict[str, set[str]]
    updated_at: datetime
    component_updated_at: dict[str, datetime]
    indicator: str
    description: str

    @property
    def private(self) -> bool:
        return self.page.visibility == "private"

    def live_cache(self) -> str:
        return PRIVATE_LIVE if self.private else PUBLIC_LIVE

    def record_cache(self, record: StatusRecord) -> str:
        if record.closed:
            return PRIVATE_SETTLED if self.private else PUBLIC_SETTLED
        return self.live_cache()

    def shown(self, record: StatusRecord) -> list[ComponentConfig]:
        """The record's components that are on this page, in the page's order."""
        named = self.named[record.id]
        return [c for c in self.components if c.name in named]

    def link(self, record: StatusRecord) -> str:
        return f"{self.base_url}/incidents/{record.id}.html"


def _view(
    config: StatusPagesConfig,
    page: StatusPageConfig,
    records: Iterable[StatusRecord],
    now: datetime,
    base_url: str,
) -> _View:
    stored = sorted((r for r in records if r.page == page.id), key=lambda r: r.id)
    for record in stored:
        if not _SAFE_ID.match(record.id):
            raise ValueError(f"status record id {record.id!r} cannot name a file")
    current = [as_of(r, now) for r in stored]
    components = config.components_of(page)
    window = _window(page, now)
    statuses = _statuses(components, current, now)
    changed = {r.id: _changed_at(r, now) for r in stored}
    named = {r.id: _named(r) for r in stored}
    component_updated_at = {}
    for component in components:
        times = [changed[r.id] for r in stored if component.name in named[r.id]]
        component_updated_at[component.name] = max(times, default=_created(component, window))
    newest = [*changed.values(), *filter(None, map(_since, components))]
    unresolved = [r for r in current if not r.closed]
    indicator, description = page_status(statuses, unresolved)
    return _View(
        page=page,
        base_url=base_url.rstrip("/"),
        now=now,
        zone=ZoneInfo(page.time_zone),
        window=window,
        components=components,
        statuses=statuses,
        records=current,
        stored=stored,
        named=named,
        updated_at=max(newest, default=window[0]),
        component_updated_at=component_updated_at,
        indicator=indicator,
        description=description,
    )


def _layout(
    components: Sequence[ComponentConfig],
) -> list[tuple[str | None, list[ComponentConfig]]]:
    """Display blocks in page order: (group name, its members) where a group first appears,
    (None, [component]) for a component without a group."""
    blocks: list[tuple[str | None, list[ComponentConfig]]] = []
    groups: dict[str, list[ComponentConfig]] = {}
    for component in components:
        if component.group is None:
            blocks.append((None, [component]))
        elif component.group in groups:
            groups[component.group].append(component)
        else:
            groups[component.group] = [component]
            blocks.append((component.group, groups[component.group]))
    return blocks


def _incidents(view: _View) -> list[StatusRecord]:
    """The page's incidents, newest first."""
    found = [r for r in view.records if r.kind is Kind.INCIDENT]
    return sorted(found, key=lambda r: (r.created_at, r.id), reverse=True)


def _maintenances(view: _View) -> list[StatusRecord]:
    """The page's maintenances, latest scheduled first (like Statuspage's own list)."""
    found = [r for r in view.records if r.kind is Kind.MAINTENANCE]
    return sorted(found, key=lambda r: (_began(r), r.id), reverse=True)


# --- JSON (Statuspage v2) ---------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def _page_json(view: _View) -> dict[str, Any]:
    return {
        "id": view.page.id,
        "name": view.page.name,
        "url": view.base_url,
        "time_zone": view.page.time_zone,
        "updated_at": iso(view.updated_at),
    }


def _component_json(view: _View, component: ComponentConfig, position: int) -> dict[str, Any]:
    since = _since(component)
    start = since.astimezone(view.zone).date() if since else None
    return {
        "id": component.component_id,
        "name": component.name,
        "status": view.statuses[component.name].value,
        "created_at": iso(_created(component, view.window)),
        "updated_at": iso(view.component_updated_at[component.name]),
        "position": position,
        "description": component.description or None,
        "showcase": component.showcase,
        "start_date": start.isoformat() if start else None,
        "group_id": component.group_id,
        "page_id": view.page.id,
        "group": False,
        "only_show_if_degraded": component.only_show_if_degraded,
    }


def _group_json(
    view: _View, name: str, members: Sequence[ComponentConfig], position: int
) -> dict[str, Any]:
    return {
        "id": members[0].group_id,
        "name": name,
        "status": worst(view.statuses[m.name] for m in members).value,
        "created_at": iso(min(_created(m, view.window) for m in members)),
        "updated_at": iso(max(view.component_updated_at[m.name] for m in members)),
        "position": position,
        "description": None,
        "showcase": False,
        "start_date": None,
        "group_id": None,
        "page_id": view.page.id,
        "group": True,
        "only_show_if_degraded": False,
        "components": [m.component_id for m in members],
    }


def _components_json(view: _View) -> list[dict[str, Any]]:
    """Components with their groups, as Statuspage lists them: a group object, then its
    members (with `group_id`), numbered in that order."""
    out: list[dict[str, Any]] = []
    for group, members in _layout(view.components):
        if group is not None:
            out.append(_group_json(view, group, members, len(out) + 1))
        for member in members:
            out.append(_component_json(view, member, len(out) + 1))
    return out


def _update_json(view: _View, record: StatusRecord, update: StatusUpdate) -> dict[str, Any]:
    names = {c.name for c in view.components}
    affected = [
        {
            "code": a.code,
            "name": a.name,
            "old_status": a.old_status.value,
            "new_status": a.new_status.value,
        }
        for a in update.affected_components
        if a.name in names
    ]
    return {
        "affected_components": affected or None,
        "body": update.body,
        "created_at": iso(update.created_at),
        "display_at": iso(update.display_at),
        "id": update.id,
        "incident_id": record.id,
        "status": update.status,
        "updated_at": iso(update.updated_at),
    }


def _record_json(
    view: _View, record: StatusRecord, objects: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """An incident or maintenance; `objects`: the page's component objects by id."""
    data: dict[str, Any] = {
        "components": [objects[c.component_id] for c in view.shown(record)],
        "created_at": iso(record.created_at),
        "id": record.id,
        "impact": record.impact.value,
        "incident_updates": [_update_json(view, record, u) for u in _newest_first(record.updates)],
        "monitoring_at": _time(record.monitoring_at),
        "name": record.name,
        "page_id": view.page.id,
        "resolved_at": _time(record.resolved_at),
        "shortlink": view.link(record),
        "started_at": iso(record.started_at or record.created_at),
        "status": record.status,
        "updated_at": iso(record.updated_at),
    }
    if record.kind is Kind.MAINTENANCE:
        data["scheduled_for"] = _time(record.scheduled_for)
        data["scheduled_until"] = _time(record.scheduled_until)
    return dict(sorted(data.items()))


def _api_files(view: _View) -> dict[str, Any]:
    """Path -> document of every JSON endpoint."""
    page = _page_json(view)
    components = _components_json(view)
    status = {"indicator": view.indicator, "description": view.description}
    incidents = _incidents(view)
    unresolved = [r for r in incidents if not r.closed]
    maintenances = _maintenances(view)
    upcoming = [r for r in maintenances if r.status == MaintenanceStatus.SCHEDULED]
    active = [r for r in maintenances if _is_active_maintenance(r)]
    current = [r for r in maintenances if not r.closed]
    objects = {c["id"]: c for c in components}

    def records(items: Iterable[StatusRecord]) -> list[dict[str, Any]]:
        return [_record_json(view, r, objects) for r in items]

    return {
        "api/v2/summary.json": {
            "page": page,
            "components": components,
            "incidents": records(unresolved),
            "scheduled_maintenances": records(current),
            "status": status,
        },
        "api/v2/status.json": {"page": page, "status": status},
        "api/v2/components.json": {"page": page, "components": components},
        "api/v2/incidents.json": {"page": page, "incidents": records(incidents[:LIST_SIZE])},
        "api/v2/incidents/unresolved.json": {"page": page, "incidents": records(unresolved)},
        "api/v2/scheduled-maintenances.json": {
            "page": page,
            "scheduled_maintenances": records(maintenances[:LIST_SIZE]),
        },
        "api/v2/scheduled-maintenances/upcoming.json": {
            "page": page,
            "scheduled_maintenances": records(upcoming),
        },
        "api/v2/scheduled-maintenances/active.json": {
            "page": page,
            "scheduled_maintenances": records(active),
        },
    }


# --- HTML -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    css: Markup
    #: the CSP source that allows exactly this stylesheet
    source: str


@cache
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(
        component_label=COMPONENT_LABEL,
        status_label=STATUS_LABEL,
        impact_label=IMPACT_LABEL,
        component_tone=_COMPONENT_TONE,
    )
    env.filters["lines"] = _lines
    return env


@cache
def _style() -> _Style:
    css = (_TEMPLATES / "statuspage.css").read_text().strip()
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return _Style(css=Markup(css), source=f"'sha256-{digest}'")


def _lines(text: str) -> Markup:
    """Text with its line breaks as <br> (escaped; for feed content, where CSS does not reach)."""
    return Markup("<br>\n").join(escape(line) for line in text.splitlines())


@dataclass(frozen=True)
class _Stamp:
    """A moment as the page shows it."""

    iso: str
    text: str


@dataclass(frozen=True)
class _Shown:
    """A record as the templates show it."""

    record: StatusRecord
    #: the record's page, relative to the document that links to it
    href: str
    components: list[tuple[str, ComponentStatus]]
    updates: list[tuple[StatusUpdate, _Stamp]]
    began: _Stamp
    #: a maintenance's window ("12 March 2024, 22:00 - 23:30 UTC", with an en dash), else ""
    window: str
    #: a closed record's span ("14:05 - 15:20 UTC", with an en dash), else ""
    span: str


@dataclass(frozen=True)
class _Row:
    component: ComponentConfig
    status: ComponentStatus
    #: (CSS level, text) per day, None: no bars (not a showcase component)
    bars: list[tuple[str, str]] | None
    #: the uptime percentage as shown, None: no minutes in the window yet
    percent: str | None


@dataclass(frozen=True)
class _Block:
    group: str | None
    status: ComponentStatus
    rows: list[_Row]


def _stamp(view: _View, moment: datetime) -> _Stamp:
    local = moment.astimezone(view.zone)
    return _Stamp(iso(moment), f"{_day_text(local.date())}, {local:%H:%M} {local.tzname()}")


def _range(view: _View, start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return ""
    first = _stamp(view, start).text
    if end is None:
        return first
    a, b = start.astimezone(view.zone), end.astimezone(view.zone)
    if a.date() == b.date():
        return f"{_day_text(a.date())}, {a:%H:%M}{_TO}{b:%H:%M} {b.tzname()}"
    return f"{first}{_TO}{_stamp(view, end).text}"


def _shown(view: _View, record: StatusRecord, root: str) -> _Shown:
    began = _began(record)
    span = ""
    if record.closed:
        ended = record.resolved_at or record.updated_at
        a, b = began.astimezone(view.zone), ended.astimezone(view.zone)
        span = f"{a:%H:%M}{_TO}{b:%H:%M} {b.tzname()}" if a.date() == b.date() else ""
    return _Shown(
        record=record,
        href=f"{root}incidents/{record.id}.html",
        components=[(c.name, view.statuses[c.name]) for c in view.shown(record)],
        updates=[(u, _stamp(view, u.display_at)) for u in _newest_first(record.updates)],
        began=_stamp(view, began),
        window=_range(view, record.scheduled_for, record.scheduled_until)
        if record.kind is Kind.MAINTENANCE
        else "",
        span=span,
    )


def _blocks(view: _View) -> list[_Block]:
    """Components to list: grouped, without `only_show_if_degraded` ones while operational."""
    blocks = []
    for group, members in _layout(view.components):
        rows = []
        for component in members:
            status = view.statuses[component.name]
            if component.only_show_if_degraded and status is ComponentStatus.OPERATIONAL:
                continue
            bars, percent = None, None
            if component.showcase:
                mentioning = [r for r in view.stored if component.name in view.named[r.id]]
                result = uptime(component, mentioning, view.page, view.now)
                bars, percent = [_bar(d) for d in result.days], _percent_text(result)
            rows.append(_Row(component, status, bars, percent))
        if rows:
            blocks.append(_Block(group, worst(r.status for r in rows), rows))
    return blocks


def _history(view: _View) -> list[tuple[str, list[_Shown]]]:
    """Closed records that began within the window, by local day, newest first."""
    start = view.window[0]
    days: dict[date, list[StatusRecord]] = {}
    for record in view.records:
        if record.closed and _began(record) >= start:
            days.setdefault(_began(record).astimezone(view.zone).date(), []).append(record)
    return [
        (
            _day_text(day),
            [
                _shown(view, r, "")
                for r in sorted(days[day], key=lambda r: (_began(r), r.id), reverse=True)
            ],
        )
        for day in sorted(days, reverse=True)
    ]


def _common(view: _View, root: str) -> dict[str, Any]:
    style = _style()
    return {
        "page": view.page,
        "root": root,
        "private": view.private,
        "css": style.css,
        "style_source": style.source,
        "zone": view.page.time_zone,
    }


def _index(view: _View) -> str:
    incidents = _incidents(view)
    maintenances = sorted(
        (r for r in view.records if r.kind is Kind.MAINTENANCE and not r.closed),
        key=lambda r: (_began(r), r.id),
    )
    tone = _INDICATOR_TONE[view.indicator]
    if view.indicator == "none" and any(
        s is ComponentStatus.UNDER_MAINTENANCE for s in view.statuses.values()
    ):
        tone = "maint"
    template = _env().get_template("index.html")
    return template.render(
        **_common(view, ""),
        description=view.description,
        tone=tone,
        updated=_stamp(view, view.updated_at),
        active=[_shown(view, r, "") for r in incidents if not r.closed],
        maintenances=[_shown(view, r, "") for r in maintenances],
        blocks=_blocks(view),
        history=_history(view),
        history_days=view.page.history_days,
    )


def _detail(view: _View, record: StatusRecord) -> str:
    template = _env().get_template("incident.html")
    return template.render(**_common(view, "../"), item=_shown(view, record, "../"))


# --- feeds ------------------------------------------------------------------------------------


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _feed_records(view: _View) -> list[StatusRecord]:
    newest = sorted(view.records, key=lambda r: (r.updated_at, r.id), reverse=True)
    return newest[:LIST_SIZE]


def _feed_content(view: _View, record: StatusRecord) -> str:
    html = _env().get_template("feed_entry.html").render(item=_shown(view, record, ""))
    return _xml_text(html.strip())


def _feed_title(view: _View) -> str:
    return _xml_text(f"{view.page.name} status history")


def _xml(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _atom(view: _View) -> bytes:
    """Atom 1.0 (RFC 4287): entry id = the record's permanent page."""
    feed = ET.Element("feed", {"xmlns": "http://www.w3.org/2005/Atom", "xml:lang": "en"})
    ET.SubElement(feed, "id").text = f"{view.base_url}/history.atom"
    ET.SubElement(feed, "title").text = _feed_title(view)
    ET.SubElement(feed, "updated").text = iso(view.updated_at)
    author = ET.SubElement(feed, "author")
    ET.SubElement(author, "name").text = _xml_text(view.page.name)
    ET.SubElement(
        feed, "link", {"rel": "alternate", "type": "text/html", "href": f"{view.base_url}/"}
    )
    ET.SubElement(
        feed,
        "link",
        {"rel": "self", "type": ATOM, "href": f"{view.base_url}/history.atom"},
    )
    for record in _feed_records(view):
        entry = ET.SubElement(feed, "entry")
        ET.SubElement(entry, "id").text = view.link(record)
        ET.SubElement(entry, "title").text = _xml_text(record.name)
        ET.SubElement(entry, "published").text = iso(record.created_at)
        ET.SubElement(entry, "updated").text = iso(record.updated_at)
        ET.SubElement(
            entry, "link", {"rel": "alternate", "type": "text/html", "href": view.link(record)}
        )
        ET.SubElement(entry, "content", {"type": "html"}).text = _feed_content(view, record)
    return _xml(feed)


def _rss(view: _View) -> bytes:
    """RSS 2.0, with an atom:link to itself (as feed validators ask)."""
    rss = ET.Element("rss", {"version": "2.0", "xmlns:atom": "http://www.w3.org/2005/Atom"})
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = _feed_title(view)
    ET.SubElement(channel, "link").text = f"{view.base_url}/"
    ET.SubElement(channel, "description").text = _xml_text(
        view.page.description or f"Incidents and maintenances of {view.page.name}"
    )
    ET.SubElement(channel, "language").text = "en"
    ET.SubElement(channel, "lastBuildDate").text = _rfc822(view.updated_at)
    ET.SubElement(
        channel,
        "atom:link",
        {"href": f"{view.base_url}/history.rss", "rel": "self", "type": RSS},
    )
    for record in _feed_records(view):
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = _xml_text(record.name)
        ET.SubElement(item, "link").text = view.link(record)
        ET.SubElement(item, "guid", {"isPermaLink": "true"}).text = view.link(record)
        ET.SubElement(item, "pubDate").text = _rfc822(record.created_at)
        ET.SubElement(item, "description").text = _feed_content(view, record)
    return _xml(rss)


def _rfc822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


# --- the interface ----------------------------------------------------------------------------


def render_page(
    config: StatusPagesConfig,
    page: StatusPageConfig,
    records: list[StatusRecord],
    now: datetime,
    base_url: str,
) -> dict[str, RenderedFile]:
    """Every file of the page, by path relative to the page root.

    `records`: the page's StatusRecords of any age (records of other pages are ignored);
    `base_url`: the page root's URL (JSON shortlinks, feed links; the HTML links relatively).
    Raises ValueError for a record id that cannot name a file."""
    view = _view(config, page, records, now, base_url)
    live = view.live_cache()
    files: dict[str, RenderedFile] = {}

    def add(path: str, body: bytes, content_type: str, cache_control: str = live) -> None:
        files[path] = RenderedFile(path, body, content_type, cache_control)

    add("index.html", _index(view).encode(), HTML)
    for record in sorted(view.records, key=lambda r: r.id):
        add(
            f"incidents/{record.id}.html",
            _detail(view, record).encode(),
            HTML,
            view.record_cache(record),
        )
    for path, document in _api_files(view).items():
        add(path, json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode(), JSON)
    add("history.atom", _atom(view), ATOM)
    add("history.rss", _rss(view), RSS)
    return files


def _accruing(page: StatusPageConfig, records: Sequence[StatusRecord], now: datetime) -> bool:
    """Whether weighted downtime counted up to the last UPTIME_STEP boundary will grow at the
    next one: an open record with an outage, or one that ended after the boundary."""
    floor = _step_floor(now)
    shown = set(page.components) if page.components is not None else None

    def weighted(statuses: dict[str, ComponentStatus]) -> bool:
        return any(
            DOWNTIME_WEIGHT.get(status, 0) > 0 and (shown is None or name in shown)
            for name, status in statuses.items()
        )

    for record in records:
        if not record.closed and weighted(record.components):
            return True
        for _, end, statuses in record.component_intervals(now):
            if end > floor and weighted(statuses):
                return True
    return False


def next_change_at(page: StatusPageConfig, records: list[StatusRecord], now: datetime) -> datetime:
    """The next moment the page's files would differ by the passage of time alone: the next
    local midnight (uptime bars, history window), an auto-transitioning maintenance's
    `scheduled_for`/`scheduled_until`, or the next UPTIME_STEP while downtime accrues."""
    zone = ZoneInfo(page.time_zone)
    current = [as_of(r, now) for r in records if r.page == page.id]
    moments = [_midnight(now.astimezone(zone).date() + _DAY, zone)]
    for record in current:
        if record.kind is Kind.MAINTENANCE and record.auto_transition and not record.closed:
            moments += [m for m in (record.scheduled_for, record.scheduled_until) if m and m > now]
    if _accruing(page, current, now):
        moments.append(_step_floor(now) + UPTIME_STEP)
    return min(moments)
