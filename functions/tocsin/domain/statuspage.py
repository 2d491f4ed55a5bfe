"""Status pages: components, status-page incidents and maintenances, and what they add up to.

The vocabularies are Atlassian Statuspage's (its public v2 API is what existing widgets and
clients read): component status, incident status and impact, maintenance status, the page's
status indicator. Components and pages are configuration (`config/statuspage.yaml`);
status-page incidents and maintenances are runtime records (DynamoDB), each on one page and
optionally linked to a Tocsin incident.

Component status is never stored: it is derived from the page's unresolved incidents (the
component statuses of their latest update) and its in-progress maintenances, so a published
page can always be rebuilt from the records alone.
"""

from __future__ import annotations

import hashlib
import itertools
import string
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

_PAGE_ID = r"^[a-z0-9][a-z0-9-]{0,39}$"


class ComponentStatus(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"


#: how bad a component status is (the worst one wins when several incidents touch a component)
COMPONENT_RANK: dict[ComponentStatus, int] = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.DEGRADED_PERFORMANCE: 2,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.MAJOR_OUTAGE: 4,
}
#: share of a minute a component status counts as downtime (Statuspage's uptime rule: a major
#: outage counts fully, a partial outage 30 %, degraded performance and maintenance not at all)
DOWNTIME_WEIGHT: dict[ComponentStatus, float] = {
    ComponentStatus.MAJOR_OUTAGE: 1.0,
    ComponentStatus.PARTIAL_OUTAGE: 0.3,
}


class IncidentStatus(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"


class MaintenanceStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFYING = "verifying"
    COMPLETED = "completed"


class Impact(StrEnum):
    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


IMPACT_RANK = {Impact.NONE: 0, Impact.MINOR: 1, Impact.MAJOR: 2, Impact.CRITICAL: 3}
#: statuses after which an incident or maintenance no longer affects components
CLOSED_STATUSES = frozenset({"resolved", "postmortem", "completed"})


class Kind(StrEnum):
    INCIDENT = "incident"
    MAINTENANCE = "maintenance"


def short_id(*parts: str) -> str:
    """A Statuspage-style id (12 characters, lowercase letters and digits), stable for its
    parts: component ids survive rebuilds and redeployments."""
    digest = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:10], "big")
    alphabet = string.digits + string.ascii_lowercase
    out = []
    for _ in range(12):
        digest, rest = divmod(digest, 36)
        out.append(alphabet[rest])
    return "".join(out)


# --- configuration ----------------------------------------------------------------------------


def _check_template(what: str, text: str) -> str:
    try:
        text.format(**dict.fromkeys(TEMPLATE_FIELDS, ""))
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"{what}: unknown or malformed placeholder {exc} "
            f"(known: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)})"
        ) from None
    return text


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComponentConfig(Strict):
    """A component shown on status pages. Services name the components they back."""

    name: str = Field(min_length=1, max_length=100)
    #: pin the id (12 characters); by default it is derived from the name
    id: str | None = Field(default=None, pattern=r"^[a-z0-9]{6,32}$")
    description: str = ""
    #: components of one group are shown together under the group's name
    group: str | None = Field(default=None, min_length=1, max_length=100)
    #: a private component may only be on private pages
    private: bool = False
    only_show_if_degraded: bool = False
    #: show the 90-day uptime bars
    showcase: bool = True
    #: when the component first existed (the uptime bars start there); default: 90 days ago
    created_at: AwareDatetime | None = None

    @property
    def component_id(self) -> str:
        return self.id or short_id("component", self.name)

    @property
    def group_id(self) -> str | None:
        return short_id("group", self.group) if self.group else None


