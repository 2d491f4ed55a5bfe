"""The response: which actions an incident gets (planning) and doing each one (steps).

Planning matches the configured workflows against the incident and the trigger, merges their
actions and orders them in stages: actions of one stage are independent and run in parallel
(the state machine maps over them); a stage waits for the previous one. Steps are idempotent:
each completed step is recorded (dal/steps.py) and creations look the thing up by a
deterministic key before making it, so a retried step or a re-run execution makes no second
channel, bridge or ticket.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from tocsin.dal.alerts import AlertRepository
from tocsin.dal.incidents import IncidentRepository
from tocsin.dal.steps import StepStore
from tocsin.domain.clock import iso, utcnow
from tocsin.domain.config import TocsinConfig
from tocsin.domain.incidents import Incident, IncidentStatus
from tocsin.domain.response import (
    ActionType,
    CreateChannelParams,
    InviteParams,
    MessageParams,
    NotifyStakeholdersParams,
    PageParams,
    PostmortemParams,
    PostSummaryParams,
    StatusPageParams,
    Trigger,
    Workflow,
)
from tocsin.domain.timeline import Actor, TimelineEvent, TimelineKind
from tocsin.integrations.ports import (
    ChannelRef,
    ChatMessage,
    ChatPort,
    ConferencingPort,
    Link,
    MessageRef,
    PermanentIntegrationError,
    TicketingPort,
    TicketRef,
)
from tocsin.services.chatops import incident_actions

if TYPE_CHECKING:
    from tocsin.services.escalation import EscalationService
    from tocsin.services.postmortem import PostmortemService
    from tocsin.services.roles import RoleService
    from tocsin.services.runbooks import RunbookService
    from tocsin.services.statuspage import StatusPageService

ACTOR = Actor.system("workflow")
A = ActionType

#: an action runs after these (when they are in the same plan): it uses what they make
AFTER: dict[ActionType, frozenset[ActionType]] = {
    A.INVITE: frozenset({A.CREATE_CHANNEL, A.ASSIGN_ROLES}),
    A.POST_SUMMARY: frozenset({A.CREATE_CHANNEL, A.START_BRIDGE, A.CREATE_TICKET}),
    A.LINK_RESOURCES: frozenset({A.CREATE_CHANNEL, A.START_BRIDGE, A.CREATE_TICKET}),
    A.NOTIFY_STAKEHOLDERS: frozenset({A.CREATE_CHANNEL, A.START_BRIDGE, A.CREATE_TICKET}),
    A.POST_MESSAGE: frozenset({A.CREATE_CHANNEL}),
    A.COMMENT_TICKET: frozenset({A.CREATE_TICKET}),
    A.UPDATE_CHANNEL: frozenset({A.CREATE_CHANNEL}),
    # the postmortem holds what the resolution's other steps said
    A.GENERATE_POSTMORTEM: frozenset(
        {
            A.CREATE_CHANNEL,
            A.CREATE_TICKET,
            A.POST_MESSAGE,
            A.COMMENT_TICKET,
            A.NOTIFY_STAKEHOLDERS,
            A.UPDATE_STATUS_PAGE,
            A.UPDATE_CHANNEL,
        }
    ),
}
#: actions done once per incident (their step key is the action name); the others run once
#: per execution (a new trigger invites newly involved people, posts its message again)
ONCE = frozenset({A.CREATE_CHANNEL, A.START_BRIDGE, A.CREATE_TICKET, A.POST_SUMMARY, A.PAGE})
#: actions that may appear several times in one plan (each with its own parameters)
REPEATABLE = frozenset({A.POST_MESSAGE, A.COMMENT_TICKET})

SEVERITY_ACCENT = ("danger", "warning", "good")


# --- names ------------------------------------------------------------------------------------

#: Slack allows 80 characters, Teams 50: stay within both
CHANNEL_NAME_MAX = 50


def channel_name(prefix: str, number: int | None, title: str, incident_id: str) -> str:
    """`inc-42-checkout-latency`: lowercase letters, digits and dashes, valid in Slack and Teams."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    head = f"{prefix}-{number}" if number is not None else f"{prefix}-{incident_id[-8:].lower()}"
    if not slug:
        return head
    room = CHANNEL_NAME_MAX - len(head) - 1
    slug = slug[:room].rstrip("-")
    if "-" in slug and len(ascii_title) > room:  # cut at a word boundary
        slug = slug.rsplit("-", 1)[0] if len(slug) >= room - 1 else slug
    return f"{head}-{slug}" if slug else head


