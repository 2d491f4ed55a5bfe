"""Escalation: page each level of a policy until someone acknowledges.

The order and the timers live in Step Functions (statemachines/escalation.asl.json): each
level's `PageLevel` task calls `page_wave`, then `WaitForAck` waits with `.waitForTaskToken`
and a timeout; a timeout moves on to the next wave or level, an acknowledgement (or the
incident resolving) completes the task token and ends it. The policy is copied into the
execution's input when paging starts: editing the policy file never changes a running
escalation.

Exactly once: every notification is a step claimed before it is sent (`esc:page:<escalation>:
r<round>:l<level>:<target>:<method>`), so a retried task, a redriven execution or an overlap
never pages anyone twice for the same level. (Escalation steps are under `esc:`, apart
from the response workflow's.) The people of a level are resolved once (the
first resolution is kept), so a later wave or a retry pages the same people.

A person is reached through their notification rules (chat at once, SMS after a minute...):
each distinct `after` of a level's rules is a wave, and the level waits between waves. A
method that fails (5xx, 429, timeout, no address) falls back to the person's next method at
once; the page and the failure are on the timeline.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from tocsin.dal.oncall import ACTIVE, EscalationStore
from tocsin.dal.steps import StepStore
from tocsin.domain.clock import iso, parse_iso, utcnow
from tocsin.domain.config import TocsinConfig
from tocsin.domain.errors import TocsinError
from tocsin.domain.incidents import Incident, IncidentStatus
from tocsin.domain.oncall import EscalationLevel, EscalationPolicy, EscalationTarget
from tocsin.domain.response import NotificationRule, Person, TeamConfig
from tocsin.domain.timeline import Actor, TimelineEvent, TimelineKind
from tocsin.integrations.ports import (
    IntegrationError,
    Link,
    Page,
    PagingPort,
    RetryableIntegrationError,
)
from tocsin.services.signing import Signer

ACTOR = Actor.system("escalation")
log = logging.getLogger(__name__)
ACK_PURPOSE = "ack"
#: the escalation's step records are named `esc:…` (the response workflow's are not)
ESCALATION_STEPS = "esc:"
#: PagerDuty Events v2 severity of the most severe levels, in order (then `info`)
URGENCY = ("critical", "error", "warning")


class EscalationRunner(Protocol):
    """Where escalations run (Step Functions; tocsin.adapters.workflow)."""

    def start(self, name: str, payload: dict[str, Any]) -> bool: ...

    def complete(self, token: str, output: dict[str, Any]) -> bool: ...


class NothingToPageError(TocsinError):
    """The severity pages nobody, or the policy named does not exist."""


class AlreadyResolvedError(TocsinError):
    """An acknowledgement for an incident that is resolved: nothing is changed."""


def page_key(incident_id: str) -> str:
    """Stable per incident: PagerDuty's dedup_key, Opsgenie's alias."""
    return f"tocsin-{incident_id}"


def incident_of_page_key(key: str) -> str | None:
    """The incident of a page key: `tocsin-<id>`, or `tocsin-<id>~<person>` for a page
    addressed to one person (an Opsgenie alert per responder)."""
    if not key.startswith("tocsin-"):
        return None
    return key.removeprefix("tocsin-").split("~", 1)[0] or None


def execution_name(incident_id: str, escalation_id: str) -> str:
    return f"{incident_id}-esc-{escalation_id}"[:80]


@dataclass(frozen=True)
class Recipient:
    kind: str  # person | service
    id: str  # person id, or the paging service (pagerduty, opsgenie)
    via: str  # how the level reached them: person:alice, schedule:primary, service:pagerduty
    fallback: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "via": self.via, "fallback": self.fallback}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipient:
        return cls(data["kind"], data["id"], data["via"], data.get("fallback"))


@dataclass
class Cursor:
    round: int = 0
    level: int = 0  # index into the levels; len(levels) is the final fallback
    wave: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Cursor:
        data = data or {}
        return cls(int(data.get("r", 0)), int(data.get("l", 0)), int(data.get("w", 0)))

    def as_dict(self) -> dict[str, int]:
        return {"r": self.round, "l": self.level, "w": self.wave}

    def level_key(self, escalation_id: str) -> str:
        return f"{escalation_id}:r{self.round + 1}:l{self.level + 1}"


class EscalationService:
    def __init__(
        self,
        config: TocsinConfig,
        incident_repo: Any,
        store: EscalationStore,
        steps: StepStore,
        pager: Callable[[str], PagingPort],
        signer: Callable[[], Signer],
        on_call: Callable[[str, datetime], str | None],
        runner: Callable[[], EscalationRunner],
        public_url: Callable[[], str],
        change_status: Callable[[str, IncidentStatus, Actor], Any] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.repo = incident_repo
        self.store = store
        self.steps = steps
        self.pager = pager
        self.signer = signer
        self.on_call = on_call
        self.runner = runner
        self.public_url = public_url
        self.change_status = change_status
        self.clock = clock

    # --- which policy ---------------------------------------------------------------------------
    def policy_for(self, incident: Incident) -> EscalationPolicy | None:
        """The policy paged for an incident: its severity's `page` list (`team` = the
        service's team, team names, people). One team: its policy (or the implicit one:
        its schedules, then its owners). Several: their policies merged level by level."""
        level = self.config.level(incident.severity)
        policies: list[EscalationPolicy] = []
        people: list[str] = []
        for entry in level.page:
            team = (
                self.config.team_of(incident.service)
                if entry == "team"
                else self.config.team(entry)
            )
            if team is not None:
                named = self.config.escalation_policy(team.escalation_policy)
                policy = named or _implicit_policy(team)
                if policy is not None:
                    policies.append(policy)
            elif self.config.person(entry):
                people.append(entry)
        if people:
            policies.append(
                EscalationPolicy(
                    name="people",
                    levels=[EscalationLevel(targets=[EscalationTarget(person=p) for p in people])],
                )
            )
        if not policies:
            return None
        return policies[0] if len(policies) == 1 else merge_policies(policies)

    def policy_of(self, target: str) -> EscalationPolicy | None:
        """The policy that pages `target`: a team (its escalation policy, else its schedules
        then owners) or one person (a single level). None: no such team or person."""
        team = self.config.team(target)
        if team is not None:
            return self.config.escalation_policy(team.escalation_policy) or _implicit_policy(team)
        if self.config.person(target) is not None:
            return EscalationPolicy(
                name=f"page-{target}"[:64],
                levels=[EscalationLevel(targets=[EscalationTarget(person=target)])],
            )
        return None

    # --- start ----------------------------------------------------------------------------------
    def start(
        self,
        incident: Incident,
        actor: Actor,
        policy_name: str | None = None,
        escalation_id: str = "1",
        policy: EscalationPolicy | None = None,
    ) -> dict[str, Any]:
        """Start paging (idempotent on `escalation_id`: a retried start returns the first).
        `policy` pages an ad-hoc policy (chat's `/incident page @someone`)."""
        if incident.status is IncidentStatus.RESOLVED:
            raise AlreadyResolvedError(f"{incident.ref} is resolved: nobody is paged")
        if policy is None and policy_name is not None:
            policy = self.config.escalation_policy(policy_name)
            if policy is None:
                known = ", ".join(p.name for p in self.config.escalation_policies) or "none"
                raise NothingToPageError(
                    f"unknown escalation policy {policy_name!r} (known: {known})"
                )
        elif policy is None:
            policy = self.policy_for(incident)
            if policy is None:
                raise NothingToPageError(
                    f"severity {incident.severity} pages nobody for service "
                    f"{incident.service or '(none)'}: no team, policy or person to page"
                )
        started_at = self.clock()
        name = execution_name(incident.id, escalation_id)
        policy_copy = policy.model_dump(mode="json")
        record = {
            "incident_id": incident.id,
            "escalation_id": escalation_id,
            "policy": policy_copy,
            "policy_name": policy.name,
            "started_at": iso(started_at),
            "started_by": actor.id,
            "execution_name": name,
        }
        created = self.store.create(record)
        stored = self.store.get(incident.id, escalation_id) or record
        self.runner().start(
            name,
            {
                "incident_id": incident.id,
                "escalation_id": escalation_id,
                "policy": stored["policy"],
                "cursor": Cursor().as_dict(),
            },
        )
        if created:
            self._timeline(
                incident.id,
                f"escalation-started-{escalation_id}",
                TimelineKind.ESCALATION_STARTED,
                {
                    "escalation": escalation_id,
                    "policy": policy.name,
                    "levels": len(policy.levels),
                    "repeat": policy.repeat,
                },
                at=started_at,
                actor=actor,
            )
        return stored

    # --- the state machine's tasks --------------------------------------------------------------
    def page_wave(self, event: dict[str, Any], send: bool = True) -> dict[str, Any]:
        """Page the current wave of the current level; say how long to wait and what next:
        {stop, skip, wait_seconds, next, next_level, outcome} (every key always there: the state
        machine's Choice reads them). `stop` ends the escalation (with `outcome`); `skip`
        moves on at once (a level with nobody to page); else wait `wait_seconds` for an
        acknowledgement, then go on at `next`."""
        incident_id, escalation_id = event["incident_id"], event["escalation_id"]
        # whether to go on at all comes first: an escalation that ended (or whose incident
        # resolved) stops here even if the rest of this task would fail
        record = self.store.get(incident_id, escalation_id)
        if record is None:
            return _step(stop=True, outcome="unknown")
        if record["status"] != ACTIVE:
            return _step(stop=True, outcome=record["status"])
        incident = self.repo.get(incident_id)
        if incident.status is IncidentStatus.RESOLVED:
            self.end(incident_id, escalation_id, "resolved", ACTOR)
            return _step(stop=True, outcome="resolved")
        policy = EscalationPolicy.model_validate(event["policy"])
        cursor = Cursor.from_dict(event.get("cursor"))
        level = _level(policy, cursor)
        if level is None:
            self.end(incident_id, escalation_id, "exhausted", ACTOR)
            self._timeline(
                incident_id,
                f"escalation-exhausted-{escalation_id}",
                TimelineKind.ESCALATION_ENDED,
                {"escalation": escalation_id, "outcome": "exhausted"},
                note="Nobody acknowledged: every level (and repeat) of the policy was paged.",
            )
            return _step(stop=True, outcome="exhausted")
        now = self.clock()
        level_key = cursor.level_key(escalation_id)
        started = self.steps.completed(incident_id, f"esc:level:{level_key}", {"level": level_key})
        level_start = parse_iso(started["at"])
        recipients = self._recipients(incident_id, level_key, level, now)
        waves = _waves(self.config, recipients, level.timeout)
        if cursor.wave == 0:
            self.store.update(
                incident_id,
                escalation_id,
                {
                    "round": cursor.round + 1,
                    "level": cursor.level + 1,
                    "level_started_at": started["at"],
                },
            )
        if not recipients:
            self._timeline(
                incident_id,
                f"level-empty-{level_key}",
                TimelineKind.PAGE_FAILED,
                {"escalation": escalation_id, "level": _level_label(policy, cursor)},
                note="Nobody to page at this level (no one on call); escalating at once.",
            )
            return _step(skip=True, next_cursor=next_level(policy, cursor))
        offset = waves[cursor.wave] if cursor.wave < len(waves) else waves[-1]
        if send:
            self._send_wave(
                incident, record, policy, cursor, level_key, recipients, offset, level.timeout
            )
        if cursor.wave + 1 < len(waves):
            next_cursor = Cursor(cursor.round, cursor.level, cursor.wave + 1)
            until = level_start + waves[cursor.wave + 1]
        else:
            next_cursor = next_level(policy, cursor)
            until = level_start + _level_timeout(policy, cursor)
        # Step Functions waits whole seconds: rounded to the nearest, a level pages at most half
        # a second early (rounding up would add half a second of lateness on average)
        wait = max(1, math.floor((until - self.clock()).total_seconds() + 0.5))
        return _step(
            wait_seconds=wait, next_cursor=next_cursor, level_cursor=next_level(policy, cursor)
        )

    def await_ack(self, event: dict[str, Any]) -> dict[str, Any]:
        """Keep the task token of the waiting level. If the escalation ended meanwhile (an
        acknowledgement between the page and this wait), complete the token at once."""
        incident_id, escalation_id = event["incident_id"], event["escalation_id"]
        token = event["token"]
        updated = self.store.update(
            incident_id,
            escalation_id,
            {"task_token": token, "waiting_since": iso(self.clock())},
        )
        if updated is None:
            record = self.store.get(incident_id, escalation_id) or {"status": "cancelled"}
            self._complete(token, record["status"])
            return {"waiting": False, "outcome": record["status"]}
        return {"waiting": True}

    def finish(self, event: dict[str, Any]) -> dict[str, Any]:
        """The escalation is over: tell paging services (acknowledge or resolve their alerts)
        once, and note the end on the timeline."""
        incident_id, escalation_id = event["incident_id"], event["escalation_id"]
        record = self.store.get(incident_id, escalation_id)
        if record is None:
            return {"outcome": "unknown"}
        return {"outcome": record["status"], "synced": self.sync_vendors(record)}

    def sync_vendors(
        self, record: dict[str, Any], outcome: str | None = None, raise_errors: bool = True
    ) -> list[str]:
        """Acknowledge (outcome acknowledged) or resolve (resolved) the alerts this escalation
        raised at paging services, once each. Other outcomes (exhausted, failed) leave them
        open: the vendor's own escalation may be the paging that still works."""
        outcome = outcome or record["status"]
        if outcome not in {"acknowledged", "resolved"}:
            return []
        incident_id, escalation_id = record["incident_id"], record["escalation_id"]
        alerts = sorted(
            {
                (step["provider"], step.get("key") or page_key(incident_id))
                for name, step in self.steps.all(incident_id).items()
                if name.startswith(f"esc:page:{escalation_id}:")
                and step.get("state") == "done"
                and step.get("provider") in {"pagerduty", "opsgenie"}
            }
        )
        synced = []
        incident = self.repo.get(incident_id)
        for provider, key in alerts:
            if outcome == "acknowledged" and record.get("acknowledged_via") == provider:
                continue  # they know: the acknowledgement came from them
            sync = f"esc:sync:{escalation_id}:{provider}:{key}:{outcome}"
            if self.steps.get(incident_id, sync):
                continue
            try:
                adapter = self.pager(provider)
                page = replace(self._page(incident, record, 0, None), key=key)
                if outcome == "acknowledged":
                    adapter.acknowledge(page)
                else:
                    adapter.resolve(page)
            except IntegrationError as exc:
                if raise_errors:  # the state machine's task: retried, then recorded
                    raise
                # called from a resolution (an API request, the sweeper): say so, go on
                self._timeline(
                    incident_id,
                    f"vendor-{outcome}-failed-{escalation_id}-{provider}-{_short(key)}",
                    TimelineKind.PAGE_FAILED,
                    {"escalation": escalation_id, "provider": provider, "error": str(exc)},
                    note=f"Could not tell {provider} the incident is {outcome}; "
                    "close the alert there.",
                )
                continue
            self.steps.completed(incident_id, sync, {"provider": provider})
            synced.append(f"{provider}:{outcome}")
        return synced

    # --- acknowledgement and cancellation -------------------------------------------------------
    def acknowledge(
        self, incident_id: str, actor: Actor, via: str, person: str | None = None
    ) -> dict[str, Any]:
        """One service call for every acknowledgement path (link, API, chat, PagerDuty,
        Opsgenie). Ends every active escalation of the incident and moves a triggered
        incident to acknowledged. Idempotent; after resolution it changes nothing."""
        incident = self.repo.get(incident_id)
        if incident.status is IncidentStatus.RESOLVED:
            raise AlreadyResolvedError(
                f"{incident.ref} was resolved at {iso(incident.status_times.get(IncidentStatus.RESOLVED, incident.updated_at))}: nothing to acknowledge"
            )
        now = self.clock()
        ended = []
        for record in self.store.all(incident_id):
            updated = self.store.update(
                incident_id,
                record["escalation_id"],
                {
                    "status": "acknowledged",
                    "acknowledged_by": actor.name or actor.id,
                    "acknowledged_at": iso(now),
                    "acknowledged_via": via,
                    "ended_at": iso(now),
                },
                remove=("task_token",),
                old=True,
            )
            if updated is None:
                continue
            ended.append(record["escalation_id"])
            if updated.get("task_token"):  # the token this update removed, not an older read
                self._complete(updated["task_token"], "acknowledged")
            self._timeline(
                incident_id,
                f"acknowledged-{record['escalation_id']}",
                TimelineKind.ESCALATION_ENDED,
                {
                    "escalation": record["escalation_id"],
                    "outcome": "acknowledged",
                    "via": via,
                    "level": record.get("level"),
                    "round": record.get("round"),
                },
                at=now,
                actor=actor,
            )
        if incident.status is IncidentStatus.TRIGGERED and self.change_status is not None:
            self.change_status(incident_id, IncidentStatus.ACKNOWLEDGED, actor)
        return {
            "incident_id": incident_id,
            "acknowledged": bool(ended) or incident.status is not IncidentStatus.TRIGGERED,
            "escalations_ended": ended,
            "by": actor.name or actor.id,
            "via": via,
        }

    def escalate_now(
        self, incident_id: str, actor: Actor, clicked_at: datetime | None = None
    ) -> dict[str, list[str]]:
        """Skip the rest of the wait: an active escalation waiting for an acknowledgement pages
        its next level now (the state machine's AckOrEscalate → SkipLevel). Returns
        {"moved": [...], "last": [...]} — `last`: escalations already at their last level (or
        in the fallback), left as they are (skipping would end them).

        Exactly one level per click: only a level that started before the click
        (`clicked_at`, the chat request's time: a redelivery of the click carries the same)
        is skipped, and the token is removed by a write conditional on being the one read, so
        a second click or a redelivery never skips the level the first one started. A token
        that is no longer waiting (its wait ran out meanwhile) moves nothing."""
        incident = self.repo.get(incident_id)
        if incident.status is IncidentStatus.RESOLVED:
            raise AlreadyResolvedError(f"{incident.ref} is resolved: nobody is paged")
        now = self.clock()
        clicked_at = clicked_at or now
        moved: list[str] = []
        last: list[str] = []
        for record in self.store.all(incident_id):
            token = record.get("task_token")
            if record.get("status") != ACTIVE or not token:
                continue
            started = record.get("level_started_at")
            if started and parse_iso(str(started)) >= clicked_at:
                continue  # this level began after the click: the click already moved one
            policy = EscalationPolicy.model_validate(record.get("policy") or {})
            cursor = Cursor(int(record.get("round", 1)) - 1, int(record.get("level", 1)) - 1, 0)
            if _level(policy, next_level(policy, cursor)) is None:
                last.append(record["escalation_id"])
                continue
            taken = self.store.update(
                incident_id,
                record["escalation_id"],
                {"escalated_at": iso(now), "escalated_by": actor.name or actor.id},
                remove=("task_token",),
                old=True,
                token=str(token),
            )
            if taken is None:
                continue  # ended meanwhile, or another click (or the next level) took it
            try:
                done = self.runner().complete(str(token), {"outcome": "escalate"})
            except Exception:
                # the wait is still on: give its token back so an acknowledgement can end it
                self.store.update(incident_id, record["escalation_id"], {"task_token": token})
                raise
            if not done:
                continue  # the wait had run out: the next level is paging anyway
            moved.append(record["escalation_id"])
            self._timeline(
                incident_id,
                f"escalated-{record['escalation_id']}-r{record.get('round')}-l{record.get('level')}",
                TimelineKind.ESCALATED,
                {
                    "escalation": record["escalation_id"],
                    "level": record.get("level"),
                    "round": record.get("round"),
                },
                at=now,
                actor=actor,
            )
        return {"moved": moved, "last": last}

    def stop(self, incident_id: str, outcome: str, actor: Actor) -> list[str]:
        """End every active escalation (the incident resolved, or paging was cancelled)."""
        ended = []
        for record in self.store.all(incident_id):
            if record["status"] == ACTIVE:
                if self.end(incident_id, record["escalation_id"], outcome, actor):
                    ended.append(record["escalation_id"])
            elif outcome == "resolved":
                # acknowledged (or exhausted) earlier: its execution is over, so the alerts
                # it raised at PagerDuty/Opsgenie are resolved from here
                self.sync_vendors(record, "resolved", raise_errors=False)
        return ended

    def end(self, incident_id: str, escalation_id: str, outcome: str, actor: Actor) -> bool:
        now = self.clock()
        values = {"status": outcome, "ended_at": iso(now), "ended_by": actor.id}
        if outcome == "acknowledged":  # the incident was acknowledged another way (PATCH)
            values |= {
                "acknowledged_by": actor.name or actor.id,
                "acknowledged_at": iso(now),
                "acknowledged_via": "status",
            }
        before = self.store.update(
            incident_id, escalation_id, values, remove=("task_token",), old=True
        )
        if before is None:
            return False
        if before.get("task_token"):  # the token this update removed
            self._complete(before["task_token"], outcome)
        if outcome != "exhausted":
            self._timeline(
                incident_id,
                f"escalation-{outcome}-{escalation_id}",
                TimelineKind.ESCALATION_ENDED,
                {"escalation": escalation_id, "outcome": outcome},
                at=now,
                actor=actor,
            )
        return True

    def _complete(self, token: str, outcome: str) -> None:
        """Complete a waiting level's token. A token whose wait already timed out (the next
        level is paging) is fine to lose: that level checks the status before paging."""
        try:
            self.runner().complete(token, {"outcome": outcome})
        except Exception:  # best effort: the status changed already, and the next level
            # checks it before paging; at worst the level's wait runs out first
            log.warning("could not complete a waiting level's task token", exc_info=True)

    # --- ack links ------------------------------------------------------------------------------
    def ack_url(self, incident_id: str, escalation_id: str, recipient: str) -> str:
        ttl: timedelta = self.config.paging.ack_link_ttl
        token = self.signer().sign(
            ACK_PURPOSE,
            {"i": incident_id, "e": escalation_id, "u": recipient},
            self.clock() + ttl,
        )
        return f"{self.public_url().rstrip('/')}/v1/ack/{token}"

    def read_ack_token(self, token: str) -> dict[str, Any]:
        """{incident_id, escalation_id, recipient}; raises InvalidTokenError/ExpiredTokenError."""
        data = self.signer().verify(ACK_PURPOSE, token, self.clock())
        return {"incident_id": data["i"], "escalation_id": data["e"], "recipient": data["u"]}

    # --- internals ------------------------------------------------------------------------------
    def _recipients(
        self, incident_id: str, level_key: str, level: EscalationLevel, now: datetime
    ) -> list[Recipient]:
        """Who this level pages, resolved once (the first resolution is kept)."""
        key = f"esc:recipients:{level_key}"
        found = self.steps.get(incident_id, key)
        if found and found.get("state") == "done":
            return [Recipient.from_dict(r) for r in found["recipients"]]
        recipients: list[Recipient] = []
        failures: list[str] = []
        seen: set[tuple[str, str]] = set()
        for target in level.targets:
            if target.person:
                found_person = (
                    ("person", target.person),
                    Recipient("person", target.person, target.label),
                )
            elif target.schedule:
                try:
                    who = self.on_call(target.schedule, now)
                except Exception as exc:  # one unreadable schedule must not sink the level
                    failures.append(f"schedule {target.schedule}: {exc}")
                    continue
                if who is None:
                    continue
                found_person = (("person", who), Recipient("person", who, target.label))
            else:
                assert target.service is not None
                found_person = (
                    ("service", target.service),
                    Recipient("service", target.service, target.label, target.fallback),
                )
            if found_person[0] not in seen:
                seen.add(found_person[0])
                recipients.append(found_person[1])
        if failures and not recipients:  # nothing to page yet: let the task be retried
            raise RetryableIntegrationError("schedules", "; ".join(failures))
        for failure in failures:
            self._timeline(
                incident_id,
                f"recipients-failed-{level_key}-{_short(failure)}",
                TimelineKind.PAGE_FAILED,
                {"level": level_key, "error": failure},
                note="This target could not be resolved; the level pages its other targets.",
            )
        stored = self.steps.completed(
            incident_id, key, {"recipients": [r.as_dict() for r in recipients]}
        )
        return [Recipient.from_dict(r) for r in stored["recipients"]]

    def _send_wave(
        self,
        incident: Incident,
        record: dict[str, Any],
        policy: EscalationPolicy,
        cursor: Cursor,
        level_key: str,
        recipients: list[Recipient],
        offset: timedelta,
        timeout: timedelta,
    ) -> None:
        wave_tag = f"w{int(offset.total_seconds())}"
        retryable: list[str] = []
        attempted = delivered = 0
        for recipient in recipients:
            if recipient.kind == "service":
                if offset != timedelta(0):
                    continue
                chain = [recipient.id] + ([recipient.fallback] if recipient.fallback else [])
                methods_now = [chain]
            else:
                person = self.config.person(recipient.id)
                rules = _rules(self.config, person)
                order: list[str] = list(dict.fromkeys(rule.method for rule in rules))
                methods_now = []
                if offset == timedelta(0) and all(rule.after >= timeout for rule in rules):
                    # every rule of theirs comes after this level's timeout: page them at
                    # once by their first method rather than never
                    rules = [NotificationRule(method=rules[0].method)]
                for rule in rules:
                    if rule.after == offset:
                        start = order.index(rule.method)
                        methods_now.append(order[start:] + order[:start])
            for chain in methods_now:
                # a stop/ack that lands mid-wave ends the wave: no page after an acknowledgement
                current = self.store.get(incident.id, record["escalation_id"])
                if current is None or current["status"] != ACTIVE:
                    return
                attempted += 1
                ok, errors = self._deliver(
                    incident, record, policy, cursor, level_key, recipient, chain, wave_tag
                )
                delivered += ok
                retryable += errors
        if attempted and not delivered and retryable:
            # every page of this wave failed for a reason a retry may fix: let the state
            # machine retry the task (pages already sent are not sent again)
            raise RetryableIntegrationError("paging", "; ".join(retryable))

    def _deliver(
        self,
        incident: Incident,
        record: dict[str, Any],
        policy: EscalationPolicy,
        cursor: Cursor,
        level_key: str,
        recipient: Recipient,
        chain: list[str],
        wave_tag: str = "w0",
    ) -> tuple[bool, list[str]]:
        """Try each method of the chain until one sends. (delivered, retryable errors).
        `wave_tag` (the wave's offset) keeps a rule repeating a method later (SMS now, SMS
        again in 2 minutes) from counting as already sent."""
        retryable: list[str] = []
        person = self.config.person(recipient.id) if recipient.kind == "person" else None
        for method in chain:
            step = f"esc:page:{level_key}:{recipient.id}:{method}:{wave_tag}"
            done = self.steps.claim(incident.id, step, record["execution_name"])
            if done is not None:  # sent before (a retried task or a redrive)
                return True, []
            to = _address(person, method, self.config) if person else None
            try:
                if person is not None and to is None:
                    raise _NoAddress(method, person)
                adapter = self.pager(method)
                page = self._page(incident, record, cursor.level + 1, recipient.id, policy)
                if person is not None:  # one vendor alert per person (Opsgenie responders)
                    page = replace(page, key=f"{page.key}~{recipient.id}")
                ref = adapter.send(page, to)
            except (IntegrationError, _NoAddress) as exc:
                error = str(exc)
                self.steps.failed(incident.id, step, {"error": error, "method": method})
                self._timeline(
                    incident.id,
                    f"page-failed-{step}-{_short(error)}",
                    TimelineKind.PAGE_FAILED,
                    {
                        "escalation": record["escalation_id"],
                        "level": _level_label(policy, cursor),
                        "target": recipient.id,
                        "via": recipient.via,
                        "method": method,
                        "error": error,
                        "fallback": chain[chain.index(method) + 1]
                        if chain.index(method) + 1 < len(chain)
                        else None,
                    },
                )
                if isinstance(exc, RetryableIntegrationError):
                    retryable.append(error)
                continue
            done_record = self.steps.completed(
                incident.id,
                step,
                {
                    "provider": ref.provider,
                    "ref": ref.id,
                    "to": ref.to,
                    "method": method,
                    "key": page.key,
                },
            )
            self._timeline(
                incident.id,
                f"page-sent-{step}",
                TimelineKind.PAGE_SENT,
                {
                    "escalation": record["escalation_id"],
                    "level": _level_label(policy, cursor),
                    "target": recipient.id,
                    "via": recipient.via,
                    "method": method,
                    "provider": ref.provider,
                    "to": ref.to,
                },
                at=parse_iso(done_record["at"]),
            )
            return True, []
        return False, retryable

    def _page(
        self,
        incident: Incident,
        record: dict[str, Any],
        level: int,
        recipient: str | None,
        policy: EscalationPolicy | None = None,
    ) -> Page:
        rank = self.config.severity_rank(incident.severity)
        # only web links: a vendor (PagerDuty) refuses others, and a phone cannot open them
        links = [
            Link(label, url)
            for label, url in sorted(incident.links.items())
            if url.startswith(("https://", "http://"))
        ]
        service = f" {incident.service}" if incident.service else ""
        return Page(
            key=page_key(incident.id),
            incident_id=incident.id,
            ref=incident.ref,
            # vendors show the title alone (PagerDuty, Opsgenie): it says what and how bad;
            # the SMS, e-mail and chat adapters put severity, ref and service in front
            title=f"{incident.severity}{service}: {incident.title}",
            severity=incident.severity,
            urgency=URGENCY[rank] if rank < len(URGENCY) else "info",
            service=incident.service,
            body=incident.description,
            links=tuple(links),
            ack_url=self.ack_url(incident.id, record["escalation_id"], recipient)
            if recipient
            else None,
            level=level,
            details=(
                ("incident", incident.ref),
                ("status", str(incident.status)),
                ("escalation policy", record.get("policy_name", "")),
            ),
        )

    def _timeline(
        self,
        incident_id: str,
        event_id: str,
        kind: TimelineKind,
        data: dict[str, Any],
        at: datetime | None = None,
        actor: Actor = ACTOR,
        note: str | None = None,
    ) -> None:
        if note:
            data = {**data, "note": note}
        self.repo.append_timeline(
            TimelineEvent(
                id=event_id,
                incident_id=incident_id,
                at=at or self.clock(),
                kind=kind,
                actor=actor,
                data=data,
            )
        )


def _step(
    *,
    stop: bool = False,
    skip: bool = False,
    wait_seconds: int = 1,
    next_cursor: Cursor | None = None,
    outcome: str | None = None,
    level_cursor: Cursor | None = None,
) -> dict[str, Any]:
    """`next`: where to go on after the wait (the level's next wave, or the next level);
    `next_level`: where Escalate jumps (the next level, skipping the level's later waves)."""
    return {
        "stop": stop,
        "skip": skip,
        "wait_seconds": wait_seconds,
        "next": (next_cursor or Cursor()).as_dict(),
        "next_level": (level_cursor or next_cursor or Cursor()).as_dict(),
        "outcome": outcome,
    }


class _NoAddress(Exception):
    def __init__(self, method: str, person: Person | None) -> None:
        who = person.id if person else "?"
        super().__init__(f"{who} has no address for {method}")


def _short(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _rules(config: TocsinConfig, person: Person | None) -> list[NotificationRule]:
    if person is not None and person.notify:
        return list(person.notify)
    return list(config.paging.default_rules)


def _address(person: Person, method: str, config: TocsinConfig) -> str | None:
    if method == "sms":
        return person.phone
    if method in {"email", "opsgenie"}:
        return person.email
    if method == "chat":
        return person.chat_id(config.integrations.chat.provider)
    return None


def _waves(
    config: TocsinConfig, recipients: list[Recipient], timeout: timedelta
) -> list[timedelta]:
    """The distinct offsets at which this level sends something (0 always)."""
    offsets = {timedelta(0)}
    for recipient in recipients:
        if recipient.kind == "person":
            for rule in _rules(config, config.person(recipient.id)):
                if rule.after < timeout:
                    offsets.add(rule.after)
    return sorted(offsets)


def _level(policy: EscalationPolicy, cursor: Cursor) -> EscalationLevel | None:
    if cursor.level < len(policy.levels) and cursor.round <= policy.repeat:
        return policy.levels[cursor.level]
    if cursor.level == len(policy.levels) and policy.fallback:
        return EscalationLevel(targets=policy.fallback, timeout=_level_timeout(policy, cursor))
    return None


def _level_timeout(policy: EscalationPolicy, cursor: Cursor) -> timedelta:
    if cursor.level < len(policy.levels):
        return policy.levels[cursor.level].timeout
    return policy.fallback_timeout or policy.levels[-1].timeout


def next_level(policy: EscalationPolicy, cursor: Cursor) -> Cursor:
    if cursor.level + 1 < len(policy.levels):
        return Cursor(cursor.round, cursor.level + 1, 0)
    if cursor.level < len(policy.levels) and cursor.round < policy.repeat:
        return Cursor(cursor.round + 1, 0, 0)
    if cursor.level < len(policy.levels) and policy.fallback:
        return Cursor(cursor.round, len(policy.levels), 0)
    return Cursor(cursor.round, len(policy.levels) + 1, 0)  # the end


def _level_label(policy: EscalationPolicy, cursor: Cursor) -> str:
    if cursor.level >= len(policy.levels):
        return "fallback"
    label = f"{cursor.level + 1}/{len(policy.levels)}"
    return label + (f" (round {cursor.round + 1})" if policy.repeat else "")


def _implicit_policy(team: TeamConfig) -> EscalationPolicy | None:
    """A team without a policy: whoever is on call in its schedules, then its owners; or,
    without schedules, all its people at once."""
    if team.schedules:
        levels = [EscalationLevel(targets=[EscalationTarget(schedule=s) for s in team.schedules])]
        if team.owners:
            levels.append(
                EscalationLevel(targets=[EscalationTarget(person=p) for p in team.owners])
            )
    elif team.people:
        levels = [EscalationLevel(targets=[EscalationTarget(person=p) for p in team.people])]
    else:
        return None
    return EscalationPolicy(name=f"{team.name}-default", levels=levels, repeat=1)


def merge_policies(policies: list[EscalationPolicy]) -> EscalationPolicy:
    """Several teams paged at once: level n pages every policy's level n, waiting the
    shortest of their timeouts."""
    depth = max(len(p.levels) for p in policies)
    levels = []
    for n in range(depth):
        parts = [p.levels[n] for p in policies if n < len(p.levels)]
        levels.append(
            EscalationLevel(
                targets=[t for part in parts for t in part.targets],
                timeout=min(part.timeout for part in parts),
            )
        )
    return EscalationPolicy(
        name="_".join(p.name for p in policies)[:64],
        levels=levels,
        repeat=max(p.repeat for p in policies),
        fallback=[t for p in policies for t in p.fallback],
    )
