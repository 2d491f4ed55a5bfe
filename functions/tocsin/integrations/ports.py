"""Ports: what the response workflow needs from chat, conferencing and ticketing tools.

Every adapter implements one port with these typed methods and returns typed refs. Errors are
either retryable (429, 5xx, timeouts: the state machine retries the step with backoff) or
permanent (bad credentials, missing scope, invalid request: recorded on the timeline, the
response goes on). Creation methods are idempotent on a deterministic key: `find_*` looks the
thing up before `create_*` makes it, so a retried step never makes a second one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol, runtime_checkable

# --- errors -----------------------------------------------------------------------------------


class IntegrationError(Exception):
    """A vendor call that failed. `provider` names the adapter (slack, jira, ...)."""

    retryable = False

    def __init__(self, provider: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.message = message
        self.status = status


class RetryableIntegrationError(IntegrationError):
    """Rate limited (429), vendor error (5xx), timeout or connection failure: try again later.
    `retry_after` is the vendor's hint in seconds, when it gave one."""

    retryable = True

    def __init__(
        self,
        provider: str,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(provider, message, status)
        self.retry_after = retry_after


class PermanentIntegrationError(IntegrationError):
    """Retrying cannot help (401/403/404/400, missing scope, invalid name)."""


# --- refs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelRef:
    provider: str
    id: str  # Slack channel id (C…); Teams "teamId/channelId"; webhook: the webhook's name
    name: str
    url: str | None = None


@dataclass(frozen=True)
class MessageRef:
    provider: str
    channel_id: str
    id: str  # Slack ts; Teams message id
    url: str | None = None


@dataclass(frozen=True)
class BridgeRef:
    provider: str
    id: str
    join_url: str
    #: phone dial-in, passcode: whatever the vendor gives that people need to join
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TicketRef:
    provider: str
    id: str
    key: str  # human key: OPS-123 (Jira), the task gid (Asana)
    url: str


@dataclass(frozen=True)
class PageRef:
    """One notification that left Tocsin."""

    provider: str  # pagerduty, opsgenie, sns, ses, slack, teams, local
    id: str  # PagerDuty dedup_key; Opsgenie requestId; SNS/SES MessageId; chat message id
    #: where it went, masked for the timeline (+1555•••4567, a•••@example.com, a chat id)
    to: str = ""


# --- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Action:
    """An interactive control on a message: a button, or a select when `options` are given.
    Clicking it delivers `action_id` and `value` (for a select: the chosen option's value) to
    the chat-ops endpoint (Slack: a `block_actions` interaction; Teams: an Adaptive Card
    `Action.Submit` whose data is `{"action": action_id, "value": value}`)."""

    label: str
    action_id: str
    value: str
    #: "primary" | "danger" | None
    style: str | None = None
    #: (label, value) choices: rendered as a select instead of a button
    options: tuple[tuple[str, str], ...] = ()
    #: a question asked before the click counts (e.g. "Resolve INC-42?")
    confirm: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    """A provider-neutral message; Slack renders it as Block Kit, Teams as an Adaptive Card.

    `text` is the plain-text fallback (notifications, screen readers) and always set."""

    text: str
    title: str | None = None
    body: str | None = None  # Markdown-ish paragraph (mrkdwn in Slack, TextBlock in Teams)
    fields: tuple[tuple[str, str], ...] = ()  # label -> value facts
    links: tuple[Link, ...] = ()
    #: "danger" | "warning" | "good" | None: accent for severity
    accent: str | None = None
    #: plain-text lines shown small under the message (e.g. runbook suggestions, ids)
    context: tuple[str, ...] = ()
    #: user ids (in the provider's namespace) to mention at the start of the message
    mentions: tuple[str, ...] = ()
    #: interactive controls (incident summary, pages): Acknowledge, Escalate, Set severity…
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Page:
    """A provider-neutral page: what the person (or the paging service) needs to act.

    `key` is stable per incident and escalation (PagerDuty `dedup_key`, Opsgenie `alias`), so
    a page sent twice is one alert at the vendor. `ack_url` is a signed, expiring link that
    acknowledges without logging in (SMS, e-mail, chat)."""

    key: str
    incident_id: str
    title: str  # "SEV1 checkout: p99 latency above 2s" (one line)
    severity: str  # SEV1…
    #: PagerDuty Events v2 severity: critical | error | warning | info
    urgency: str
    service: str | None = None
    body: str = ""
    links: tuple[Link, ...] = ()
    ack_url: str | None = None
    #: escalation level (1-based) and round, for the text ("level 2 of 3")
    level: int = 1
    details: tuple[tuple[str, str], ...] = ()
    #: the human reference people know the incident by (INC-42); the id when not numbered yet
    ref: str = ""

    @property
    def label(self) -> str:
        return self.ref or self.incident_id


# --- ports ------------------------------------------------------------------------------------


@runtime_checkable
class ChatPort(Protocol):
    provider: str

    def find_channel(self, name: str) -> ChannelRef | None:
        """The channel with exactly this name, or None."""

    def create_channel(self, name: str, description: str) -> ChannelRef:
        """Create the channel; if it already exists (a race), return the existing one."""

    def set_topic(self, channel: ChannelRef, topic: str) -> None: ...

    def invite(self, channel: ChannelRef, user_ids: list[str]) -> list[str]:
        """Add users; already-members are not an error. Returns the ids actually added."""

    def post_message(self, channel: ChannelRef, message: ChatMessage) -> MessageRef: ...

    def pin(self, message: MessageRef) -> None:
        """Pin a message; already pinned is not an error."""

    def add_link(self, channel: ChannelRef, title: str, url: str) -> None:
        """Make a link easy to find in the channel (Slack bookmark, Teams tab or message).
        Idempotent on the URL."""

    def direct_message(self, user_id: str, message: ChatMessage) -> MessageRef:
        """A private message to one person (paging through chat): Slack opens the DM with
        `conversations.open`, Teams a one-on-one chat. Adapters that cannot reach a person
        privately (an incoming webhook) raise PermanentIntegrationError."""


@runtime_checkable
class ConferencingPort(Protocol):
    provider: str

    def find_bridge(self, key: str) -> BridgeRef | None:
        """The bridge created earlier for this key (the incident id), or None."""

    def create_bridge(self, key: str, topic: str) -> BridgeRef: ...


@runtime_checkable
class TicketingPort(Protocol):
    provider: str

    def find_ticket(self, key: str) -> TicketRef | None:
        """The ticket created earlier for this key (the incident id), or None."""

    def create_ticket(
        self,
        key: str,
        summary: str,
        description: str,
        priority: str | None,
        due: date | None = None,
    ) -> TicketRef:
        """Create the ticket, marked with `key` so that `find_ticket(key)` finds it. `due` is
        the day it is due (an action item's deadline); a project that cannot take a due date
        (Jira: not on its create screen) gets the ticket without one."""

    def add_link(self, ticket: TicketRef, title: str, url: str) -> None:
        """Link an outside page (the incident channel, the incident) from the ticket.
        Idempotent on the URL."""

    def add_comment(self, ticket: TicketRef, text: str) -> None: ...

    def ticket_done(self, ticket: TicketRef) -> bool:
        """Whether the ticket is finished now (Jira: its status is in the done category,
        whatever this workflow names it; Asana: the task is completed)."""

    def complete_ticket(self, ticket: TicketRef) -> bool:
        """Move the ticket to done. Idempotent: True when it changed something, False when it
        was done already. When the tool's workflow offers no way to done from where the ticket
        is, PermanentIntegrationError says so."""


@runtime_checkable
class PagingPort(Protocol):
    """Sends a page. Native methods (sms, email, chat) address one person (`to`: a phone
    number, an e-mail address, a chat user id); paging services (PagerDuty, Opsgenie) route
    the page themselves and take `to=None` (or an Opsgenie responder)."""

    provider: str

    def send(self, page: Page, to: str | None) -> PageRef: ...

    def acknowledge(self, page: Page) -> None:
        """Tell the vendor the incident was acknowledged in Tocsin (no-op for native)."""

    def resolve(self, page: Page) -> None:
        """Tell the vendor the incident is resolved (no-op for native)."""