def _fill(template: str, incident: Incident, now: datetime) -> str:
    """Fill {ref} {title} ...; `{{` and `}}` are literal braces."""
    values = {
        "ref": incident.ref,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status.value,
        "service": incident.service or "no service",
        "duration": format_duration((now - incident.created_at).total_seconds()),
    }

    def sub(match: re.Match[str]) -> str:
        if match.group(0) in ("{{", "}}"):
            return match.group(0)[0]
        return str(values.get(match.group(1), match.group(0)))

    return re.sub(r"\{\{|\}\}|\{(\w+)\}", sub, template)


def format_duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m" if minutes else f"{int(seconds)}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours < 24 else f"{hours // 24}d {hours % 24}h"


# --- planning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TriggerContext:
    triggers: tuple[Trigger, ...]
    at: datetime


def workflow_matches(
    flow: Workflow, config: TocsinConfig, incident: Incident, context: TriggerContext
) -> bool:
    if not flow.enabled or not set(flow.triggers) & set(context.triggers):
        return False
    when = flow.when
    if when.severities and incident.severity not in when.severities:
        return False
    if when.services and incident.service not in when.services:
        return False
    if when.teams:
        team = config.team_of(incident.service)
        if team is None or team.name not in when.teams:
            return False
    for label, pattern in when.labels.items():
        if not re.fullmatch(pattern, incident.labels.get(label, "")):
            return False
    if when.statuses and incident.status.value not in when.statuses:
        return False
    if when.business_hours is not None:
        return config.business_hours.contains(context.at) == when.business_hours
    return True


def matching_workflows(
    config: TocsinConfig, incident: Incident, context: TriggerContext
) -> list[Workflow]:
    return [flow for flow in config.workflows if workflow_matches(flow, config, incident, context)]


@dataclass
class Plan:
    workflows: list[str]
    stages: list[list[dict[str, Any]]] = field(default_factory=list)

    @property
    def actions(self) -> list[dict[str, Any]]:
        return [action for stage in self.stages for action in stage]

    def as_dict(self) -> dict[str, Any]:
        return {"workflows": self.workflows, "stages": self.stages}


def plan_response(
    config: TocsinConfig, incident: Incident, context: TriggerContext, execution: str
) -> Plan:
    """The actions of every matching workflow, in configuration order, merged (an action
    named by several workflows runs once, with the first one's parameters; `invite`s are
    combined) and staged by what each one needs."""
    flows = matching_workflows(config, incident, context)
    chosen: dict[str, dict[str, Any]] = {}
    for flow in flows:
        for index, spec in enumerate(flow.actions):
            if spec.type in REPEATABLE:
                key = f"{spec.type}:{execution}:{flow.name}:{index}"
                chosen[key] = {"type": spec.type.value, "key": key, "params": spec.params}
                continue
            key = spec.type.value if spec.type in ONCE else f"{spec.type}:{execution}"
            if key in chosen and spec.type is A.INVITE:
                chosen[key]["params"] = _merge_invites(chosen[key]["params"], spec.params)
            elif key in chosen and spec.type is A.UPDATE_STATUS_PAGE:
                chosen[key]["params"] = _merge_status_pages(chosen[key]["params"], spec.params)
            elif key not in chosen:
                chosen[key] = {"type": spec.type.value, "key": key, "params": dict(spec.params)}
    types = {ActionType(a["type"]) for a in chosen.values()}
    makes_links = types & {A.START_BRIDGE, A.CREATE_TICKET}
    if makes_links and A.LINK_RESOURCES not in types:
        key = f"{A.LINK_RESOURCES}:{execution}"  # link ticket and bridge both ways
        chosen[key] = {"type": A.LINK_RESOURCES.value, "key": key, "params": {}}
    return Plan(workflows=[f.name for f in flows], stages=_stages(list(chosen.values())))


