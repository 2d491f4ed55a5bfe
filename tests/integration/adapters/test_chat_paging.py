"""Paging through chat (`ChatPaging` over a chat adapter's `direct_message`): the rendering,
and the page end to end through Slack (FakeSlack), Teams (FakeGraph), a Teams webhook (which
cannot message a person) and the local adapter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tocsin.integrations import local, slack, teams
from tocsin.integrations.chat_paging import ChatPaging, accent, render_page
from tocsin.integrations.ports import (
    ChatMessage,
    Link,
    MessageRef,
    Page,
    PageRef,
    PagingPort,
    PermanentIntegrationError,
)

from tests.fakes.slack import HUMAN_ID, FakeSlack
from tests.fakes.teams import ADELE, CLIENT_ID, SERVICE_ACCOUNT, TEAM_ID, TENANT_ID, FakeGraph

ACK = "https://tocsin.example.com/ack/01HZX5R8W8KQ3TB7M2N9PZV4AC?sig=4f3c2a1b"


def page(**overrides: Any) -> Page:
    values: dict[str, Any] = {
        "key": "INC-42#2",
        "incident_id": "INC-42",
        "title": "SEV1 checkout: p99 latency above 2s",
        "severity": "SEV1",
        "urgency": "critical",
        "service": "checkout",
        "body": "Error rate above 50% since 10:02 UTC.",
        "links": (
            Link("Incident", "https://tocsin.example.com/incidents/INC-42"),
            Link("Runbook", "https://wiki.example.com/rb/checkout"),
        ),
        "ack_url": ACK,
        "level": 2,
        "details": (("region", "eu-west-1"), ("alert", "HighErrorRate")),
    }
    values.update(overrides)
    return Page(**values)


class RecordingChat:
    """A chat adapter that only records direct messages."""

    provider = "recording"

    def __init__(self) -> None:
        self.sent: list[tuple[str, ChatMessage]] = []

    def direct_message(self, user_id: str, message: ChatMessage) -> MessageRef:
        self.sent.append((user_id, message))
        return MessageRef(self.provider, f"D-{user_id}", f"m{len(self.sent)}")


# --- render_page (pure) -----------------------------------------------------------------------


def test_render_page() -> None:
    message = render_page(page(), "U0ONCALL1")
    assert message.title == "SEV1 checkout: p99 latency above 2s"
    assert message.body == "Error rate above 50% since 10:02 UTC."
    assert message.accent == "danger"
    assert message.fields == (
        ("Severity", "SEV1"),
        ("Service", "checkout"),
        ("Escalation level", "2"),
        ("Incident", "INC-42"),
    )
    assert message.links == (
        Link("Acknowledge", ACK),
        Link("Incident", "https://tocsin.example.com/incidents/INC-42"),
        Link("Runbook", "https://wiki.example.com/rb/checkout"),
    )
    assert message.context == ("region: eu-west-1", "alert: HighErrorRate")
    assert message.mentions == ("U0ONCALL1",)
    assert message.text == f"Page: SEV1 checkout: p99 latency above 2s (INC-42). Acknowledge: {ACK}"


@pytest.mark.parametrize(
    ("severity", "urgency", "expected"),
    [
        ("SEV1", "critical", "danger"),
        ("sev1", "error", "danger"),
        ("SEV2", "error", "warning"),
        ("SEV3", "warning", None),
        ("SEV4", "info", None),
        ("P1", "critical", "danger"),  # not a Tocsin severity: the urgency decides
    ],
)
def test_accent_follows_the_severity(severity: str, urgency: str, expected: str | None) -> None:
    assert accent(page(severity=severity, urgency=urgency)) == expected


def test_render_page_without_ack_link_service_body_or_mention() -> None:
    message = render_page(page(ack_url=None, service=None, body="  ", links=(), details=()))
    assert message.links == ()
    assert ("Service", "checkout") not in message.fields
    assert message.body is None and message.mentions == () and message.context == ()
    assert "Acknowledge" not in message.text


def test_render_page_does_not_repeat_the_ack_link_and_caps_the_details() -> None:
    message = render_page(
        page(
            links=(Link("ack", ACK), Link("Runbook", "https://wiki/x")),
            details=tuple((f"k{i}", "v" * 1000) for i in range(15)),
        )
    )
    assert [link.url for link in message.links] == [ACK, "https://wiki/x"]
    assert len(message.context) == 10
    assert message.context[-1] == "(6 more details not shown)"
    assert all(len(line) <= 300 for line in message.context)


# --- the paging port ----------------------------------------------------------------------------


def test_chat_paging_is_a_paging_port_named_after_the_chat() -> None:
    chat = RecordingChat()
    paging = ChatPaging(chat)  # type: ignore[arg-type]
    assert isinstance(paging, PagingPort)
    assert paging.provider == "recording"
    ref = paging.send(page(), " U0ONCALL1 ")
    assert ref == PageRef("recording", "m1", "U0ONCALL1")
    [(user, message)] = chat.sent
    assert user == "U0ONCALL1" and message == render_page(page(), "U0ONCALL1")
    paging.acknowledge(page())
    paging.resolve(page())
    assert len(chat.sent) == 1


@pytest.mark.parametrize("to", [None, "", "   "])
def test_a_page_without_a_person_is_permanent(to: str | None) -> None:
    chat = RecordingChat()
    with pytest.raises(PermanentIntegrationError, match="chat user id"):
        ChatPaging(chat).send(page(), to)  # type: ignore[arg-type]
    assert chat.sent == []


# --- through real adapters --------------------------------------------------------------------


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as server:
        yield server


def test_page_through_slack(fake_slack: FakeSlack) -> None:
    chat = slack.build(
        slack.Options(base_url=fake_slack.url + "/api/"), {"bot_token": fake_slack.token}
    )
    paging = ChatPaging(chat)
    ref = paging.send(page(), HUMAN_ID)
    [posted] = fake_slack.dm(HUMAN_ID)
    assert ref == PageRef("slack", posted["ts"], HUMAN_ID)
    assert posted["text"].startswith(f"<@{HUMAN_ID}> Page: SEV1 checkout")
    (actions,) = [
        b
        for b in posted["blocks"]
        if b["type"] == "actions"
        and "action_id" in b["elements"][0]
        and b["elements"][0]["action_id"].startswith("tocsin.incident.")
    ]
    # Slack's buttons reach chat-ops: Acknowledge and Escalate act on the incident in place
    # (the signed link is for chats without interactivity, and SMS/e-mail)
    ack, escalate = actions["elements"]
    assert (ack["text"]["text"], ack["action_id"], ack["style"]) == (
        "Acknowledge",
        "tocsin.incident.acknowledge",
        "primary",
    )
    assert ack["value"] == escalate["value"] == page().incident_id and "url" not in ack
    assert escalate["action_id"] == "tocsin.incident.escalate"
    assert ACK not in json.dumps(posted["blocks"])
    assert posted["blocks"][0]["text"]["text"].startswith(":red_circle: SEV1 checkout")
    # a second page (the next level) goes to the same DM
    paging.send(page(level=3), HUMAN_ID)
    assert len(fake_slack.dm(HUMAN_ID)) == 2 and len(fake_slack.ims) == 1
    assert fake_slack.violations == []


def test_page_through_teams(graph: FakeGraph) -> None:
    options = teams.Options(
        base_url=graph.graph,
        login_url=graph.url,
        tenant_id=TENANT_ID,
        client_id=CLIENT_ID,
        team_id=TEAM_ID,
    )
    paging = ChatPaging(teams.build(options, graph.secret))
    ref = paging.send(page(), ADELE)
    chat = graph.one_on_one(SERVICE_ACCOUNT, ADELE)
    assert chat is not None
    [message] = chat["_messages"]
    assert ref == PageRef("teams", message["id"], ADELE)
    card = json.loads(message["attachments"][0]["content"])
    assert card["actions"][0] == {"type": "Action.OpenUrl", "title": "Acknowledge", "url": ACK}
    assert message["mentions"][0]["mentioned"]["user"]["id"] == ADELE
    assert message["importance"] == "high"
    assert graph.violations == []


def test_a_teams_webhook_cannot_page_a_person() -> None:
    hook = teams.build_webhook(teams.WebhookOptions(), {"webhook_url": "https://x.test/hook/abc"})
    with pytest.raises(PermanentIntegrationError, match="cannot message a person") as info:
        ChatPaging(hook).send(page(), ADELE)
    assert info.value.provider == "teams_webhook"


def test_page_through_the_local_chat_adapter(aws: Any) -> None:
    chat = local.ADAPTERS["chat"]["build"](local.Options(), {"table": aws.table})
    paging = ChatPaging(chat)
    ref = paging.send(page(), "oncall-ada")
    assert ref.provider == "local" and ref.to == "oncall-ada"
    [item] = chat.direct_messages("oncall-ada")
    assert item["sk"] == ref.id and item["to"] == "oncall-ada" and item["direct"] is True
    assert item["type"] == "local_outbox"
    assert item["message"]["links"][0] == {"label": "Acknowledge", "url": ACK}