class StatusPageConfig(Strict):
    #: the page's path segment: `/status/<id>/` (and its id in the JSON API)
    id: str = Field(pattern=_PAGE_ID)
    name: str = Field(min_length=1, max_length=200)
    visibility: Literal["public", "private"] = "public"
    #: the address readers use, ending in `/status/<id>` (default: the distribution's);
    #: set it when your own domain points at the distribution
    url: str | None = Field(default=None, pattern=r"^https?://")
    #: the name an incident opened for a Tocsin incident gets here (a template like the
    #: wording's): the incident's own title may be too internal for customers
    incident_name: str = Field(default="{title}", min_length=1, max_length=255)
    #: component names on this page, in display order (a public page: default every public one)
    components: list[str] | None = None
    #: IANA zone the page shows times in
    time_zone: str = "Etc/UTC"
    #: how many days of history the page shows (incident history, uptime bars)
    history_days: int = Field(default=90, ge=7, le=365)
    description: str = ""

    @field_validator("incident_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_template("incident_name", value)

    @model_validator(mode="after")
    def _url(self) -> StatusPageConfig:
        if self.url and not self.url.rstrip("/").endswith(f"/status/{self.id}"):
            raise ValueError(
                f"url must end in /status/{self.id} (the path the pages are served under), "
                f"e.g. https://status.example.com/status/{self.id}"
            )
        return self

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


#: a template's placeholders: {title} {service} {severity} {components} {ref} {page}
TEMPLATE_FIELDS = ("title", "service", "severity", "components", "ref", "page")


def _default_templates() -> dict[IncidentStatus, dict[str, str]]:
    return {
        IncidentStatus.INVESTIGATING: {
            "default": "We are investigating reports of problems with {components}. "
            "We will post an update as soon as we know more.",
        },
        IncidentStatus.IDENTIFIED: {
            "default": "We have identified the cause of the problems with {components} "
            "and are working on a fix.",
        },
        IncidentStatus.MONITORING: {
            "default": "A fix has been applied and we are monitoring {components}.",
        },
        IncidentStatus.RESOLVED: {
            "default": "This incident has been resolved: {components} work normally again.",
        },
    }


class StatusPagesConfig(Strict):
    """`status_pages:` in the configuration."""

    components: list[ComponentConfig] = Field(default_factory=list)
    pages: list[StatusPageConfig] = Field(default_factory=list)
    #: status -> severity (or `default`) -> wording that pre-fills an update
    templates: dict[IncidentStatus, dict[str, str]] = Field(default_factory=_default_templates)
    #: the impact an incident of a severity is published with (default: minor)
    impact: dict[str, Impact] = Field(
        default_factory=lambda: {"SEV1": Impact.CRITICAL, "SEV2": Impact.MAJOR}
    )
    #: the status a severity puts its service's components in (default: degraded_performance)
    component_status: dict[str, ComponentStatus] = Field(
        default_factory=lambda: {
            "SEV1": ComponentStatus.MAJOR_OUTAGE,
            "SEV2": ComponentStatus.PARTIAL_OUTAGE,
        }
    )
    #: Secrets Manager secret (in the stack's region) with the private key that signs the
    #: CloudFront cookies of private pages, `{"private_key": PEM}`: `tocsin statuspage keygen`
    #: writes it, and the public half to config/statuspage-cookies.pub.pem (docs/deploy.md)
    cookie_secret: str = Field(
        default="tocsin/status-cookies", pattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$"
    )

    @field_validator("templates")
    @classmethod
    def _fields(
        cls, value: dict[IncidentStatus, dict[str, str]]
    ) -> dict[IncidentStatus, dict[str, str]]:
        for status, wording in value.items():
            for key, text in wording.items():
                _check_template(f"template {status.value}.{key}", text)
        return value

    def page(self, page_id: str) -> StatusPageConfig | None:
        return next((p for p in self.pages if p.id == page_id), None)

    def component(self, name: str) -> ComponentConfig | None:
        return next((c for c in self.components if c.name == name), None)

    def components_of(self, page: StatusPageConfig) -> list[ComponentConfig]:
        """The page's components in display order."""
        if page.components is None:
            return [c for c in self.components if not c.private]
        by_name = {c.name: c for c in self.components}
        return [by_name[name] for name in page.components]

    def template(self, status: IncidentStatus, severity: str | None) -> str:
        wording = self.templates.get(status) or _default_templates().get(status, {})
        return wording.get(severity or "", wording.get("default", ""))


def status_page_problems(config: StatusPagesConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """What `tocsin config validate` reports about `status_pages` (locations inside it)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    seen: set[str] = set()
    for i, component in enumerate(config.components):
        if component.name in seen:
            problems.append((("components", i, "name"), f"component {component.name!r} repeated"))
        seen.add(component.name)
    ids = [c.component_id for c in config.components]
    for i, component_id in enumerate(ids):
        if ids.index(component_id) != i:
            problems.append((("components", i, "id"), f"component id {component_id!r} repeated"))
    pages: set[str] = set()
    public = 0
    by_name = {c.name: c for c in config.components}
    for i, page in enumerate(config.pages):
        if page.id in pages:
            problems.append((("pages", i, "id"), f"status page id {page.id!r} repeated"))
        pages.add(page.id)
        if page.visibility == "public":
            public += 1
            if public == 2:
                problems.append((("pages", i, "visibility"), "only one status page can be public"))
        elif page.components is None:
            problems.append((("pages", i), "a private page lists its `components`"))
        for j, name in enumerate(page.components or []):
            found = by_name.get(name)
            if found is None:
                known = ", ".join(sorted(by_name)) or "none defined"
                problems.append(
                    (("pages", i, "components", j), f"unknown component {name!r} (known: {known})")
                )
            elif page.visibility == "public" and found.private:
                problems.append(
                    (
                        ("pages", i, "components", j),
                        f"{name!r} is a private component: a public page cannot show it",
                    )
                )
    return problems


# --- runtime records --------------------------------------------------------------------------


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AffectedComponent(Model):
    """A component an update changed (Statuspage's `affected_components` of an update)."""

    code: str  # the component id
    name: str
    old_status: ComponentStatus
    new_status: ComponentStatus


class StatusUpdate(Model):
    id: str
    #: an IncidentStatus for incidents, a MaintenanceStatus for maintenances
    status: str
    body: str
    created_at: AwareDatetime
    display_at: AwareDatetime
    updated_at: AwareDatetime
    #: component name -> status from this update on (the whole map, not just the changes)
    components: dict[str, ComponentStatus] = Field(default_factory=dict)
    affected_components: list[AffectedComponent] = Field(default_factory=list)
    #: who published it (a person id, `api`, `workflow`...)
    author: str | None = None


class StatusRecord(Model):
    """A status-page incident or scheduled maintenance, on one page."""

    id: str
    page: str
    kind: Kind = Kind.INCIDENT
    name: str
    status: str
    impact: Impact = Impact.NONE
    #: the Tocsin incident it reports on (`inc-…`) and its human reference (`INC-42`)
    incident_id: str | None = None
    incident_ref: str | None = None
    #: the components the record is about (a maintenance puts them under maintenance while
    #: in progress); the statuses in effect are those of the latest update
    affects: list[str] = Field(default_factory=list)
    #: newest first, like the Statuspage API
    updates: list[StatusUpdate] = Field(default_factory=list)
    created_at: AwareDatetime
    updated_at: AwareDatetime
    started_at: AwareDatetime | None = None
    monitoring_at: AwareDatetime | None = None
    resolved_at: AwareDatetime | None = None
    scheduled_for: AwareDatetime | None = None
    scheduled_until: AwareDatetime | None = None
    #: maintenances: move to in_progress / completed at scheduled_for / scheduled_until
    auto_transition: bool = True
    version: int = 0

    @property
    def closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    @property
    def components(self) -> dict[str, ComponentStatus]:
        """Component statuses in effect now (the latest update's)."""
        return dict(self.updates[0].components) if self.updates else {}

    def component_intervals(
        self, now: datetime
    ) -> Iterable[tuple[datetime, datetime, dict[str, ComponentStatus]]]:
        """(from, until, statuses) for the record's life, from its updates."""
        updates = sorted(self.updates, key=lambda u: u.display_at)
        for index, update in enumerate(updates):
            start = update.display_at
            if index + 1 < len(updates):
                end = updates[index + 1].display_at
            else:  # the latest update lasts until now, unless it closed the record
                end = start if self.closed else now
            if end > start and update.components:
                yield start, end, update.components


def worst(statuses: Iterable[ComponentStatus]) -> ComponentStatus:
    return max(statuses, key=COMPONENT_RANK.__getitem__, default=ComponentStatus.OPERATIONAL)


def current_component_statuses(
    components: Iterable[str], records: Iterable[StatusRecord], now: datetime
) -> dict[str, ComponentStatus]:
    """Each component's status now: the worst that an unresolved incident gives it, or
    `under_maintenance` during an in-progress maintenance that names it."""
    found: dict[str, list[ComponentStatus]] = {name: [] for name in components}
    for record in records:
        if record.closed:
            continue
        given = record.components
        if record.kind is Kind.MAINTENANCE:
            if record.status not in {"in_progress", "verifying"}:
                continue
            given = {**dict.fromkeys(record.affects, ComponentStatus.UNDER_MAINTENANCE), **given}
        for name, status in given.items():
            if name in found:
                found[name].append(status)
    return {name: worst(statuses) for name, statuses in found.items()}


#: (indicator, description) of a page, from its components (Statuspage's wording)
def page_status(
    statuses: dict[str, ComponentStatus], unresolved: Iterable[StatusRecord]
) -> tuple[str, str]:
    values = list(statuses.values())
    if values and all(v is ComponentStatus.MAJOR_OUTAGE for v in values):
        return "critical", "Major System Outage"
    if ComponentStatus.MAJOR_OUTAGE in values:
        return "major", "Partial System Outage"
    if ComponentStatus.PARTIAL_OUTAGE in values:
        return "minor", "Minor Service Outage"
    if ComponentStatus.DEGRADED_PERFORMANCE in values:
        return "minor", "Partially Degraded Service"
    impacts = [r.impact for r in unresolved if r.kind is Kind.INCIDENT and not r.closed]
    top = max(impacts, key=IMPACT_RANK.__getitem__, default=Impact.NONE)
    if top is Impact.CRITICAL:
        return "critical", "Major System Outage"
    if top is Impact.MAJOR:
        return "major", "Partial System Outage"
    if top is Impact.MINOR:
        return "minor", "Minor Service Outage"
    if ComponentStatus.UNDER_MAINTENANCE in values:
        return "none", "Service Under Maintenance"
    return "none", "All Systems Operational"


def downtime_by_day(
    component: str,
    records: Iterable[StatusRecord],
    days: list[datetime],
    now: datetime,
) -> list[tuple[float, ComponentStatus]]:
    """For each day (its UTC/local midnight start in `days`, each 24 h long): weighted downtime
    minutes of `component` and the worst status it had that day. Overlapping incidents are not
    counted twice: at every moment the worst status in effect counts."""
    if not days:
        return []
    horizon_start, horizon_end = days[0], min(days[-1] + timedelta(days=1), now)
    # every interval in which some record gives the component a status
    intervals: list[tuple[datetime, datetime, ComponentStatus]] = []
    for record in records:
        for start, end, statuses in record.component_intervals(now):
            status = statuses.get(component)
            if status is None or status is ComponentStatus.OPERATIONAL:
                continue
            start, end = max(start, horizon_start), min(end, horizon_end)
            if end > start:
                intervals.append((start, end, status))
    result: list[tuple[float, ComponentStatus]] = []
    for day in days:
        day_end = day + timedelta(days=1)
        inside = [
            (max(s, day), min(e, day_end), st) for s, e, st in intervals if s < day_end and e > day
        ]
        if not inside:
            result.append((0.0, ComponentStatus.OPERATIONAL))
            continue
        cuts = sorted({t for s, e, _ in inside for t in (s, e)})
        minutes = 0.0
        for a, b in itertools.pairwise(cuts):
            active = [st for s, e, st in inside if s <= a and e >= b]
            if active:
                # elapsed time (in UTC): a DST day's local midnights are 23 or 25 h apart
                elapsed = (b.astimezone(UTC) - a.astimezone(UTC)).total_seconds()
                minutes += DOWNTIME_WEIGHT.get(worst(active), 0.0) * elapsed / 60
        result.append((minutes, worst(st for _, _, st in inside)))
    return result
