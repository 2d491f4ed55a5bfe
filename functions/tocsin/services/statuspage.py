"""Status pages: publishing incidents and maintenances, and writing the pages to S3.

Changing a page (an incident opened or updated, a maintenance scheduled or started) writes
its record and bumps the page's *generation* in one DynamoDB transaction, then publishes.
Publishing renders every file of the page from the records (services/statuspage_render.py)
and writes to S3 only the files whose content hash differs from the manifest of what was
published last; files no longer rendered are deleted. Each S3 PUT replaces an object whole,
so readers never see a half-written file; detail pages, JSON and feeds are written before the
index that links to them, and deletions come last.

One publisher per page at a time: a lease on the page's state item. A change that finds the
lease taken just returns — the holder publishes again before it lets go, because it may only
release the lease when the generation it rendered is still the latest (a conditional write).
A publisher that dies leaves the lease to expire; the sweeper publishes every page whose
generation is ahead of what was published, or whose output changes with time (a new day on
the uptime bars, a maintenance starting), see `refresh`.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from tocsin.dal.aws import client
from tocsin.dal.statuspage import RecordExistsError, StatusPageStore
from tocsin.domain.clock import utcnow
from tocsin.domain.config import TocsinConfig
from tocsin.domain.errors import (
    InvalidRequestError,
    StatusPageNotFoundError,
    VersionConflictError,
)
from tocsin.domain.incidents import Incident
from tocsin.domain.incidents import IncidentStatus as TocsinStatus
from tocsin.domain.statuspage import (
    AffectedComponent,
    ComponentStatus,
    Impact,
    IncidentStatus,
    Kind,
    MaintenanceStatus,
    StatusPageConfig,
    StatusRecord,
    StatusUpdate,
)
from tocsin.domain.timeline import Actor, ActorKind, TimelineEvent, TimelineKind

if TYPE_CHECKING:
    from tocsin.dal.incidents import IncidentRepository

logger = Logger(service="tocsin")

KEY_PREFIX = "status"
#: longer than any publisher's Lambda timeout (the workflow's 60 s is the longest)
LEASE_SECONDS = 90.0
#: a publisher that keeps losing the race to new changes hands over after this many rounds
MAX_ROUNDS = 5
BODY_MAX = 5000
NAME_MAX = 255
UPDATES_MAX = 200
#: a record is one DynamoDB item (400 KB at most, with its keys and attributes)
RECORD_BYTES_MAX = 350_000
#: parallel S3 PUTs while publishing, and how many files between manifest checkpoints
WRITERS = 16
BATCH = 200
#: written after everything else (which links to everything else)
_LAST = ("index.html",)

#: what a Tocsin incident's status means on a status page, unless the author says otherwise
STATUS_FOR: dict[TocsinStatus, IncidentStatus] = {
    TocsinStatus.TRIGGERED: IncidentStatus.INVESTIGATING,
    TocsinStatus.ACKNOWLEDGED: IncidentStatus.INVESTIGATING,
    TocsinStatus.MITIGATED: IncidentStatus.MONITORING,
    TocsinStatus.RESOLVED: IncidentStatus.RESOLVED,
}
#: response headers of every status page file (CloudFront's response headers policy and the
#: local gateway both add them): the pages have no JavaScript and load nothing from elsewhere
STATUS_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
#: authors that are Tocsin itself (the response workflow, maintenance transitions)
SYSTEM_AUTHORS = frozenset({"workflow", "tocsin", "sweeper"})
#: the order of an incident's phases on a status page
PHASE = {"investigating": 0, "identified": 1, "monitoring": 2, "resolved": 3, "postmortem": 4}
MAINTENANCE_STARTED = (
    "Scheduled maintenance is currently in progress. We will provide updates as necessary."
)
MAINTENANCE_COMPLETED = "The scheduled maintenance has been completed."


def new_record_id() -> str:
    """Statuspage-style: 12 lowercase letters and digits."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def object_key(page: str, path: str) -> str:
    return f"{KEY_PREFIX}/{page}/{path}"


