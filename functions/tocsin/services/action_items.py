"""Action items tracked to done: created from chat, the API or the postmortem; synced to the
ticketing tool by the sweeper; done in Jira comes back through its webhook; overdue items are
reminded to their owner once a day.

Every change is one optimistic-locked write plus one timeline event on the incident, so the
postmortem (which lists the items) and the transcript tell the same story.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from aws_lambda_powertools import Logger

from tocsin.dal.actions import ActionItemStore
from tocsin.dal.incidents import IncidentRepository
from tocsin.domain.action_items import (
    MAX_TEXT,
    ActionItem,
    ActionStatus,
    Priority,
    TicketSync,
)
from tocsin.domain.clock import utcnow
from tocsin.domain.config import TocsinConfig
from tocsin.domain.errors import InvalidRequestError, VersionConflictError
from tocsin.domain.incidents import Incident
from tocsin.domain.timeline import Actor, ActorKind, TimelineEvent, TimelineKind
from tocsin.integrations.ports import (
    ChatMessage,
    IntegrationError,
    Link,
    PermanentIntegrationError,
    TicketRef,
)

logger = Logger(service="tocsin", child=True)

#: a sentinel for "not given" (None means "clear it" for owner and due)
UNSET: Any = object()
#: the sweeper stops starting ticket work after this many seconds (its run is 50 s at most)
SYNC_BUDGET_S = 30.0
PRIORITY_ORDER = {p: n for n, p in enumerate(Priority)}


@dataclass
class SyncReport:
    created: int = 0
    completed: int = 0
    failed: int = 0
    gave_up: int = 0
    left: int = 0


@dataclass
class ReminderReport:
    owners: int = 0
    items: int = 0
    failed: int = 0
    without_owner: int = 0
    skipped: str | None = None
    sent: list[str] = field(default_factory=list)


def _clean_text(value: Any) -> str:
    """An item's text on one line, or a 400 saying what is allowed."""
    text = " ".join(str(value or "").split())
    if not text or len(text) > MAX_TEXT:
        raise InvalidRequestError(f"an action item's text must be 1 to {MAX_TEXT} characters")
    return text


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class ActionItemService:
    def __init__(
        self,
        config: TocsinConfig,
        store: ActionItemStore,
        incidents: IncidentRepository,
        port: Callable[[str], Any],
        public_url: Callable[[], str],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.incidents = incidents
        #: port name ("ticketing", "chat") -> its adapter (built on first use)
        self.port = port
        self.public_url = public_url
        self.clock = clock

    # --- reading ------------------------------------------------------------------------------
    def get(self, incident_ref: str, action_id: str) -> ActionItem:
        incident = self.incidents.by_ref(incident_ref)
        return self.store.get(incident.id, action_id)

    def for_incident(self, incident_ref: str) -> list[ActionItem]:
        return self.store.for_incident(self.incidents.by_ref(incident_ref).id)

    def search(
        self,
        status: str = "open",
        owner: str | None = None,
        overdue: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[ActionItem], str | None]:
        """Items across incidents, soonest due first; `overdue` keeps open items past due."""
        try:
            wanted = ActionStatus(status.strip().lower())
        except ValueError:
            known = ", ".join(s.value for s in ActionStatus)
            raise InvalidRequestError(f"unknown status {status!r} (known: {known})") from None
        if overdue and wanted is not ActionStatus.OPEN:
            raise InvalidRequestError("only open items can be overdue")
        if owner is not None:
            self._person(owner)
        today = self.today()
        return self.store.by_status(
            wanted,
            owner=owner,
            due_before=today if overdue else None,
            limit=limit,
            cursor=cursor,
        )

    def today(self) -> date:
        return self.config.action_items.reminders.local_day(self.clock())

    # --- writing ------------------------------------------------------------------------------
    def create(
        self,
        incident_ref: str,
        text: str,
        actor: Actor,
        *,
        owner: str | None = None,
        due: date | None = None,
        priority: str | None = None,
        source: str = "api",
        key: str | None = None,
        at: datetime | None = None,
    ) -> tuple[ActionItem, bool]:
        """Create an action item (idempotent on `key`: the same key creates one item).
        (the item, whether this call created it)."""
        incident = self.incidents.by_ref(incident_ref)
        text = _clean_text(text)
        if owner is not None:
            self._person(owner)
        at = at or self.clock()
        item_id = "ai-" + _digest(f"{incident.id}:{key or secrets.token_hex(16)}")[:16]
        item = ActionItem(
            id=item_id,
            incident_id=incident.id,
            text=text,
            owner=owner,
            due=due,
            priority=self._priority(priority),
            source=source,
            created_by=actor.id,
            created_at=at,
            updated_at=at,
            ticket_sync=TicketSync.CREATE if self.config.action_items.tickets else None,
        )
        stored, created = self.store.create(item)
        if created or key is not None:
            # a retried request (the same key) after a crash between the two writes adds the
            # event it missed: the same id at the item's own time, which `once` keeps once
            self.incidents.append_timeline(
                TimelineEvent(
                    id=f"action-{item_id}",
                    incident_id=incident.id,
                    at=stored.created_at,
                    kind=TimelineKind.ACTION_ITEM_ADDED,
                    actor=actor,
                    data={
                        "id": item_id,
                        "text": stored.text,
                        "owner": owner,
                        "due": due.isoformat() if due else None,
                        "priority": stored.priority.value,
                        "via": source,
                    },
                ),
                once=True,
            )
        return stored, created

    def check_many(self, items: list[dict[str, Any]]) -> None:
        """Refuse the whole list when one item is bad, naming it (`action_items[1]: …`)."""
        for n, item in enumerate(items):
            try:
                _clean_text(item.get("text"))
                if item.get("owner") is not None:
                    self._person(item["owner"])
                self._priority(item.get("priority"))
            except InvalidRequestError as exc:
                raise InvalidRequestError(f"action_items[{n}]: {exc}") from None

    def create_many(
        self,
        incident_ref: str,
        items: list[dict[str, Any]],
        actor: Actor,
        source: str,
    ) -> list[tuple[ActionItem, bool]]:
        """Create several items (the postmortem's follow-ups), each idempotent on its text:
        every one is checked before any is stored, so a bad one stores none."""
        incident = self.incidents.by_ref(incident_ref)
        self.check_many(items)
        return [
            self.create(
                incident.id,
                item["text"],
                actor,
                owner=item.get("owner"),
                due=item.get("due"),
                priority=item.get("priority"),
                source=source,
                key=f"{source}:{_clean_text(item['text']).lower()}",
            )
            for item in items
        ]

    def update(
        self,
        incident_ref: str,
        action_id: str,
        actor: Actor,
        *,
        text: str | None = None,
        owner: str | None = UNSET,
        due: date | None = UNSET,
        priority: str | None = None,
        status: str | None = None,
        version: int | None = None,
        from_ticket: bool = False,
    ) -> ActionItem:
        """Change an item; `version` (the one read) makes a stale change a 409. Done here
        completes the ticket (the sweeper does it), unless the ticket said so itself."""
        incident = self.incidents.by_ref(incident_ref)
        if owner is not UNSET and owner is not None:
            self._person(owner)
        new_status = self._status(status) if status is not None else None
        new_priority = self._priority(priority) if priority is not None else None
        new_text = _clean_text(text) if text is not None else None
        now = self.clock()
        changes: dict[str, Any] = {}

        def decide(current: ActionItem) -> ActionItem | None:
            if version is not None and current.version != version:
                raise VersionConflictError(
                    f"action item {action_id} is at version {current.version}, not {version}"
                )
            changes.clear()
            update: dict[str, Any] = {}
            for name, value in (
                ("text", new_text),
                ("priority", new_priority),
                ("owner", owner),
                ("due", due),
            ):
                if value is UNSET or (value is None and name in ("text", "priority")):
                    continue
                if getattr(current, name) != value:
                    update[name] = value
            if new_status is not None and new_status is not current.status:
                update["status"] = new_status
                if new_status is ActionStatus.DONE:
                    update |= {"done_at": now, "done_by": actor.id}
                else:
                    update |= {"done_at": None, "done_by": None}
                update["ticket_sync"] = self._ticket_work(current, new_status, from_ticket)
            if not update:
                return None
            if current.ticket_error and current.ticket_sync is None and "ticket_sync" not in update:
                # the ticketing tool refused before: a change (after fixing the cause there)
                # tries again
                update["ticket_sync"] = self._ticket_work(current, current.status, False)
            for name, value in update.items():
                if name in ("text", "owner", "due", "priority", "status"):
                    changes[name] = value.isoformat() if isinstance(value, date) else value
            return current.model_copy(update={**update, "updated_at": now})

        item, changed = self.store.change(incident.id, action_id, decide)
        if changed:
            self.incidents.append_timeline(
                TimelineEvent(
                    id=f"action-{action_id}-v{item.version}",
                    incident_id=incident.id,
                    at=now,
                    kind=TimelineKind.ACTION_ITEM_UPDATED,
                    actor=actor,
                    data={
                        "id": action_id,
                        "text": item.text,
                        "changes": {
                            k: (v.value if hasattr(v, "value") else v) for k, v in changes.items()
                        },
                        **({"via": item.ticket["provider"]} if from_ticket and item.ticket else {}),
                    },
                ),
                once=True,
            )
        return item

    def _ticket_work(
        self, current: ActionItem, status: ActionStatus, from_ticket: bool
    ) -> TicketSync | None:
        """What the ticketing tool has to do for an item in `status` (done or cancelled here:
        close its ticket; open without a ticket: make one)."""
        if not self.config.action_items.tickets:
            return None
        if current.ticket is None:
            # not created yet: an item finished before its ticket needs none
            return TicketSync.CREATE if status is ActionStatus.OPEN else None
        if status is not ActionStatus.OPEN and not from_ticket:
            return TicketSync.COMPLETE
        return None

    # --- the ticketing tool (the sweeper) -----------------------------------------------------
    def sync_tickets(self, budget_s: float = SYNC_BUDGET_S) -> SyncReport:
        """Create the tickets of new items and close those of items finished here. A
        retryable failure is tried again next sweep; a permanent one is recorded on the item
        (the API and `tocsin actions list` show it) and tried again once the item changes."""
        report = SyncReport()
        # the index is eventually consistent: it only says where to look; those that failed
        # before go last, so a few failing items never starve the new ones
        pending = sorted(self.store.pending_sync(), key=lambda i: i.ticket_error is not None)
        if not pending:
            return report
        started = time.monotonic()
        tickets = self.port("ticketing")
        for seen in pending:
            if time.monotonic() - started > budget_s:
                report.left += 1
                continue
            try:
                item = self.store.get(seen.incident_id, seen.id)  # consistent: as it is now
                work = item.ticket_sync
                if work is TicketSync.CREATE and item.status is not ActionStatus.OPEN:
                    self._synced(item, {}, expect=work)  # finished before it got a ticket
                elif work is TicketSync.CREATE:
                    self._create_ticket(tickets, item)
                    report.created += 1
                elif work is TicketSync.COMPLETE and item.ticket:
                    tickets.complete_ticket(TicketRef(**item.ticket))
                    self._synced(item, {}, expect=work)
                    report.completed += 1
            except Exception as exc:  # one item's trouble never stops the others
                permanent = isinstance(exc, PermanentIntegrationError)
                known = isinstance(exc, IntegrationError)
                report.gave_up += permanent
                report.failed += not permanent
                logger.warning(
                    "action item ticket sync failed",
                    extra={
                        "action_id": seen.id,
                        "provider": tickets.provider,
                        "error": str(exc) if known else type(exc).__name__,
                    },
                    exc_info=not known,
                )
                try:
                    self._sync_failed(seen, str(exc) if known else type(exc).__name__, permanent)
                except Exception:
                    logger.exception("could not record the ticket sync failure")
        return report

    def _create_ticket(self, tickets: Any, item: ActionItem) -> None:
        incident = self.incidents.get(item.incident_id)
        ticket = tickets.create_ticket(
            item.id,
            f"[{incident.ref}] {item.text}",
            self._ticket_description(incident, item),
            item.priority.value,
            due=item.due,
        )
        self.store.link_ticket(ticket.provider, ticket.id, ticket.key, item.incident_id, item.id)
        ref = {"provider": ticket.provider, "id": ticket.id, "key": ticket.key, "url": ticket.url}
        self._synced(item, {"ticket": ref}, expect=TicketSync.CREATE)
        self.incidents.append_timeline(
            TimelineEvent(
                id=f"action-{item.id}-ticket",
                incident_id=item.incident_id,
                at=self.clock(),
                kind=TimelineKind.ACTION_ITEM_UPDATED,
                actor=Actor.integration(ticket.provider),
                data={"id": item.id, "text": item.text, "changes": {"ticket": ticket.key}},
            ),
            once=True,
        )

    def _ticket_description(self, incident: Incident, item: ActionItem) -> str:
        owner = self.config.person(item.owner) if item.owner else None
        lines = [
            f"Action item from {incident.ref}: {incident.title}",
            f"Owner: {owner.name if owner else item.owner or 'nobody yet'}",
            f"Due: {item.due.isoformat() if item.due else 'no due date'}",
            f"Priority: {item.priority.value}",
            f"Tocsin id: {item.id}",
            f"Postmortem: {self.public_url().rstrip('/')}/v1/incidents/{incident.id}/postmortem"
            "?format=html",
        ]
        return "\n".join(lines)

    def _synced(self, item: ActionItem, update: dict[str, Any], expect: TicketSync) -> None:
        """Record finished ticket work `expect`, deciding what is left from the item as it is
        now: finished or cancelled while its ticket was being created, the new ticket is
        closed next; other work asked for meanwhile is kept."""

        def decide(current: ActionItem) -> ActionItem | None:
            merged = current.model_copy(update=update)
            work: TicketSync | None = None
            if current.ticket_sync is not None and current.ticket_sync is not expect:
                work = current.ticket_sync
            elif expect is TicketSync.CREATE and current.status is not ActionStatus.OPEN:
                work = TicketSync.COMPLETE if self.config.action_items.tickets else None
            return merged.model_copy(update={"ticket_sync": work, "ticket_error": None})

        self.store.change(item.incident_id, item.id, decide)

    def _sync_failed(self, item: ActionItem, error: str, permanent: bool) -> None:
        def decide(current: ActionItem) -> ActionItem | None:
            if current.ticket_sync is None:
                return None
            if current.ticket_error == error[:500] and not permanent:
                return None  # the same outage again: nothing new to record
            update: dict[str, Any] = {"ticket_error": error[:500]}
            if permanent:
                update["ticket_sync"] = None
            return current.model_copy(update=update)

        _, changed = self.store.change(item.incident_id, item.id, decide)
        if changed and permanent:
            self.incidents.append_timeline(
                TimelineEvent(
                    id=f"action-{item.id}-ticket-refused-{_digest(error)[:8]}",
                    incident_id=item.incident_id,
                    at=self.clock(),
                    kind=TimelineKind.ACTION_ITEM_UPDATED,
                    actor=Actor.system("action-items"),
                    data={
                        "id": item.id,
                        "text": item.text,
                        "changes": {"ticket_error": error[:500]},
                    },
                ),
                once=True,
            )

    def ticket_changed(
        self, provider: str, ticket_id: str, key: str, done: bool | None, who: str | None
    ) -> ActionItem | None:
        """The ticket moved to another status at the ticketing tool (Jira's webhook, for a
        status transition): into done -> done here; out of done -> open here. None when the
        ticket is no action item's. While Tocsin still has to close the ticket itself (done
        here, the sweeper not there yet), the ticket's older state does not undo that."""
        item = self.store.by_ticket(provider, ticket_id, key)
        if item is None or item.ticket is None:
            return None
        if done is None:  # the event did not say: ask the tool
            done = bool(self.port("ticketing").ticket_done(TicketRef(**item.ticket)))
        actor = Actor(kind=ActorKind.INTEGRATION, id=provider, name=who)
        if item.ticket_sync is TicketSync.COMPLETE and not done:
            return item
        if done and item.status is ActionStatus.OPEN:
            return self.update(item.incident_id, item.id, actor, status="done", from_ticket=True)
        if not done and item.status is ActionStatus.DONE:
            return self.update(item.incident_id, item.id, actor, status="open", from_ticket=True)
        return item

    # --- reminders ----------------------------------------------------------------------------
    def remind_overdue(self, now: datetime | None = None) -> ReminderReport:
        """Each owner of open items past due gets one message a day listing them (from
        `reminders.at` in its time zone). An item is claimed for the day before the message
        goes out; a failed message releases its items, so the next run tries again."""
        cfg = self.config.action_items.reminders
        now = now or self.clock()
        report = ReminderReport()
        if not cfg.enabled:
            report.skipped = "reminders are disabled (action_items.reminders.enabled)"
            return report
        if not cfg.due_now(now):
            report.skipped = f"before {cfg.at} {cfg.timezone}"
            return report
        today = cfg.local_day(now)
        by_owner: dict[str, list[ActionItem]] = defaultdict(list)
        for item in self._all(ActionStatus.OPEN, due_before=today):
            if item.reminded_on == today:
                continue
            if not item.owner:
                report.without_owner += 1
                continue
            by_owner[item.owner].append(item)
        for owner, items in sorted(by_owner.items()):
            claimed = [i for i in items if self._claim(i, today)]
            if not claimed:
                continue
            try:
                self._send_reminder(owner, claimed, today)
            except Exception as exc:  # released below: the next hourly run sends it
                report.failed += len(claimed)
                known = isinstance(exc, IntegrationError | LookupError)
                logger.warning(
                    "action item reminder not sent",
                    extra={
                        "owner": owner,
                        "items": len(claimed),
                        "error": str(exc) if known else type(exc).__name__,
                    },
                    exc_info=not known,
                )
                for item in claimed:  # as read before the claim: its earlier reminder day
                    self._release(item, today)
                continue
            report.owners += 1
            report.items += len(claimed)
            report.sent.append(owner)
        return report

    def _all(self, status: ActionStatus, due_before: date | None = None) -> Iterable[ActionItem]:
        cursor: str | None = None
        while True:
            items, cursor = self.store.by_status(
                status, due_before=due_before, limit=100, cursor=cursor
            )
            yield from items
            if cursor is None:
                return

    def _claim(self, item: ActionItem, today: date) -> bool:
        return self.store.claim_reminder(item.incident_id, item.id, today)

    def _release(self, item: ActionItem, today: date) -> None:
        self.store.release_reminder(item.incident_id, item.id, today, item.reminded_on)

    def _send_reminder(self, owner: str, items: list[ActionItem], today: date) -> None:
        person = self.config.person(owner)
        if person is None:
            raise LookupError(f"{owner!r} is not a configured person")
        chat = self.port("chat")
        user_id = person.chat_id(chat.provider)
        if not user_id:
            raise LookupError(f"{owner} has no {chat.provider} id in the configuration")
        items = sorted(items, key=lambda i: (i.due or today, PRIORITY_ORDER[i.priority]))
        refs = {i.incident_id: self.incidents.get(i.incident_id).ref for i in items}
        lines = []
        for item in items[:20]:
            late = (today - item.due).days if item.due else 0
            ticket = f" [{item.ticket['key']}]" if item.ticket else ""
            lines.append(
                f"• {refs[item.incident_id]} {item.id}: {item.text[:200]}{ticket} — due {item.due} "
                f"({late} day{'s' if late != 1 else ''} overdue, {item.priority.value})"
            )
        if len(items) > 20:
            lines.append(f"… and {len(items) - 20} more")
        links = tuple(
            Link(f"Ticket {i.ticket['key']}", i.ticket["url"])
            for i in items[:5]
            if i.ticket and i.ticket.get("url", "").startswith("http")
        )
        count = f"{len(items)} overdue action item{'s' if len(items) != 1 else ''}"
        chat.direct_message(
            user_id,
            ChatMessage(
                text=f"{person.name}, you have {count}",
                title=f"You have {count}",
                body="\n".join(lines),
                accent="warning",
                links=links,
                context=(
                    "Mark one done with `/incident action done <id>` in its channel, or "
                    "`tocsin actions done <incident> <id>`.",
                ),
                mentions=(user_id,),
            ),
        )

    # --- checks ---------------------------------------------------------------------------------
    def _person(self, person_id: str) -> None:
        if self.config.person(person_id) is None:
            raise InvalidRequestError(f"{person_id!r} is not a configured person (config people)")

    def _priority(self, value: str | None) -> Priority:
        if value is None:
            return self.config.action_items.default_priority
        try:
            return Priority(value.strip().lower())
        except ValueError:
            known = ", ".join(p.value for p in Priority)
            raise InvalidRequestError(f"unknown priority {value!r} (known: {known})") from None

    @staticmethod
    def _status(value: str) -> ActionStatus:
        try:
            return ActionStatus(value.strip().lower())
        except ValueError:
            known = ", ".join(s.value for s in ActionStatus)
            raise InvalidRequestError(f"unknown status {value!r} (known: {known})") from None