def _merge_invites(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    a, b = InviteParams.model_validate(first), InviteParams.model_validate(second)
    return InviteParams(
        responders=a.responders or b.responders,
        stakeholders=a.stakeholders or b.stakeholders,
        people=list(dict.fromkeys(a.people + b.people)),
    ).model_dump()


def _merge_status_pages(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Opening is asked for where either asks (all pages: `pages` unset); every page the
    incident is on is kept current anyway."""
    a, b = StatusPageParams.model_validate(first), StatusPageParams.model_validate(second)
    opening = [p for p in (a, b) if p.open]
    pages: list[str] | None = []
    for params in opening:
        if params.pages is None or pages is None:
            pages = None
        else:
            pages = list(dict.fromkeys([*pages, *params.pages]))
    return StatusPageParams(
        pages=pages if opening else None, open=bool(opening), text=a.text or b.text
    ).model_dump()


def _stages(actions: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    types = {ActionType(a["type"]) for a in actions}
    level: dict[ActionType, int] = {}

    def depth(t: ActionType) -> int:
        if t not in level:
            before = AFTER.get(t, frozenset()) & types
            level[t] = 1 + max((depth(b) for b in before), default=-1)
        return level[t]

    stages: list[list[dict[str, Any]]] = []
    for action in actions:
        d = depth(ActionType(action["type"]))
        while len(stages) <= d:
            stages.append([])
        stages[d].append(action)
    return [stage for stage in stages if stage]


# --- steps ------------------------------------------------------------------------------------


class StepSkipped(Exception):
    """A step that has nothing to do (what it needs does not exist): recorded as skipped."""


@dataclass
class StepResult:
    provider: str
    detail: dict[str, Any] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    outcome: str = "done"


class Adapters:
    """The three ports, resolved lazily (a plan without a ticket never builds Jira's client)."""

    def __init__(self, get: Callable[[str], Any]) -> None:
        self._get = get

    @property
    def chat(self) -> ChatPort:
        return self._get("chat")  # type: ignore[no-any-return]

    @property
    def conferencing(self) -> ConferencingPort:
        return self._get("conferencing")  # type: ignore[no-any-return]

    @property
    def ticketing(self) -> TicketingPort:
        return self._get("ticketing")  # type: ignore[no-any-return]


class ResponseSteps:
    def __init__(
        self,
        config: TocsinConfig,
        incidents: IncidentRepository,
        alerts: AlertRepository,
        steps: StepStore,
        adapters: Adapters,
        clock: Callable[[], datetime] = utcnow,
        deliver: Callable[[str, str, str], str] | None = None,
        escalations: Callable[[], EscalationService] | None = None,
        roles: Callable[[], RoleService] | None = None,
        status_pages: Callable[[], StatusPageService] | None = None,
        runbooks: Callable[[], RunbookService] | None = None,
        postmortems: Callable[[], PostmortemService] | None = None,
    ) -> None:
        self.postmortems = postmortems
        self.status_pages = status_pages
        self.runbooks = runbooks
        self.escalations = escalations
        self.roles = roles
        #: starts the workflow run that posts a stakeholder update (incident, event id, text)
        self.deliver = deliver or (lambda *args: "")
        self.config = config
        self.incidents = incidents
        self.alerts = alerts
        self.steps = steps
        self.adapters = adapters
        self.clock = clock
        self._run: dict[ActionType, Callable[[Incident, str, dict[str, Any]], StepResult]] = {
            A.CREATE_CHANNEL: self._create_channel,
            A.INVITE: self._invite,
            A.POST_SUMMARY: self._post_summary,
            A.START_BRIDGE: self._start_bridge,
            A.CREATE_TICKET: self._create_ticket,
            A.LINK_RESOURCES: self._link_resources,
            A.NOTIFY_STAKEHOLDERS: self._notify_stakeholders,
            A.POST_MESSAGE: self._post_message,
            A.COMMENT_TICKET: self._comment_ticket,
            A.UPDATE_CHANNEL: self._update_channel,
            A.PAGE: self._page,
            A.ASSIGN_ROLES: self._assign_roles,
            A.UPDATE_STATUS_PAGE: self._update_status_page,
            A.GENERATE_POSTMORTEM: self._generate_postmortem,
        }

    # --- the workflow's entry points ------------------------------------------------------------
    def plan(
        self,
        incident_id: str,
        triggers: Iterable[str],
        execution: str,
        started_at: datetime | None = None,
        update: dict[str, Any] | None = None,
    ) -> Plan:
        """`started_at` is when the trigger happened: business hours are judged then, and a
        retried plan step records the same timeline event. `update`: deliver a stakeholder
        update instead of planning from the workflows."""
        incident = self.incidents.get(incident_id)
        at = started_at or self.clock()
        context = TriggerContext(tuple(Trigger(t) for t in triggers), at)
        if update:
            plan = self.update_plan(update)
        else:
            plan = plan_response(self.config, incident, context, execution)
        self._timeline(
            incident_id,
            f"plan-{execution}",
            at,
            {
                "step": "plan",
                "triggers": list(context.triggers),
                "workflows": plan.workflows,
                "stages": [[a["type"] for a in stage] for stage in plan.stages],
            },
        )
        return plan

    def run(self, incident_id: str, action: dict[str, Any], owner: str = "") -> dict[str, Any]:
        """Do one planned action once. `owner` (the execution) claims the step first, so two
        runs of one incident (the opening's and an upgrade's) never both call the vendor.
        Vendor errors propagate (the state machine retries the retryable ones and records
        the others through `record_failure`)."""
        key = action["key"]
        done = self.steps.claim(incident_id, key, owner or key)
        if done is not None:  # done before: repeat only the bookkeeping that may have been lost
            self.steps.set_links(incident_id, done.get("links") or {})
            self._record_event(incident_id, done)
            return _public(done)
        incident = self.incidents.get(incident_id)
        kind = ActionType(action["type"])
        try:
            result = self._run[kind](incident, key, action.get("params") or {})
        except StepSkipped as skipped:
            result = StepResult(provider="-", detail={"reason": str(skipped)}, outcome="skipped")
        record = self.steps.finished(
            incident_id,
            key,
            skipped=result.outcome == "skipped",
            data={
                "action": kind.value,
                "outcome": result.outcome,
                "provider": result.provider,
                "detail": result.detail,
                "links": result.links,
            },
        )
        self.steps.set_links(incident_id, record.get("links") or {})
        self._record_event(incident_id, record)
        return _public(record)

    def _progress(self, incident_id: str, key: str, part: str, call: Callable[[], Any]) -> Any:
        """One vendor call of a multi-call step, done once: a retried step skips the calls
        that already went through (the summary is not posted again to pin it)."""
        sub = f"{key}#{part}"
        found = self.steps.get(incident_id, sub)
        if found and found.get("state") == "done":
            return found.get("result")
        result = call()
        self.steps.completed(incident_id, sub, {"result": result})
        return result

    def _exactly_once(self, incident_id: str, key: str, part: str, call: Callable[[], Any]) -> Any:
        """Like `_progress`, but safe when two attempts of the step run at once (a task retried
        while the first attempt is still working, e.g. a slow postmortem under load): the call
        is claimed first, per attempt, and a second attempt meets StepBusy (the task is retried
        once the first has finished) instead of posting the same thing again."""
        sub = f"{key}#{part}"
        done = self.steps.claim(incident_id, sub, owner=secrets.token_hex(8))
        if done is not None:
            return done.get("result")
        result = call()
        self.steps.completed(incident_id, sub, {"result": result})
        return result

    def stakeholder_update(
        self, incident_id: str, text: str, actor: Actor, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Record a stakeholder update (it restarts the update cadence) and have the response
        workflow post it to the incident and stakeholder channels after the request has been
        answered. The same idempotency key returns the first request's update."""
        self.incidents.get(incident_id)  # 404 for an unknown incident
        event = TimelineEvent(
            incident_id=incident_id,
            at=self.clock(),
            kind=TimelineKind.STAKEHOLDER_UPDATE,
            actor=actor,
            data={"text": text},
        )
        if idempotency_key:
            digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
            first = self.steps.completed(  # a `#` record: bookkeeping, not a response step
                incident_id, f"updates#request-{digest}", {"event": event.model_dump(mode="json")}
            )
            event = TimelineEvent.model_validate(first["event"])
        self.incidents.record_update(event)
        try:
            execution = self.deliver(incident_id, event.id, str(event.data["text"]))
            delivery = {"state": "started", "execution": execution}
        except Exception as exc:  # recorded; the caller may repeat with the same key
            delivery = {"state": "not started", "error": f"{type(exc).__name__}: {exc}"[:300]}
        return {"event": event.model_dump(mode="json"), "delivery": delivery}

    def update_plan(self, update: dict[str, Any]) -> Plan:
        """Delivering a stakeholder update: the incident channel and the stakeholders."""
        text = str(update["text"]).replace("{", "{{").replace("}", "}}")  # not a template
        actions = [
            {"type": kind.value, "key": f"update:{update['id']}:{kind}", "params": {"text": text}}
            for kind in (A.POST_MESSAGE, A.NOTIFY_STAKEHOLDERS)
        ]
        return Plan(workflows=["stakeholder-update"], stages=[actions])

    def record_failure(
        self, incident_id: str, action: dict[str, Any], error: str, cause: str
    ) -> dict[str, Any]:
        key = action["key"]
        record = self.steps.failed(
            incident_id,
            key,
            {
                "action": action["type"],
                "outcome": "failed",
                "error": error,
                "cause": short_cause(cause),
            },
        )
        if record is None:  # it succeeded after all
            done = self.steps.get(incident_id, key) or {}
            self.steps.set_links(incident_id, done.get("links") or {})
            if done:
                self._record_event(incident_id, done)
            return _public(done) or {"outcome": "done"}
        self._record_event(incident_id, record)
        return _public(record)

    # --- helpers --------------------------------------------------------------------------------
    def _timeline(self, incident_id: str, key: str, at: datetime, data: dict[str, Any]) -> None:
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        self.incidents.append_timeline(
            TimelineEvent(
                id=f"step-{digest}",  # with `at`, deterministic: a repeat overwrites itself
                incident_id=incident_id,
                at=at,
                kind=TimelineKind.WORKFLOW_STEP,
                actor=ACTOR,
                data=data,
            )
        )

    def _record_event(self, incident_id: str, record: dict[str, Any]) -> None:
        key = f"{record['step']}#{record['state']}"
        self._timeline(
            incident_id,
            key,
            datetime.fromisoformat(record["at"]),
            {"step": record["step"], **_public(record)},
        )

    def _resource(self, incident_id: str, step: str) -> dict[str, Any] | None:
        found = self.steps.get(incident_id, step)
        if found and found.get("state") == "done" and found.get("outcome") == "done":
            return found.get("detail", {}).get("ref")  # type: ignore[no-any-return]
        return None

    def _channel(self, incident: Incident) -> ChannelRef:
        ref = self._resource(incident.id, A.CREATE_CHANNEL)
        if not ref:
            raise StepSkipped("the incident has no channel")
        return ChannelRef(**ref)

    def _people_ids(self, person_ids: Iterable[str], provider: str) -> tuple[list[str], list[str]]:
        """(chat user ids, people without an id for this provider)."""
        ids: list[str] = []
        unknown: list[str] = []
        for person_id in dict.fromkeys(person_ids):
            person = self.config.person(person_id)
            chat_id = person.chat_id(provider) if person else None
            (ids if chat_id else unknown).append(chat_id or person_id)
        return ids, unknown

    def _topic(self, incident: Incident) -> str:
        parts = [incident.ref, incident.severity, incident.status.value]
        if incident.service:
            parts.append(incident.service)
        return " · ".join(parts) + f" — {incident.title}"

    # --- actions --------------------------------------------------------------------------------
    def _create_channel(self, incident: Incident, key: str, params: dict[str, Any]) -> StepResult:
        p = CreateChannelParams.model_validate(params)
        chat = self.adapters.chat
        name = channel_name(p.prefix, incident.number, incident.title, incident.id)
        channel = chat.create_channel(name, f"{incident.ref}: {incident.title}"[:250])
        # chat-ops finds the incident of a command typed in its channel with one get
        from tocsin.dal.chatops import ChannelDirectory

        ChannelDirectory(self.steps.table).put(chat.provider, channel.id, incident.id)
        chat.set_topic(channel, self._topic(incident))
        return StepResult(
            chat.provider,
            {"ref": asdict(channel), "name": channel.name},
            {"channel": channel.url or f"#{channel.name}"},
        )

    def _invite(self, incident: Incident, key: str, params: dict[str, Any]) -> StepResult:
        p = InviteParams.model_validate(params)
        channel = self._channel(incident)
        people: list[str] = list(p.people)
        if p.responders:
            team = self.config.team_of(incident.service)
            people += team.people if team else []
            if self.roles is not None:  # whoever holds a role (from the on-call schedules)
                people += [r["holder"] for r in self.roles().roles(incident.id) if r["holder"]]
        if p.stakeholders:
            for group_name in self.config.level(incident.severity).stakeholders:
                group = self.config.stakeholder_group(group_name)
                people += group.people if group else []
        if not people:
            raise StepSkipped("nobody to invite (no team for the service, no stakeholders)")
        chat = self.adapters.chat
        ids, unknown = self._people_ids(people, chat.provider)
        added = chat.invite(channel, ids) if ids else []
        return StepResult(
            chat.provider, {"invited": added, "asked": len(ids), "no_chat_id": unknown}
        )

    def summary_message(self, incident: Incident) -> ChatMessage:
        level = self.config.level(incident.severity)
        alerts = self.alerts.incident_alerts(incident.id)
        links: list[Link] = []
        bridge = self._resource(incident.id, A.START_BRIDGE)
        if bridge:
            links.append(Link("Join the video bridge", bridge["join_url"]))
        ticket = self._resource(incident.id, A.CREATE_TICKET)
        if ticket:
            links.append(Link(f"Ticket {ticket['key']}", ticket["url"]))
        runbooks: list[str] = []
        for alert in alerts[:20]:
            alert_links = alert.get("links") or {}
            if alert_links.get("runbook") and alert_links["runbook"] not in runbooks:
                runbooks.append(alert_links["runbook"])
            for name, label in (("dashboard", "Dashboard"), ("source", "Alert source")):
                url = alert_links.get(name)
                if url and all(link.url != url for link in links):
                    links.append(Link(label, url))
        runbook_context = [f"Suggested runbook: {url}" for url in runbooks[:3]]
        if self.runbooks is not None:  # ranked, explained, tracked (alerts' runbook_url first)
            runbook_links, runbook_context = self.runbooks().summary_lines(incident, alerts)
            links += runbook_links
        else:
            links += [
                Link("Runbook" if len(runbooks) == 1 else f"Runbook {n}", url)
                for n, url in enumerate(runbooks, 1)
            ]
        team = self.config.team_of(incident.service)
        fields = [
            (
                "Severity",
                f"{incident.severity} — {level.description}"
                if level.description
                else incident.severity,
            ),
            ("Status", incident.status.value),
            ("Service", incident.service or "—"),
            ("Team", team.name if team else "—"),
            ("Alerts", f"{incident.firing_count} firing of {incident.alert_count}"),
            ("Opened", incident.created_at.strftime("%Y-%m-%d %H:%M UTC")),
        ]
        firing = Counter(a["title"] for a in alerts if a.get("status") == "firing")
        context = [
            f"Alert: {title}" + (f" ({count} alerts)" if count > 1 else "")
            for title, count in firing.most_common(5)
        ]
        context += runbook_context
        rank = self.config.severity_rank(incident.severity)
        return ChatMessage(
            text=f"{incident.ref} ({incident.severity}): {incident.title}",
            title=f"{incident.ref}: {incident.title}",
            body=incident.description or None,
            fields=tuple(fields),
            links=tuple(links[:10]),
            accent=SEVERITY_ACCENT[min(rank, len(SEVERITY_ACCENT) - 1)],
            context=tuple(context),
            actions=incident_actions(self.config, incident),
        )

    def _post_summary(self, incident: Incident, key: str, params: dict[str, Any]) -> StepResult:
        p = PostSummaryParams.model_validate(params)
        channel = self._channel(incident)
        chat = self.adapters.chat
        posted = self._progress(
            incident.id,
            key,
            "post",
            lambda: asdict(chat.post_message(channel, self.summary_message(incident))),
        )
        if p.pin:
            chat.pin(MessageRef(**posted))  # pinning twice is harmless
        return StepResult(chat.provider, {"ref": posted, "pinned": p.pin})

    def _start_bridge(self, incident: Incident, key: str, params: dict[str, Any]) -> StepResult:
        conf = self.adapters.conferencing
        bridge = conf.find_bridge(incident.id) or conf.create_bridge(
            incident.id, f"{incident.ref}: {incident.title}"[:200]
        )
        return StepResult(conf.provider, {"ref": asdict(bridge)}, {"bridge": bridge.join_url})

    def _create_ticket(self, incident: Incident, key: str, params: dict[str, Any]) -> StepResult:
        tickets = self.adapters.ticketing
        ticket = tickets.find_ticket(incident.id)
        if ticket is None:
            description = "\n\n".join(
                part
                for part in (
                    f"{incident.ref} ({incident.severity}) opened "
                    f"{incident.created_at:%Y-%m-%d %H:%M UTC} by Tocsin.",
                    incident.description,
                    f"Service: {incident.service}" if incident.service else "",
                    f"Incident id: {incident.id}",
                )
                if part
            )
            ticket = tickets.create_ticket(
                incident.id,
                f"{incident.ref}: {incident.title}"[:250],
                description,
                incident.severity,
            )
        return StepResult(tickets.provider, {"ref": asdict(ticket)}, {"ticket": ticket.url})

    def _link_resources(self, incident: Incident, key: str, params: dict[str, Any]) -> StepResult:
        """The ticket links to the channel and the bridge; the channel to the ticket and the
        bridge. Each adapter's add_link is idempotent on the URL."""
        channel_ref = self._resource(incident.id, A.CREATE_CHANNEL)
        ticket_ref = self._resource(incident.id, A.CREATE_TICKET)
        bridge_ref = self._resource(incident.id, A.START_BRIDGE)
        done: list[str] = []

        def linkable(url: str | None, provider: str) -> bool:
            # a vendor's tool only gets web addresses (not the local adapters' local: refs)
            return bool(url) and (
                provider == "local" or str(url).startswith(("https://", "http://"))
            )

        if channel_ref:
            channel = ChannelRef(**channel_ref)
            chat = self.adapters.chat
            if ticket_ref and linkable(ticket_ref["url"], chat.provider):
                chat.add_link(channel, f"Ticket {ticket_ref['key']}", ticket_ref["url"])
                done.append("channel->ticket")
            if bridge_ref and linkable(bridge_ref["join_url"], chat.provider):
                chat.add_link(channel, "Video bridge", bridge_ref["join_url"])
                done.append("channel->bridge")
        if ticket_ref:
            ticket = TicketRef(**ticket_ref)
            tickets = self.adapters.ticketing
            if channel_ref and linkable(channel_ref.get("url"), tickets.provider):
                title = f"Incident channel #{channel_ref['name']}"
                tickets.add_link(ticket, title, channel_ref["url"])
                done.append("ticket->channel")
            if bridge_ref and linkable(bridge_ref["join_url"], tickets.provider):
                tickets.add_link(ticket, "Video bridge", bridge_ref["join_url"])
                done.append("ticket->bridge")
        if not done:
            raise StepSkipped("nothing to link")
        return StepResult("-", {"linked": done})

    def _notify_stakeholders(
        self, incident: Incident, key: str, params: dict[str, Any]
    ) -> StepResult:
        p = NotifyStakeholdersParams.model_validate(params)
        targets: list[str] = list(p.channels)
        for group_name in self.config.level(incident.severity).stakeholders:
            group = self.config.stakeholder_group(group_name)
            if group and group.channel:
                targets.append(group.channel)
        team = self.config.team_of(incident.service)
        if p.team_channel and team and team.channel:
            targets.append(team.channel)
        targets = list(dict.fromkeys(targets))
        if not targets:
            raise StepSkipped("no stakeholder or team channel configured")
        chat = self.adapters.chat
        summary = self.summary_message(incident)
        channel_ref = self._resource(incident.id, A.CREATE_CHANNEL)
        links = summary.links
        if channel_ref and channel_ref.get("url"):
            links = (Link(f"Incident channel #{channel_ref['name']}", channel_ref["url"]), *links)
        body = (
            _fill(p.text, incident, self.clock())
            if p.text
            else f"{incident.ref} is {incident.status.value}. Follow it in the incident channel."
        )
        message = ChatMessage(
            text=f"{incident.ref} ({incident.severity}, {incident.status.value}): {incident.title}",
            title=f"{incident.severity} incident {incident.status.value}: {incident.title}",
            body=body,
            fields=summary.fields[:4],
            links=links[:10],
            accent=summary.accent,
        )
        posted: list[str] = []
        missing: list[str] = []
        failed: dict[str, str] = {}

        def post_to(name: str) -> bool:
            channel = chat.find_channel(name)
            if channel is None:
                return False
            chat.post_message(channel, message)
            return True

        for target in targets:
            name = target.lstrip("#")
            try:  # each channel once, even when the step is retried for a later one
                found = self._progress(incident.id, key, f"to:{name}", partial(post_to, name))
            except PermanentIntegrationError as exc:  # this channel only; the others go on
                failed[target] = exc.message[:200]
                continue
            (posted if found else missing).append(target)
        if not posted and failed:
            raise PermanentIntegrationError(chat.provider, f"no stakeholder channel told: {failed}")
        if not posted:
            raise StepSkipped(f"stakeholder channels not found: {', '.join(missing)}")
        return StepResult(chat.provider, {"posted": posted, "not_found": missing, "failed": failed})

    def _post_message(self, incident: Incident, key: str, params: dict[str, Any]) -> StepResult:
        p = MessageParams.model_validate(params)
        channel = self._channel(incident)
        chat = self.adapters.chat
        text = _fill(p.text, incident, self.clock())
        ref: MessageRef = chat.post_message(channel, ChatMessage(text=text, body=text))
        return StepResult(chat.provider, {"ref": asdict(ref)})

    def _update_channel(self, incident: Incident, key: str, params: dict[str, Any]) -> StepResult:
        """After a severity or status change: the topic shows the new state, and a line in
        the channel says what changed."""
        channel = self._channel(incident)
        chat = self.adapters.chat
        chat.set_topic(channel, self._topic(incident))
        text = f"{incident.ref} is now {incident.severity}, {incident.status.value}."
        ref = chat.post_message(channel, ChatMessage(text=text, body=text))
        return StepResult(chat.provider, {"ref": asdict(ref), "topic": self._topic(incident)})

    def _page(self, incident: Incident, key: str, params: dict[str, Any]) -> StepResult:
        from tocsin.services.escalation import AlreadyResolvedError, NothingToPageError

        if self.escalations is None:
            raise StepSkipped("paging is not wired in this process")
        p = PageParams.model_validate(params)
        try:
            record = self.escalations().start(incident, ACTOR, p.policy)
        except (NothingToPageError, AlreadyResolvedError) as exc:
            raise StepSkipped(str(exc)) from None
        return StepResult(
            "tocsin",
            {"escalation": record["escalation_id"], "policy": record["policy_name"]},
        )

    def _assign_roles(self, incident: Incident, key: str, params: dict[str, Any]) -> StepResult:
        if self.roles is None:
            raise StepSkipped("roles are not wired in this process")
        assigned = self.roles().assign_from_schedules(incident, ACTOR)
        if not assigned:
            raise StepSkipped(f"no role is filled from a schedule for {incident.severity}")
        return StepResult("tocsin", {"assigned": assigned})

    def _update_status_page(
        self, incident: Incident, key: str, params: dict[str, Any]
    ) -> StepResult:
        """Keep every status page the incident is on current (its status, its severity's
        impact and component statuses), and open it on `pages` (default: the pages showing
        its service's components) if `open` and its severity goes on the status page
        (`status_page: true`)."""
        if self.status_pages is None:
            raise StepSkipped("status pages are not wired in this process")
        p = StatusPageParams.model_validate(params)
        service = self.status_pages()
        configured = {x.id for x in self.config.status_pages.pages}
        existing = list(service.store.records_for_incident(incident.id))
        goes_on = self.config.level(incident.severity).status_page
        opening: list[str] = []
        if p.open and goes_on:
            opening = (
                p.pages if p.pages is not None else [x.id for x in service.pages_for(incident)]
            )
        pages = [x for x in dict.fromkeys([*existing, *opening]) if x in configured]
        if not pages:
            if not p.open:
                raise StepSkipped("the incident is on no status page")
            if not goes_on:
                raise StepSkipped(f"{incident.severity} does not go on the status page")
            raise StepSkipped(
                f"no status page shows a component of service {incident.service or '(none)'}"
            )
        records = service.publish_for(
            incident,
            "workflow",
            pages,
            body=_fill(p.text, incident, self.clock()) if p.text else None,
        )
        if not records:
            raise StepSkipped("the status pages say this already")
        return StepResult(
            "tocsin",
            {
                "pages": {r.page: r.id for r in records},
                "status": records[0].status,
            },
        )

    def _generate_postmortem(
        self, incident: Incident, key: str, params: dict[str, Any]
    ) -> StepResult:
        """Generate the postmortem (stored, linked as `links.postmortem`), then say where it
        is in the channel and on the ticket, each once even when the step is retried."""
        if self.postmortems is None:
            raise StepSkipped("postmortems are not wired in this process")
        p = PostmortemParams.model_validate(params)
        made = self.postmortems().generate(incident.id, ACTOR, "resolved")
        told: list[str] = []
        # said once per resolution, whichever run gets here (the incident's first workflow
        # also runs the `resolved` workflow when it was resolved before its run began)
        current = self.incidents.get(incident.id)  # the run's copy may predate the resolve
        resolved_at = current.status_times.get(IncidentStatus.RESOLVED)
        once = f"postmortem-announced-{iso(resolved_at) if resolved_at else key}"
        text = (
            f"The postmortem of {incident.ref} is ready: {made.link} — please fill in "
            "contributing factors, what went well and what could be better."
        )
        channel_ref = self._resource(incident.id, A.CREATE_CHANNEL)
        if p.post_to_channel and channel_ref:
            chat = self.adapters.chat
            channel = ChannelRef(**channel_ref)
            message = ChatMessage(
                text=text,
                title=f"Postmortem: {incident.ref}",
                body=text,
                links=(Link("Postmortem (HTML)", made.link),),
            )
            self._exactly_once(
                incident.id, once, "channel", lambda: asdict(chat.post_message(channel, message))
            )
            chat.add_link(channel, "Postmortem", made.link)  # idempotent on the URL
            told.append("channel")
        ticket_ref = self._resource(incident.id, A.CREATE_TICKET)
        if p.comment_ticket and ticket_ref:
            tickets = self.adapters.ticketing
            ticket = TicketRef(**ticket_ref)

            def comment() -> str:
                tickets.add_comment(ticket, text)
                return "done"

            self._exactly_once(incident.id, once, "ticket", comment)
            tickets.add_link(ticket, "Postmortem", made.link)  # idempotent on the URL
            told.append("ticket")
        return StepResult("tocsin", {"keys": made.keys, "told": told}, {"postmortem": made.link})

    def _comment_ticket(self, incident: Incident, key: str, params: dict[str, Any]) -> StepResult:
        p = MessageParams.model_validate(params)
        ticket_ref = self._resource(incident.id, A.CREATE_TICKET)
        if not ticket_ref:
            raise StepSkipped("the incident has no ticket")
        tickets = self.adapters.ticketing
        tickets.add_comment(TicketRef(**ticket_ref), _fill(p.text, incident, self.clock()))
        return StepResult(tickets.provider, {"ticket": ticket_ref["key"]})


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {
        k: record[k]
        for k in ("action", "outcome", "provider", "detail", "links", "error", "cause")
        if k in record
    }


def short_cause(cause: object) -> str:
    """Step Functions passes the Lambda error as JSON text; keep its message, bounded."""
    import json

    try:
        parsed = json.loads(cause)  # type: ignore[arg-type]
        cause = parsed.get("errorMessage", cause) if isinstance(parsed, dict) else cause
    except (TypeError, ValueError):
        pass
    return str(cause or "")[:500]


def triggers_for(before: Incident, after: Incident) -> list[Trigger]:
    triggers: list[Trigger] = []
    if before.severity != after.severity:
        triggers.append(Trigger.SEVERITY_CHANGED)
    if before.status != after.status:
        triggers.append(Trigger.STATUS_CHANGED)
        if after.status is IncidentStatus.RESOLVED:
            triggers.append(Trigger.RESOLVED)
    return triggers