@dataclass
class PublishResult:
    page: str
    #: False: another publisher holds the page and will include this change
    published: bool
    generation: int = 0
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    rounds: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "page": self.page,
            "published": self.published,
            "generation": self.generation,
            "written": len(self.written),
            "deleted": len(self.deleted),
            "unchanged": self.unchanged,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class Draft:
    """What publishing for a Tocsin incident would post on one page (the preview)."""

    page: str
    record_id: str | None
    name: str
    status: IncidentStatus
    body: str
    impact: Impact
    components: dict[str, ComponentStatus]

    def as_dict(self) -> dict[str, Any]:
        return {
            "page": self.page,
            "record_id": self.record_id,
            "action": "update" if self.record_id else "open",
            "name": self.name,
            "status": self.status.value,
            "body": self.body,
            "impact": self.impact.value,
            "components": {k: v.value for k, v in self.components.items()},
        }


class StatusPageService:
    def __init__(
        self,
        config: TocsinConfig,
        store: StatusPageStore,
        bucket: str,
        base_url: Callable[[StatusPageConfig], str],
        incidents: IncidentRepository | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.pages_config = config.status_pages
        self.store = store
        self.bucket = bucket
        self.base_url = base_url
        self.incidents = incidents
        self.clock = clock

    # --- lookups --------------------------------------------------------------------------------
    def page(self, page_id: str) -> StatusPageConfig:
        page = self.pages_config.page(page_id)
        if page is None:
            known = ", ".join(p.id for p in self.pages_config.pages) or "none configured"
            raise StatusPageNotFoundError(f"no status page {page_id!r} (known: {known})")
        return page

    def record(self, page_id: str, record_id: str) -> StatusRecord:
        self.page(page_id)
        found = self.store.get(page_id, record_id)
        if found is None:
            raise StatusPageNotFoundError(f"no incident or maintenance {record_id!r} on {page_id}")
        return found

    def records(self, page_id: str) -> list[StatusRecord]:
        self.page(page_id)
        return sorted(self.store.list(page_id), key=lambda r: r.created_at, reverse=True)

    def component_names(self, page: StatusPageConfig) -> list[str]:
        return [c.name for c in self.pages_config.components_of(page)]

    def _check_components(
        self, page: StatusPageConfig, components: dict[str, ComponentStatus]
    ) -> None:
        known = self.component_names(page)
        unknown = sorted(set(components) - set(known))
        if unknown:
            raise InvalidRequestError(
                f"status page {page.id!r} has no component {', '.join(map(repr, unknown))} "
                f"(known: {', '.join(known) or 'none'})"
            )

    # --- changes --------------------------------------------------------------------------------
    def open_incident(
        self,
        page_id: str,
        *,
        name: str,
        status: IncidentStatus,
        body: str,
        author: str,
        impact: Impact = Impact.NONE,
        components: dict[str, ComponentStatus] | None = None,
        incident: Incident | None = None,
        display_at: datetime | None = None,
        publish: bool = True,
    ) -> StatusRecord:
        """A new status-page incident with its first update. A Tocsin incident has at most one
        record per page: a second open raises RecordExistsError."""
        page = self.page(page_id)
        components = dict(components or {})
        self._check_components(page, components)
        now = self.clock()
        status = IncidentStatus(status)
        if status in {IncidentStatus.RESOLVED, IncidentStatus.POSTMORTEM}:
            components = dict.fromkeys(components, ComponentStatus.OPERATIONAL)
        record = StatusRecord(
            id=new_record_id(),
            page=page.id,
            kind=Kind.INCIDENT,
            name=_text(name, "name", NAME_MAX),
            status="investigating",
            impact=impact,
            incident_id=incident.id if incident else None,
            incident_ref=incident.ref if incident else None,
            affects=list(components),
            created_at=now,
            updated_at=now,
            started_at=display_at.astimezone(UTC) if display_at else now,
        )
        record = self._with_update(record, status.value, body, components, author, display_at)
        stored = self.store.create(record)
        self._on_change(stored, author)
        if publish:
            self.publish_after_change(page.id)
        return stored

    def update(
        self,
        page_id: str,
        record_id: str,
        *,
        status: str,
        body: str,
        author: str,
        components: dict[str, ComponentStatus] | None = None,
        impact: Impact | None = None,
        name: str | None = None,
        version: int | None = None,
        display_at: datetime | None = None,
        publish: bool = True,
    ) -> StatusRecord:
        """A new update on an incident or maintenance. `components` replaces the statuses it
        gives (unnamed ones keep theirs); resolving sets every affected component operational.
        `version`: the version you read (a stale one gets a conflict)."""
        page = self.page(page_id)
        record = self.record(page_id, record_id)
        if version is not None and version != record.version:
            raise VersionConflictError(
                f"status record {record_id} is at version {record.version}, not {version}"
            )
        statuses = _statuses_for(record.kind)
        if status not in statuses:
            raise InvalidRequestError(
                f"a {record.kind.value}'s status is one of {', '.join(statuses)}, not {status!r}"
            )
        merged = dict(record.components)
        if record.kind is Kind.MAINTENANCE:
            merged = _maintenance_components(record.affects, status)
        if components:
            self._check_components(page, components)
            merged.update(components)
        if status in {"resolved", "postmortem", "completed"}:
            merged = dict.fromkeys(set(merged) | set(record.affects), ComponentStatus.OPERATIONAL)
        changes: dict[str, Any] = {"affects": list(dict.fromkeys([*record.affects, *merged]))}
        if impact is not None:
            changes["impact"] = impact
        if name is not None:
            changes["name"] = _text(name, "name", NAME_MAX)
        record = self._with_update(
            record.model_copy(update=changes), status, body, merged, author, display_at
        )
        stored = self.store.save(record)
        self._on_change(stored, author)
        if publish:
            self.publish_after_change(page.id)
        return stored

    def schedule_maintenance(
        self,
        page_id: str,
        *,
        name: str,
        body: str,
        scheduled_for: datetime,
        scheduled_until: datetime,
        author: str,
        components: Iterable[str] = (),
        impact: Impact = Impact.NONE,
        auto_transition: bool = True,
        publish: bool = True,
    ) -> StatusRecord:
        page = self.page(page_id)
        if scheduled_for.tzinfo is None or scheduled_until.tzinfo is None:
            raise InvalidRequestError("scheduled_for and scheduled_until need a time zone")
        if scheduled_until <= scheduled_for:
            raise InvalidRequestError("scheduled_until must be after scheduled_for")
        scheduled_for, scheduled_until = (
            scheduled_for.astimezone(UTC),
            scheduled_until.astimezone(UTC),
        )
        names = list(dict.fromkeys(components))
        self._check_components(page, dict.fromkeys(names, ComponentStatus.UNDER_MAINTENANCE))
        now = self.clock()
        record = StatusRecord(
            id=new_record_id(),
            page=page.id,
            kind=Kind.MAINTENANCE,
            name=_text(name, "name", NAME_MAX),
            status=MaintenanceStatus.SCHEDULED.value,
            impact=impact,
            affects=names,
            created_at=now,
            updated_at=now,
            scheduled_for=scheduled_for,
            scheduled_until=scheduled_until,
            auto_transition=auto_transition,
        )
        record = self._with_update(record, "scheduled", body, {}, author, None)
        stored = self.store.create(record)
        self._on_change(stored, author)
        if publish:
            self.publish_after_change(page.id)
        return stored

    def advance_maintenances(self, page_id: str) -> list[StatusRecord]:
        """Start maintenances whose time has come and complete those that are over (those
        with `auto_transition`), like Statuspage does."""
        now = self.clock()
        changed = []
        for record in self.store.list(page_id):
            if record.kind is not Kind.MAINTENANCE or not record.auto_transition:
                continue
            start, end = record.scheduled_for, record.scheduled_until
            if record.status == "scheduled" and start and now >= start:
                if end and now >= end:
                    status, body, at = "completed", MAINTENANCE_COMPLETED, end
                else:
                    status, body, at = "in_progress", MAINTENANCE_STARTED, start
            elif record.status in {"in_progress", "verifying"} and end and now >= end:
                status, body, at = "completed", MAINTENANCE_COMPLETED, end
            else:
                continue
            try:
                changed.append(
                    self.update(
                        page_id,
                        record.id,
                        status=status,
                        body=body,
                        author="tocsin",
                        version=record.version,
                        display_at=at,
                        publish=False,
                    )
                )
            except Exception as exc:  # a concurrent editor won; the next sweep looks again
                logger.warning(
                    "maintenance transition skipped",
                    extra={"page": page_id, "record": record.id, "error": str(exc)},
                )
        return changed

    def _with_update(
        self,
        record: StatusRecord,
        status: str,
        body: str,
        components: dict[str, ComponentStatus],
        author: str,
        display_at: datetime | None,
    ) -> StatusRecord:
        if len(record.updates) >= UPDATES_MAX:
            raise InvalidRequestError(
                f"{record.id} has {UPDATES_MAX} updates already; open a new incident"
            )
        now = self.clock()
        before = record.components
        affected = [
            AffectedComponent(
                code=self._component_id(name),
                name=name,
                old_status=before.get(name, ComponentStatus.OPERATIONAL),
                new_status=new,
            )
            for name, new in components.items()
            if before.get(name, ComponentStatus.OPERATIONAL) is not new
        ]
        update = StatusUpdate(
            id=new_record_id(),
            status=status,
            body=_text(body, "body", BODY_MAX),
            created_at=now,
            display_at=display_at.astimezone(UTC) if display_at else now,
            updated_at=now,
            components=components,
            affected_components=affected,
            author=author,
        )
        changes: dict[str, Any] = {
            "status": status,
            "updates": [update, *record.updates],
            "updated_at": now,
        }
        at = update.display_at
        if status == "monitoring" and record.monitoring_at is None:
            changes["monitoring_at"] = at
        if status == "in_progress" and record.started_at is None:
            changes["started_at"] = at
        if status in {"resolved", "postmortem", "completed"}:
            changes["resolved_at"] = record.resolved_at or at
        elif record.resolved_at is not None:  # reopened
            changes["resolved_at"] = None
        updated = record.model_copy(update=changes)
        size = len(updated.model_dump_json())
        if size > RECORD_BYTES_MAX:
            raise InvalidRequestError(
                f"{record.id} would be {size // 1024} KB with this update (at most "
                f"{RECORD_BYTES_MAX // 1024} KB): shorten it, or open a new incident"
            )
        return updated

    def _component_id(self, name: str) -> str:
        component = self.pages_config.component(name)
        return component.component_id if component else ""

    def _on_change(self, record: StatusRecord, author: str) -> None:
        """Every publish is on the Tocsin incident's timeline."""
        if not record.incident_id or self.incidents is None:
            return
        update = record.updates[0]
        page = self.page(record.page)
        self.incidents.append_timeline(
            TimelineEvent(
                incident_id=record.incident_id,
                at=update.created_at,
                kind=TimelineKind.STATUS_PAGE_UPDATED,
                actor=_actor(author),
                data={
                    "page": page.id,
                    "page_name": page.name,
                    "visibility": page.visibility,
                    "record": record.id,
                    "status": update.status,
                    "body": update.body,
                    "impact": record.impact.value,
                    "components": {k: v.value for k, v in update.components.items()},
                    "url": f"{self.base_url(page)}/incidents/{record.id}.html",
                },
            )
        )

    # --- Tocsin incidents -----------------------------------------------------------------------
    def pages_for(self, incident: Incident) -> list[StatusPageConfig]:
        """The pages that show at least one of the incident's service's components."""
        service = self.config.service(incident.service)
        wanted = set(service.components) if service else set()
        return [
            page for page in self.pages_config.pages if wanted & set(self.component_names(page))
        ]

    def draft(
        self,
        incident: Incident,
        page_id: str,
        status: IncidentStatus | None = None,
        body: str | None = None,
    ) -> Draft:
        """What a person publishing for `incident` would post on a page: its service's
        components in the status its severity gives them, the severity's impact, the
        template's wording. Without `status`, the incident's (a status the record already
        passed, e.g. `identified` while the incident is acknowledged, stays)."""
        page = self.page(page_id)
        return self._person_draft(incident, page, self._current(incident, page), status, body)

    def _current(self, incident: Incident, page: StatusPageConfig) -> StatusRecord | None:
        """The incident's record on the page, if it has one."""
        record_id = self.store.record_for_incident(incident.id, page.id)
        return self.store.get(page.id, record_id) if record_id else None

    def _person_draft(
        self,
        incident: Incident,
        page: StatusPageConfig,
        current: StatusRecord | None,
        status: IncidentStatus | None,
        body: str | None,
    ) -> Draft:
        if status:
            status = IncidentStatus(status)
        else:
            status = STATUS_FOR[incident.status]
            if current is not None and PHASE.get(current.status, 0) > PHASE[status.value]:
                status = IncidentStatus(current.status)
        return self._draft(incident, page, current, status, body)

    def _draft(
        self,
        incident: Incident,
        page: StatusPageConfig,
        current: StatusRecord | None,
        status: IncidentStatus,
        body: str | None,
    ) -> Draft:
        service = self.config.service(incident.service)
        on_page = set(self.component_names(page))
        names = [c for c in (service.components if service else []) if c in on_page]
        level = self.pages_config.component_status.get(
            incident.severity, ComponentStatus.DEGRADED_PERFORMANCE
        )
        if status in {IncidentStatus.RESOLVED, IncidentStatus.POSTMORTEM}:
            level = ComponentStatus.OPERATIONAL
        fields = {
            "title": incident.title,
            "service": incident.service or "",
            "severity": incident.severity,
            "components": _join(names) or "our services",
            "ref": incident.ref,
            "page": page.name,
        }
        return Draft(
            page=page.id,
            record_id=current.id if current else None,
            name=current.name if current else page.incident_name.format(**fields),
            status=status,
            body=body or self.pages_config.template(status, incident.severity).format(**fields),
            impact=self.pages_config.impact.get(incident.severity, Impact.MINOR),
            components=dict.fromkeys(names, level),
        )

    def _automatic(
        self,
        incident: Incident,
        page: StatusPageConfig,
        current: StatusRecord | None,
        body: str | None,
    ) -> Draft | None:
        """What the response workflow posts on a page, or None. The workflow keeps its own
        posts in step with the incident (status, the severity's impact and component
        statuses); once a person has posted, it only moves the record on to a later phase
        (monitoring, resolved) and keeps the person's impact and components. It never
        reopens a closed record: that is a person's call."""
        status = STATUS_FOR[incident.status]
        if current is None:
            return self._draft(incident, page, None, status, body)
        if current.closed:
            return None
        if current.updates and current.updates[0].author not in SYSTEM_AUTHORS:
            if PHASE[status.value] <= PHASE.get(current.status, 0):
                return None
            draft = self._draft(incident, page, current, status, body)
            kept = dict(current.components)
            if status is IncidentStatus.RESOLVED:
                kept = dict.fromkeys(kept, ComponentStatus.OPERATIONAL)
            return replace(draft, impact=current.impact, components=kept)
        return self._draft(incident, page, current, status, body)

    def publish_for(
        self,
        incident: Incident,
        author: str,
        pages: Iterable[str] | None = None,
        status: IncidentStatus | None = None,
        body: str | None = None,
        only_existing: bool = False,
    ) -> list[StatusRecord]:
        """Open or update the incident's record on each page (default: the pages showing its
        service's components). `only_existing`: never open one. Nothing is posted where the
        record already says the same (a re-run workflow step, a second click). The response
        workflow (`author` "workflow") follows `_automatic`'s rules."""
        targets = [self.page(p) for p in pages] if pages is not None else self.pages_for(incident)
        automatic = author in SYSTEM_AUTHORS and status is None
        done = []
        for page in targets:
            for attempt in range(3):  # a concurrent edit of the record: read it again
                try:
                    posted = self._publish_on(
                        incident, page, author, status, body, only_existing, automatic
                    )
                    break
                except VersionConflictError:
                    if attempt == 2:
                        raise
            if posted is not None:
                done.append(posted)
        return done

    def _publish_on(
        self,
        incident: Incident,
        page: StatusPageConfig,
        author: str,
        status: IncidentStatus | None,
        body: str | None,
        only_existing: bool,
        automatic: bool,
    ) -> StatusRecord | None:
        current = self._current(incident, page)
        draft = (
            self._automatic(incident, page, current, body)
            if automatic
            else self._person_draft(incident, page, current, status, body)
        )
        if draft is None:
            return None
        if current is None:
            if only_existing:
                return None
            try:
                return self.open_incident(
                    page.id,
                    name=draft.name,
                    status=draft.status,
                    body=draft.body,
                    author=author,
                    impact=draft.impact,
                    components=draft.components,
                    incident=incident,
                )
            except RecordExistsError:  # opened concurrently: the caller tries again
                raise VersionConflictError("opened concurrently") from None
        if (
            current.status == draft.status.value
            and current.impact is draft.impact
            and all(current.components.get(k) == v for k, v in draft.components.items())
            and (body is None or current.updates[0].body == body)
        ):
            return None  # says this already
        return self.update(
            page.id,
            current.id,
            status=draft.status.value,
            body=draft.body,
            author=author,
            components=draft.components,
            impact=draft.impact,
            version=current.version,
        )

    # --- publishing -----------------------------------------------------------------------------
    def publish_after_change(self, page_id: str) -> PublishResult | None:
        """Publish after a change is stored: a failure here must not fail the change (it is
        stored, and the page's generation says it is not published yet, so the sweeper
        publishes it); it is logged."""
        try:
            return self.publish(page_id)
        except Exception:
            logger.exception("status page not published yet", extra={"page": page_id})
            return None

    def publish(self, page_id: str) -> PublishResult:
        """Write the page's changed files (see the module docstring)."""
        from tocsin.services.statuspage_render import next_change_at, render_page

        page = self.page(page_id)
        owner = uuid.uuid4().hex
        started = time.monotonic()
        result = PublishResult(page=page.id, published=False)
        if not self.store.take_lease(page.id, owner, time.time(), LEASE_SECONDS):
            result.seconds = time.monotonic() - started
            return result
        try:
            manifest: dict[str, str] | None = None
            for _ in range(MAX_ROUNDS):
                result.rounds += 1
                state = self.store.state(page.id)
                records = self.store.list(page.id)
                now = self.clock()
                files = render_page(self.pages_config, page, records, now, self.base_url(page))
                manifest = dict(state.manifest) if manifest is None else manifest
                self._write(page, files, manifest, result, owner)
                if self.store.finish(
                    page.id,
                    owner,
                    state.generation,
                    manifest,
                    next_change_at(page, records, now),
                    now,
                ):
                    result.published = True
                    result.generation = state.generation
                    break
        finally:
            if not result.published:
                self.store.release(page.id, owner)
        result.seconds = time.monotonic() - started
        logger.info("status page published", extra=result.as_dict())
        return result

    def _write(
        self,
        page: StatusPageConfig,
        files: dict[str, Any],
        manifest: dict[str, str],
        result: PublishResult,
        owner: str,
    ) -> None:
        s3 = client("s3")
        digests = {path: _digest(f) for path, f in files.items()}
        changed = [p for p in files if manifest.get(p) != digests[p]]
        result.unchanged += len(files) - len(changed)
        first = sorted(p for p in changed if p not in _LAST)
        last = sorted(p for p in changed if p in _LAST)

        def put(path: str) -> str:
            rendered = files[path]
            s3.put_object(
                Bucket=self.bucket,
                Key=object_key(page.id, path),
                Body=rendered.body,
                ContentType=rendered.content_type,
                CacheControl=rendered.cache_control,
            )
            return path

        # detail pages, JSON and feeds in parallel (a full rebuild is ~1,000 PUTs), a batch at
        # a time so a publisher that dies leaves a manifest that matches S3; then the index
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            for start in range(0, len(first), BATCH):
                for path in pool.map(put, first[start : start + BATCH]):
                    manifest[path] = digests[path]
                    result.written.append(path)
                if start + BATCH < len(first):
                    self.store.save_manifest(page.id, owner, manifest)
        for path in last:
            put(path)
            manifest[path] = digests[path]
            result.written.append(path)
        gone = sorted(set(manifest) - set(files))
        for start in range(0, len(gone), 1000):
            batch = gone[start : start + 1000]
            answer = s3.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": object_key(page.id, p)} for p in batch], "Quiet": True},
            )
            failed = {e.get("Key", "").split("/", 2)[-1] for e in answer.get("Errors", [])}
            if failed:  # kept in the manifest: the next publish deletes them again
                logger.warning("status page files not deleted", extra={"count": len(failed)})
            for path in batch:
                if path not in failed:
                    manifest.pop(path, None)
                    result.deleted.append(path)

    def refresh(self) -> list[dict[str, Any]]:
        """The sweeper's round: publish every page that is behind (a publisher died, or a
        change found the lease taken and its holder crashed) or whose output changes with time
        now — moving its maintenances along first. A page's next change in time includes every
        maintenance's start and end (`next_change_at`), so the records are only read when
        something is due: one state read per page a minute, not the page's whole history."""
        now = self.clock()
        done = []
        for page in self.pages_config.pages:
            try:  # one broken page does not stop the others
                state = self.store.state(page.id)
                due = state.next_change_at is None or state.next_change_at <= now
                if due:
                    self.advance_maintenances(page.id)
                if due or state.generation > state.published:
                    done.append(self.publish(page.id).as_dict())
            except Exception as exc:
                logger.exception("status page refresh failed", extra={"page": page.id})
                done.append({"page": page.id, "published": False, "error": short_error(exc)})
        return done

    def ensure_published(self) -> None:
        """Publish pages that were never published (a fresh deployment shows its components)."""
        for page in self.pages_config.pages:
            if self.store.state(page.id).published_at is None:
                self.publish(page.id)


def _digest(rendered: Any) -> str:
    h = hashlib.sha256(rendered.body)
    h.update(f"\n{rendered.content_type}\n{rendered.cache_control}".encode())
    return h.hexdigest()[:20]


def _text(value: str, what: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidRequestError(f"{what} is empty")
    if len(value) > limit:
        raise InvalidRequestError(f"{what} is {len(value)} characters long (at most {limit})")
    return value


def _statuses_for(kind: Kind) -> list[str]:
    enum = IncidentStatus if kind is Kind.INCIDENT else MaintenanceStatus
    return [s.value for s in enum]  # type: ignore[attr-defined]


def _maintenance_components(names: list[str], status: str) -> dict[str, ComponentStatus]:
    if status in {"in_progress", "verifying"}:
        return dict.fromkeys(names, ComponentStatus.UNDER_MAINTENANCE)
    if status == "completed":
        return dict.fromkeys(names, ComponentStatus.OPERATIONAL)
    return {}


def _join(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _actor(author: str) -> Actor:
    if author in SYSTEM_AUTHORS:
        return Actor.system(author)
    return Actor(kind=ActorKind.USER, id=author)


def short_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
