"""Native paging through chat: a direct message from the configured chat adapter.

`ChatPaging(chat)` is a PagingPort over any ChatPort: `send(page, to)` messages the chat user
`to` (a Slack user id, an Entra user object id for Teams, any id for the local adapter) with
`chat.direct_message`, rendered by `render_page`: the title with the severity's accent, the
severity, service and escalation level as fields, an "Acknowledge" link (the page's signed ack
link) before the page's own links, the details as small context lines, and the person
mentioned. Errors are the chat adapter's own (a `teams_webhook` cannot message a person and
says so permanently).

It has no options or secret of its own: whoever builds the paging methods hands it the chat
adapter already built from `integrations.chat`.
"""

from __future__ import annotations

from tocsin.domain.chatops import ACKNOWLEDGE, ESCALATE
from tocsin.integrations.ports import (
    Action,
    ChatMessage,
    ChatPort,
    Link,
    Page,
    PageRef,
    PermanentIntegrationError,
)

PROVIDER = "chat"
PORT = "paging"

#: severity -> ChatMessage accent
SEVERITY_ACCENT = {"SEV1": "danger", "SEV2": "warning"}
#: used when the severity is not listed: the PagerDuty-style urgency
URGENCY_ACCENT = {"critical": "danger"}
ACK_LABEL = "Acknowledge"
#: chats whose message buttons reach Tocsin's chat-ops endpoint
INTERACTIVE = frozenset({"slack"})
MAX_CONTEXT = 10
CONTEXT_LINE_MAX = 300
BODY_MAX = 2_000


def _line(text: str) -> str:
    return " ".join((text or "").split())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def accent(page: Page) -> str | None:
    """danger for SEV1 (or a critical urgency), warning for SEV2, else none."""
    severity = page.severity.strip().upper()
    return SEVERITY_ACCENT.get(severity) or URGENCY_ACCENT.get(page.urgency.strip().lower())


def render_page(page: Page, to: str | None = None, interactive: bool = False) -> ChatMessage:
    """The chat message for `page`, mentioning `to` when given. `interactive` (a chat whose
    buttons reach chat-ops: Slack) puts Acknowledge and Escalate buttons on it instead of the
    signed acknowledgement link."""
    title = _line(page.title) or page.label
    fields: list[tuple[str, str]] = [("Severity", _line(page.severity))]
    if page.service:
        fields.append(("Service", _line(page.service)))
    fields.append(("Escalation level", str(page.level)))
    fields.append(("Incident", _line(page.label)))
    links: list[Link] = []
    actions: tuple[Action, ...] = ()
    if interactive and page.incident_id:
        actions = (
            Action(ACK_LABEL, ACKNOWLEDGE, page.incident_id, style="primary"),
            Action("Escalate", ESCALATE, page.incident_id),
        )
    elif page.ack_url:
        links.append(Link(ACK_LABEL, page.ack_url.strip()))
    links += [link for link in page.links if link.url != page.ack_url]
    context = [
        _cut(f"{_line(key)}: {_line(value)}", CONTEXT_LINE_MAX) for key, value in page.details
    ]
    if len(context) > MAX_CONTEXT:
        more = len(context) - (MAX_CONTEXT - 1)
        context = [*context[: MAX_CONTEXT - 1], f"({more} more details not shown)"]
    text = f"Page: {title} ({_line(page.label)})"
    if page.ack_url:
        text += f". {ACK_LABEL}: {page.ack_url.strip()}"
    return ChatMessage(
        text=text,
        title=title,
        body=_cut(page.body.strip(), BODY_MAX) if page.body.strip() else None,
        fields=tuple(fields),
        links=tuple(links),
        accent=accent(page),
        context=tuple(context),
        mentions=(to,) if to else (),
        actions=actions,
    )


class ChatPaging:
    """The paging port over a chat adapter's direct messages."""

    def __init__(self, chat: ChatPort) -> None:
        self.chat = chat
        self.provider: str = chat.provider

    def send(self, page: Page, to: str | None) -> PageRef:
        user = (to or "").strip()
        if not user:
            raise PermanentIntegrationError(
                self.provider, "send: a chat page needs the person's chat user id"
            )
        message = self.chat.direct_message(
            user, render_page(page, user, interactive=self.provider in INTERACTIVE)
        )
        return PageRef(self.provider, message.id, user)

    def acknowledge(self, page: Page) -> None:
        """The message stays as sent: nothing to do."""

    def resolve(self, page: Page) -> None:
        """The message stays as sent: nothing to do."""
