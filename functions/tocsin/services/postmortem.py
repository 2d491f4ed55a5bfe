"""Postmortems: generated from the incident record on resolve (the response workflow's
`generate_postmortem` action) and on demand (API, CLI, `/incident postmortem`), stored in the
private artifact bucket as Markdown, HTML and JSON, and linked as `links.postmortem`.

Regeneration keeps what the team wrote: their sections (contributing factors, what went well,
what could be better, lessons) live in their own item and are merged into every new document.
A stored postmortem is regenerated when asked for if the record changed since (a newer
timeline event, a new incident version, other action items or sections).

Logs carry ids and counts, never message text.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tocsin.dal.postmortems import CONTENT_TYPES, PostmortemStore, postmortem_key
from tocsin.domain.clock import iso, utcnow
from tocsin.domain.errors import IncidentNotFoundError, InvalidRequestError
from tocsin.domain.incidents import Incident, IncidentStatus
from tocsin.domain.postmortem import (
    ACTION_ITEM_FIELDS,
    BOOKKEEPING,
    TEAM_SECTIONS,
    PostmortemRecord,
    build,
)
from tocsin.domain.timeline import Actor, TimelineEvent, TimelineKind
from tocsin.services.postmortem_render import (
    md_escape,
    phase_chart,
    render_html,
    render_json,
    render_markdown,
)

if TYPE_CHECKING:
    from tocsin.dal.actions import ActionItemStore
    from tocsin.dal.alerts import AlertRepository
    from tocsin.dal.incidents import IncidentRepository
    from tocsin.dal.statuspage import StatusPageStore
    from tocsin.domain.config import TocsinConfig
    from tocsin.services.roles import RoleService
    from tocsin.services.runbooks import RunbookService
    from tocsin.services.signing import Signer

log = logging.getLogger(__name__)

FORMATS = ("md", "html", "json")
#: images embedded in the HTML: each at most, and all together at most (larger ones are
#: linked by name and kept in the bucket)
MAX_IMAGE_BYTES = 2_000_000
MAX_IMAGES_BYTES = 12_000_000
EMBEDDABLE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_SECTION_CHARS = 20_000
#: share links (channel, ticket, `links.postmortem`) read the HTML this long after resolution
SHARE_DAYS = 90
SHARE_PURPOSE = "postmortem-read"
#: the sweeper keeps the postmortems of incidents created this recently current
REFRESH_DAYS = 30
#: and stops starting regenerations after this many seconds of a run
REFRESH_BUDGET_S = 20.0
_SECTION = re.compile(
    r"<!-- tocsin:section ([a-z_]+) -->\n(.*?)\n?<!-- /tocsin:section -->", re.DOTALL
)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class PostmortemNotFoundError(IncidentNotFoundError):
    """No postmortem generated yet (and the caller asked not to generate one)."""


@dataclass(frozen=True)
class Generated:
    incident_id: str
    ref: str
    keys: dict[str, str]
    link: str
    fingerprint: str
    document: dict[str, Any]


class PostmortemService:
    def __init__(
        self,
        config: TocsinConfig,
        incidents: IncidentRepository,
        alerts: AlertRepository,
        actions: ActionItemStore,
        store: PostmortemStore,
        set_links: Callable[[str, dict[str, str]], None],
        roles: Callable[[], RoleService] | None = None,
        status_pages: Callable[[], StatusPageStore] | None = None,
        runbooks: Callable[[], RunbookService] | None = None,
        public_url: Callable[[], str] = lambda: "http://localhost",
        config_dir: Path | None = None,
        clock: Callable[[], datetime] = utcnow,
        signer: Callable[[], Signer] | None = None,
    ) -> None:
        self.signer = signer
        self.config = config
        self.incidents = incidents
        self.alerts = alerts
        self.actions = actions
        self.store = store
        self.set_links = set_links
        self.roles = roles
        self.status_pages = status_pages
        self.runbooks = runbooks
        self.public_url = public_url
        self.config_dir = config_dir
        self.clock = clock

    # --- which incident -----------------------------------------------------------------------
    def incident(self, ref: str) -> Incident:
        """An incident by id or by reference (INC-42)."""
        return self.incidents.by_ref(ref)

    def share_link(self, incident: Incident) -> str:
        """The link posted in the channel, on the ticket and as `links.postmortem`: the HTML
        through a signed read-only link (people click it from Slack or Jira, where they have
        no API token), valid SHARE_DAYS after the resolution. The same for every regeneration,
        so adding it again changes nothing. Without a signing key: the API link."""
        if self.signer is None:
            return self.link(incident.id)
        since = incident.status_times.get(IncidentStatus.RESOLVED) or incident.created_at
        token = self.signer().sign(
            SHARE_PURPOSE, {"i": incident.id}, since + timedelta(days=SHARE_DAYS)
        )
        return f"{self.public_url().rstrip('/')}/v1/postmortems/{incident.id}?t={token}"

    def read_shared(self, incident_id: str, token: str) -> bytes:
        """The HTML for a share link (InvalidTokenError: forged or another incident's;
        ExpiredTokenError: too old)."""
        from tocsin.services.signing import InvalidTokenError

        if self.signer is None:
            raise InvalidTokenError("share links need the signing key")
        data = self.signer().verify(SHARE_PURPOSE, token, self.clock())
        if data.get("i") != incident_id:
            raise InvalidTokenError("this link is for another incident")
        return self.get(incident_id, "html", Actor.system("share-link"))

    def link(self, incident_id: str, fmt: str = "html") -> str:
        return f"{self.public_url().rstrip('/')}/v1/incidents/{incident_id}/postmortem?format={fmt}"

    # --- the record ---------------------------------------------------------------------------
    def events(self, incident_id: str) -> list[TimelineEvent]:
        """The whole timeline, oldest first (pages of 500)."""
        events: list[TimelineEvent] = []
        cursor: str | None = None
        while True:
            page, cursor = self.incidents.timeline(incident_id, limit=500, cursor=cursor)
            events += page
            if cursor is None:
                return events

    def record(self, incident: Incident) -> PostmortemRecord:
        team = self.config.team_of(incident.service)
        records: list[dict[str, Any]] = []
        if self.status_pages is not None:
            pages = self.status_pages()
            for page, record_id in sorted(pages.records_for_incident(incident.id).items()):
                found = pages.get(page, record_id)
                if found is not None:
                    records.append(found.model_dump(mode="json"))
        runbooks_md = ""
        if self.runbooks is not None:
            try:
                runbooks_md = self.runbooks().postmortem_section(incident)
            except Exception as exc:  # an optional section never stops the postmortem
                log.warning("runbook section left out", extra={"error": type(exc).__name__})
        return PostmortemRecord(
            incident=incident,
            events=self.events(incident.id),
            generated_at=self.clock(),
            alerts=self.alerts.incident_alerts(incident.id),
            roles=self.roles().roles(incident.id) if self.roles is not None else [],
            status_records=records,
            action_items=[
                a.model_dump(mode="json") for a in self.actions.for_incident(incident.id)
            ],
            sections=self.store.sections(incident.id)["sections"],
            people={p.id: p.name for p in self.config.people},
            team=team.name if team else None,
            runbooks_markdown=runbooks_md,
        )

    def fingerprint(self, incident: Incident) -> str:
        """What the document depends on, read cheaply: the incident's version and links, its
        newest timeline event (bookkeeping aside), its action items and the team's sections."""
        latest = [
            e for e in self.incidents.latest_timeline(incident.id, 25) if e.kind not in BOOKKEEPING
        ]
        parts = [
            incident.id,
            str(incident.version),
            repr(sorted((k, v) for k, v in incident.links.items() if k != "postmortem")),
            latest[-1].id if latest else "-",
            # the items as the document shows them (a reminder sent changes nothing here)
            repr(
                [
                    a.model_dump(mode="json", include=set(ACTION_ITEM_FIELDS))
                    for a in self.actions.for_incident(incident.id)
                ]
            ),
            str(self.store.sections(incident.id)["version"]),
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]

    # --- generating -----------------------------------------------------------------------------
    def generate(self, ref: str, actor: Actor, reason: str = "on demand") -> Generated:
        """Build, render and store the postmortem; link it on the incident; record it."""
        incident = self.incident(ref)
        fingerprint = self.fingerprint(incident)
        record = self.record(incident)
        document = build(record)
        self._images(incident.id, document)
        document["fingerprint"] = fingerprint
        document["files"] = {f: postmortem_key(incident.id, f"postmortem.{f}") for f in FORMATS}
        dirs = self._template_dirs(document["incident"]["team"])
        keys = {
            "md": self.store.put(
                incident.id,
                "postmortem.md",
                render_markdown(document, dirs).encode(),
                CONTENT_TYPES["md"],
            ),
            "html": self.store.put(
                incident.id,
                "postmortem.html",
                render_html(document, dirs).encode(),
                CONTENT_TYPES["html"],
            ),
            "svg": self.store.put(
                incident.id, "phases.svg", str(phase_chart(document)).encode(), CONTENT_TYPES["svg"]
            ),
            # last: its fingerprint says the others are current
            "json": self.store.put(
                incident.id,
                "postmortem.json",
                render_json(document).encode(),
                CONTENT_TYPES["json"],
            ),
        }
        link = self.share_link(incident)
        self.set_links(incident.id, {"postmortem": link})
        at = self.clock()
        self.store.mark_generated(incident.id, fingerprint, iso(at))
        self.incidents.append_timeline(
            TimelineEvent(
                id=f"postmortem-{fingerprint[:16]}",  # one event per version of the record
                incident_id=incident.id,
                at=at,
                kind=TimelineKind.POSTMORTEM_GENERATED,
                actor=actor,
                data={"reason": reason, "link": link, "keys": keys, "fingerprint": fingerprint},
            )
        )
        log.info(
            "postmortem generated",
            extra={
                "incident_id": incident.id,
                "events": document["summary"]["events"],
                "messages": document["summary"]["messages"],
                "reason": reason,
            },
        )
        return Generated(incident.id, incident.ref, keys, link, fingerprint, document)

    def _template_dirs(self, team: str | None) -> list[Path]:
        if self.config_dir is None:
            return []
        base = self.config_dir / "postmortem"
        dirs = [base / _SAFE_NAME.sub("_", team)] if team else []
        return [*dirs, base]

    def _images(self, incident_id: str, document: dict[str, Any]) -> None:
        """Embed the copied images (size-capped) as data: URIs for the HTML and copy them
        beside the Markdown (`images/`)."""
        budget = MAX_IMAGES_BYTES
        for n, image in enumerate(document["images"], 1):
            key = str(image.get("key") or "")
            image["embedded"] = None
            image["md_path"] = None
            if image.get("copy") != "copied" or not key:
                image["embed_reason"] = image.get("reason") or "no copy was kept"
                continue
            mimetype = str(image.get("mimetype") or "").lower()
            name = f"{n:03d}-" + (_SAFE_NAME.sub("_", key.rsplit("/", 1)[-1])[-80:] or "image")
            image["md_path"] = "images/" + name
            self.store.copy_image(key, incident_id, name)
            if mimetype not in EMBEDDABLE:
                image["embed_reason"] = f"{mimetype or 'unknown type'} is not embedded"
                continue
            body, why = self.store.chat_file(key, min(MAX_IMAGE_BYTES, budget))
            if body is None:
                image["embed_reason"] = why
                continue
            budget -= len(body)
            image["embedded"] = f"data:{mimetype};base64,{base64.b64encode(body).decode()}"
            image["embed_reason"] = None

    # --- reading --------------------------------------------------------------------------------
    def get(self, ref: str, fmt: str, actor: Actor, regenerate_if_stale: bool = True) -> bytes:
        """The stored postmortem in `fmt`; generated first when there is none, or when the
        record changed since it was generated."""
        if fmt not in FORMATS:
            raise InvalidRequestError(f"unknown format {fmt!r} (md, html or json)")
        incident = self.incident(ref)
        made_from = self.store.generated_fingerprint(incident.id)
        stale = made_from is None
        if made_from is not None and regenerate_if_stale:
            stale = made_from != self.fingerprint(incident)
        if stale:
            if not regenerate_if_stale:
                raise PostmortemNotFoundError(f"{incident.ref} has no postmortem yet")
            self.generate(incident.id, actor, "record changed" if made_from else "first request")
        body = self.store.get(incident.id, f"postmortem.{fmt}")
        if body is None:
            raise PostmortemNotFoundError(f"{incident.ref} has no postmortem yet")
        return body

    def refresh_changed(
        self, days: int = REFRESH_DAYS, budget_s: float = REFRESH_BUDGET_S
    ) -> list[str]:
        """Regenerate the postmortems of incidents resolved lately (created in the last `days`)
        whose record changed since: an action item done, a message in the channel, a role
        fixed afterwards. Run by the sweeper, so the stored files (and the ticket's link) stay
        current without anyone reading them first. Returns the incident ids regenerated."""
        import time

        started = time.monotonic()
        since = self.clock() - timedelta(days=days)
        done: list[str] = []
        cursor: str | None = None
        while time.monotonic() - started < budget_s:
            incidents, cursor = self.incidents.search(
                [IncidentStatus.RESOLVED], limit=50, cursor=cursor
            )
            for incident in incidents:
                if incident.created_at < since:
                    return done  # newest first: the rest are older
                if time.monotonic() - started >= budget_s:
                    return done
                made_from = self.store.generated_fingerprint(incident.id)
                if made_from is None or made_from == self.fingerprint(incident):
                    continue
                self.generate(incident.id, Actor.system("postmortem"), "record changed")
                done.append(incident.id)
            if cursor is None:
                return done
        return done

    # --- the team's sections --------------------------------------------------------------------
    def sections(self, ref: str) -> dict[str, Any]:
        incident = self.incident(ref)
        stored = self.store.sections(incident.id)
        return {
            "incident_id": incident.id,
            "version": stored["version"],
            "updated_at": stored["updated_at"],
            "updated_by": stored["updated_by"],
            "sections": [
                {
                    "id": key,
                    "heading": heading,
                    "prompt": prompt,
                    "text": stored["sections"].get(key, ""),
                }
                for key, (heading, prompt) in TEAM_SECTIONS.items()
            ],
        }

    def save_sections(
        self,
        ref: str,
        actor: Actor,
        sections: dict[str, str] | None = None,
        markdown: str | None = None,
        version: int | None = None,
    ) -> Generated:
        """Store the team's sections (given, or read from an edited Markdown file between its
        `tocsin:section` markers) and regenerate. Sections not given keep their text.
        `version` (the one read) guards against two editors at once: a stale one gets 409."""
        incident = self.incident(ref)
        given = dict(sections or {})
        if markdown is not None:
            given.update(parse_sections(markdown))
        if not given:
            raise InvalidRequestError(
                "nothing to save: give sections, or Markdown with tocsin:section markers"
            )
        unknown = sorted(set(given) - set(TEAM_SECTIONS))
        if unknown:
            raise InvalidRequestError(
                f"unknown section(s) {', '.join(unknown)} (known: {', '.join(TEAM_SECTIONS)})"
            )
        too_long = sorted(k for k, v in given.items() if len(v) > MAX_SECTION_CHARS)
        if too_long:
            raise InvalidRequestError(
                f"section(s) {', '.join(too_long)} longer than {MAX_SECTION_CHARS} characters"
            )
        stored = self.store.sections(incident.id)
        expected = stored["version"] if version is None else version
        merged = {**stored["sections"], **{k: v.strip() for k, v in given.items()}}
        self.store.save_sections(
            incident.id, merged, expected, iso(self.clock()), actor.name or actor.id
        )
        return self.generate(incident.id, actor, "sections edited")


def parse_sections(markdown: str) -> dict[str, str]:
    """The team's text between `<!-- tocsin:section id -->` markers. The prompt (the italic
    line shown while a section is empty) is not text: it is dropped wherever it is left, and a
    section holding nothing else is not taken."""
    found: dict[str, str] = {}
    for key, body in _SECTION.findall(markdown.replace("\r\n", "\n")):
        prompt = TEAM_SECTIONS.get(key, ("", ""))[1]
        shown = f"_{md_escape(prompt)}_"
        text = "\n".join(line for line in body.split("\n") if line.strip() != shown).strip()
        if text:
            found[key] = text
    return found
