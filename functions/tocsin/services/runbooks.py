"""Runbooks as living documents: suggested where they are needed, and kept from going stale.

- `suggest` / `search` rank the runbooks (services/runbook_index.py) for an incident or a query;
- the channel summary posts the top suggestions through tracked links (`summary_lines`), and
  records once per incident that they were suggested;
- a tracked link (`GET /v1/runbooks/{id}/open?t=…`, signed) counts the open and sends the reader
  on: to the runbook's URL, or to the Markdown rendered as safe HTML;
- `feedback` records a person's Helpful / Not helpful vote (their latest vote counts);
- `used` lists an incident's runbooks for the postmortem; `report` applies the staleness rules.

Each of suggested, first opened and feedback puts an event on the incident's timeline.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tocsin.domain.clock import utcnow
from tocsin.domain.config import TocsinConfig
from tocsin.domain.errors import TocsinError
from tocsin.domain.incidents import Incident
from tocsin.domain.runbooks import Runbook, RunbookStats, StalenessEntry, staleness
from tocsin.domain.timeline import Actor, ActorKind, TimelineEvent, TimelineKind
from tocsin.services.runbook_index import RunbookIndex, Situation, Suggestion

if TYPE_CHECKING:
    from tocsin.dal.alerts import AlertRepository
    from tocsin.dal.incidents import IncidentRepository
    from tocsin.dal.runbooks import RunbookStore
    from tocsin.integrations.ports import ChatMessage, Link
    from tocsin.services.signing import Signer

logger = logging.getLogger(__name__)

OPEN_PURPOSE = "runbook-open"
#: link previews (Slack unfurls, Teams cards, mail scanners) fetch links nobody clicked:
#: they are sent on but not counted
PREVIEW_AGENTS = re.compile(
    r"slackbot|slack-imgproxy|skypeuripreview|teams|bingpreview|facebookexternalhit|"
    r"twitterbot|discordbot|linkexpanding|preview|crawler|spider|\bbot\b",
    re.IGNORECASE,
)
_TEMPLATES = Path(__file__).parent.parent / "templates" / "runbooks"


class RunbookNotFoundError(TocsinError):
    pass


class RunbookService:
    def __init__(
        self,
        config: TocsinConfig,
        runbooks: Callable[[], Sequence[Runbook]],
        store: RunbookStore,
        incidents: IncidentRepository,
        alerts: AlertRepository,
        signer: Callable[[], Signer],
        public_url: Callable[[], str],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self._runbooks = runbooks
        self.store = store
        self.incidents = incidents
        self.alerts = alerts
        self.signer = signer
        self.public_url = public_url
        self.clock = clock

    @cached_property
    def index(self) -> RunbookIndex:
        """Built on first use (a container that never ranks never reads the runbooks)."""
        return RunbookIndex(self._runbooks())

    # --- reads -----------------------------------------------------------------------------------
    def all(self) -> list[Runbook]:
        return list(self.index.runbooks)

    def get(self, runbook_id: str) -> Runbook:
        n = self.index.by_id.get(runbook_id)
        if n is None:
            raise RunbookNotFoundError(f"no runbook {runbook_id!r}")
        return self.index.runbooks[n]

    def incident(self, ref: str) -> Incident:
        """An incident by id or by reference (INC-42)."""
        return self.incidents.by_ref(ref)

    # --- ranking -----------------------------------------------------------------------------------
    def suggest(
        self, incident: Incident, alerts: Iterable[Any] | None = None, limit: int | None = None
    ) -> list[Suggestion]:
        """The runbooks for an incident, best first, each with its reasons. `alerts`: the
        incident's stored alerts unless given (Alert models or stored dicts)."""
        if alerts is None:
            alerts = self.alerts.incident_alerts(incident.id)
        wanted = self.config.runbooks.suggest if limit is None else limit
        return self.index.rank(Situation.of(incident, alerts), limit=wanted)

    def search(
        self, query: str, incident: Incident | None = None, limit: int = 5
    ) -> list[Suggestion]:
        """`/incident runbook [query]`: by words, boosted by the incident's service and
        alerts when asked from its channel. Without words: the incident's suggestions."""
        situation = Situation.of(
            incident, self.alerts.incident_alerts(incident.id) if incident else ()
        )
        if not query.strip():
            return self.index.rank(situation, limit=limit) if incident else []
        return self.index.rank(situation, query=query[:500], limit=limit)

    # --- links -------------------------------------------------------------------------------------
    def tracked_link(self, runbook_id: str, incident_id: str, base: str | None = None) -> str:
        """`base`: the API's public URL when the caller knows it better (the API answering
        on its own host); else the configured one."""
        expires = self.clock() + timedelta(days=self.config.runbooks.link_ttl_days)
        token = self.signer().sign(OPEN_PURPOSE, {"r": runbook_id, "i": incident_id}, expires)
        root = (base or self.public_url()).rstrip("/")
        return f"{root}/v1/runbooks/{quote(runbook_id)}/open?t={token}"

    def link(self, suggestion: Suggestion, incident_id: str, base: str | None = None) -> str | None:
        """Known runbooks through the tracked link; a page only an alert knows, as is."""
        if suggestion.runbook_id is None:
            return suggestion.url
        return self.tracked_link(suggestion.runbook_id, incident_id, base)

    def summary_lines(
        self, incident: Incident, alerts: Sequence[Any]
    ) -> tuple[list[Link], list[str]]:
        """Links and context lines of the channel summary: the top suggestions with their
        reasons. Recording them is best effort: the summary is posted regardless."""
        from tocsin.integrations.ports import Link

        suggestions = self.suggest(incident, alerts)
        try:
            self.record_suggested(incident, suggestions)
        except Exception as exc:  # best effort (DynamoDB unavailable): the summary still posts
            logger.warning("could not record runbook suggestions: %s", exc)
        links, context = [], []
        for suggestion in suggestions:
            try:
                url = self.link(suggestion, incident.id)
            except Exception as exc:  # no signing key (secret missing or unreadable)
                logger.warning("no tracked runbook link: %s", exc)
                url = suggestion.url
            if url:
                links.append(Link(f"Runbook: {suggestion.title}"[:75], url))
            context.append(
                f"Suggested runbook: {suggestion.title} ({'; '.join(suggestion.reasons)})"
            )
        return links, context

    def search_message(self, query: str, incident: Incident | None = None) -> ChatMessage:
        """The answer to `/incident runbook [query]`: the matches with their reasons, linked
        through tracked links when asked in an incident's channel."""
        from tocsin.integrations.ports import ChatMessage, Link

        found = self.search(query, incident)
        asked = f"“{query.strip()}”" if query.strip() else "this incident"
        if not found:
            return ChatMessage(
                text=f"No runbook matches {asked}.",
                context=("Try other words, or `tocsin runbooks list` for them all.",),
            )
        links, lines = [], []
        for n, s in enumerate(found, 1):
            url = self.link(s, incident.id) if incident else (s.url or None)
            if url:
                links.append(Link(f"{n}. {s.title}"[:75], url))
            lines.append(f"{n}. {s.title}: {'; '.join(s.reasons)}")
        return ChatMessage(
            text=f"Runbooks for {asked}: " + ", ".join(s.title for s in found),
            title=f"Runbooks for {asked}",
            links=tuple(links),
            context=tuple(lines),
        )

    def postmortem_section(self, incident: Incident) -> str:
        """Markdown for the postmortem: the runbooks used (opened or marked helpful, with
        the votes), or, when none was, a proposal to update the best match or write one."""
        used = self.used(incident.id)
        if used:
            rows = [
                f"- {u.get('title') or u['runbook_id']} (`{u['runbook_id']}`): opened "
                f"{u.get('opened', 0)} times, helpful {u.get('helpful', 0)}, not helpful "
                f"{u.get('unhelpful', 0)}"
                for u in used
            ]
            return "## Runbooks used\n\n" + "\n".join(rows) + "\n"
        best = self.suggest(incident, limit=1)
        if best and best[0].runbook_id:
            rb = self.get(best[0].runbook_id)
            proposal = (
                f"Update **{rb.title}** (`{rb.id}`, owner {rb.meta.owner}) so it covers this "
                f"incident: it matched ({'; '.join(best[0].reasons)}) but was not used."
            )
        else:
            what = incident.service or "this kind of incident"
            proposal = (
                f"Write a runbook for {what}: none matched `{incident.title}` "
                f"(front matter: services, alerts it covers, owner; see docs/runbooks.md)."
            )
        return f"## Runbooks used\n\nNone.\n\n**Proposed action:** {proposal}\n"

    # --- living documents ----------------------------------------------------------------------------
    def record_suggested(self, incident: Incident, suggestions: Iterable[Suggestion]) -> int:
        """Once per incident and runbook (a re-posted summary records nothing new)."""
        recorded = 0
        now = self.clock()
        for s in suggestions:
            if s.runbook_id is None:
                continue
            event = TimelineEvent(
                incident_id=incident.id,
                at=now,
                kind=TimelineKind.RUNBOOK_SUGGESTED,
                actor=Actor.system("runbooks"),
                data={"runbook_id": s.runbook_id, "title": s.title, "reasons": s.reasons},
            )
            if self.store.record_suggested(
                incident.id, s.runbook_id, now, s.score, s.reasons, event
            ):
                recorded += 1
        return recorded

    def read_open_token(self, runbook_id: str, token: str) -> str:
        """The incident a tracked link was made for. Raises InvalidTokenError (also for a
        token made for another runbook) or ExpiredTokenError."""
        from tocsin.services.signing import InvalidTokenError

        data = self.signer().verify(OPEN_PURPOSE, token, self.clock())
        if data.get("r") != runbook_id or not isinstance(data.get("i"), str):
            raise InvalidTokenError("this link is for another runbook")
        return str(data["i"])

    def opened(self, runbook_id: str, token: str, user_agent: str = "") -> Runbook:
        """A tracked link was followed: count it (not for link previews) and put the first
        open of the incident on its timeline."""
        incident_id = self.read_open_token(runbook_id, token)
        runbook = self.get(runbook_id)
        if PREVIEW_AGENTS.search(user_agent or ""):
            return runbook
        now = self.clock()
        if self.store.record_opened(incident_id, runbook_id, now):
            self.incidents.append_timeline(
                TimelineEvent(
                    incident_id=incident_id,
                    at=now,
                    kind=TimelineKind.RUNBOOK_OPENED,
                    actor=Actor.system("runbook-link"),
                    data={"runbook_id": runbook_id, "title": runbook.title},
                )
            )
        return runbook

    def feedback(self, runbook_id: str, incident_id: str, helpful: bool, by: str) -> bool:
        """`by` (a person id) says the runbook helped, or not, in this incident. Their
        latest vote counts; returns whether anything changed (a repeated click does not)."""
        runbook = self.get(runbook_id)
        incident = self.incident(incident_id)
        now = self.clock()
        previous = self.store.vote(incident.id, runbook_id, by, helpful, now)
        if previous == helpful:
            return False
        self.incidents.append_timeline(
            TimelineEvent(
                incident_id=incident.id,
                at=now,
                kind=TimelineKind.RUNBOOK_FEEDBACK,
                actor=Actor(kind=ActorKind.USER, id=by),
                data={
                    "runbook_id": runbook_id,
                    "title": runbook.title,
                    "helpful": helpful,
                    **({"changed_from": previous} if previous is not None else {}),
                },
            )
        )
        return True

    def used(self, incident_id: str) -> list[dict[str, Any]]:
        """The runbooks an incident used: opened, or marked helpful (for the postmortem; an
        incident with none is one whose runbook should be written or updated)."""
        out = []
        for use in self.store.uses(incident_id):
            if use.get("opened", 0) > 0 or use.get("helpful", 0) > 0:
                known = self.index.by_id.get(use["runbook_id"])
                title = self.index.runbooks[known].title if known is not None else None
                out.append({"title": title, **use})
        return out

    def report(self, today: date | None = None) -> list[StalenessEntry]:
        """The staleness report: every runbook with its usage and flags, flagged first."""
        stats = self.store.stats()
        day = today or self.clock().date()
        entries = [
            staleness(rb, stats.get(rb.id, RunbookStats()), self.config.runbooks, day)
            for rb in self.index.runbooks
        ]
        return sorted(entries, key=lambda e: (-len(e.flags), e.review_due, e.id))

    # --- reading a repository runbook -----------------------------------------------------------------
    def render_html(self, runbook: Runbook) -> str:
        """The Markdown as HTML: raw HTML in the file is shown as text, never run, and the
        page is autoescaped (a runbook is reviewed code, but an incident page must not be a
        place where a script in a pasted snippet runs)."""
        from markupsafe import Markup

        body = Markup(_markdown().render(runbook.body))
        return _template().render(runbook=runbook, meta=runbook.meta, body=body)


@cache
def _markdown() -> Any:
    from markdown_it import MarkdownIt

    # "js-default": CommonMark with tables and strikethrough, and `html: False` (raw HTML is
    # escaped); markdown-it refuses javascript:/vbscript:/data: links on its own
    return MarkdownIt("js-default", {"html": False, "linkify": False, "typographer": False})


@cache
def _template() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(
        loader=FileSystemLoader(_TEMPLATES), autoescape=True, undefined=StrictUndefined
    )
    return env.get_template("runbook.html")
