"""The Slack chat adapter, built with `build(...)`, against FakeSlack (tests/fakes/slack.py)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tocsin.integrations import slack
from tocsin.integrations.ports import (
    ChannelRef,
    ChatMessage,
    ChatPort,
    IntegrationError,
    Link,
    MessageRef,
    PermanentIntegrationError,
    RetryableIntegrationError,
)

from tests.fakes.slack import BOT_USER_ID, HUMAN_ID, TEAM_DOMAIN, FakeSlack, validate_blocks

WORKSPACE = f"https://{TEAM_DOMAIN}.slack.com"
HOSTILE = "<!channel> <http://evil|click> & <@U999>"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def adapter(fake: FakeSlack, token: str | None = None, **options: Any) -> slack.SlackChat:
    opts = slack.Options(base_url=fake.url + "/api/", **options)
    return slack.build(opts, {"bot_token": token or fake.token})


def posted(fake: FakeSlack) -> dict[str, Any]:
    """The body of the last chat.postMessage request."""
    body = fake.calls_of("chat.postMessage")[-1].json
    assert isinstance(body, dict)
    return body


# --- module contract --------------------------------------------------------------------------


def test_module_contract() -> None:
    assert (slack.PROVIDER, slack.PORT, slack.SECRET_KEYS) == ("slack", "chat", ("bot_token",))
    opts = slack.Options()
    assert opts.base_url == "https://slack.com/api/"
    assert opts.private_channels is False and opts.workspace_url is None
    with pytest.raises(ValueError):
        slack.Options(unknown=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        slack.Options(workspace_url="acme.slack.com")


@pytest.mark.parametrize(
    "secret", [{}, {"bot_token": ""}, {"bot_token": "  "}, {"other": "xoxb-1"}]
)
def test_build_without_bot_token_is_a_clear_permanent_error(secret: dict[str, str]) -> None:
    with pytest.raises(PermanentIntegrationError) as info:
        slack.build(slack.Options(), secret)
    assert "bot_token" in str(info.value)
    assert "xoxb-1" not in str(info.value)


def test_adapter_implements_the_chat_port(fake: FakeSlack) -> None:
    chat = adapter(fake)
    assert isinstance(chat, ChatPort)
    assert chat.provider == "slack"


# --- render_blocks (pure) ---------------------------------------------------------------------


def full_message(**overrides: Any) -> ChatMessage:
    values: dict[str, Any] = {
        "text": "SEV1: checkout is down",
        "title": "SEV1: checkout is down",
        "body": "Error rate above 50% since 10:02 UTC.",
        "fields": (("Severity", "SEV1"), ("Commander", "Ada")),
        "links": (
            Link("Incident", "https://tocsin.example/incidents/inc-42"),
            Link("Runbook", "https://wiki/rb"),
        ),
        "accent": "danger",
        "context": ("inc-42", "Suggested runbook: checkout-5xx"),
        "mentions": (HUMAN_ID, "U0ONCALL1"),
    }
    values.update(overrides)
    return ChatMessage(**values)


def test_render_blocks_layout() -> None:
    blocks = slack.render_blocks(full_message())
    assert [b["type"] for b in blocks] == ["header", "section", "section", "actions", "context"]
    header, body, fields, actions, context = blocks
    assert header["text"] == {
        "type": "plain_text",
        "text": ":red_circle: SEV1: checkout is down",
        "emoji": True,
    }
    assert body["text"]["type"] == "mrkdwn"
    assert (
        body["text"]["text"] == f"<@{HUMAN_ID}> <@U0ONCALL1>\nError rate above 50% since 10:02 UTC."
    )
    assert body["text"]["verbatim"] is True
    assert [f["text"] for f in fields["fields"]] == ["*Severity*\nSEV1", "*Commander*\nAda"]
    assert [(e["text"]["text"], e["url"]) for e in actions["elements"]] == [
        ("Incident", "https://tocsin.example/incidents/inc-42"),
        ("Runbook", "https://wiki/rb"),
    ]
    assert all(e["type"] == "button" for e in actions["elements"])
    assert len({e["action_id"] for e in actions["elements"]}) == 2
    assert [e["text"] for e in context["elements"]] == ["inc-42", "Suggested runbook: checkout-5xx"]
    assert validate_blocks(blocks) is None


def test_render_blocks_escapes_hostile_text_everywhere() -> None:
    message = ChatMessage(
        text=HOSTILE,
        title=HOSTILE,
        body=HOSTILE,
        fields=((HOSTILE, HOSTILE),),
        links=(Link(HOSTILE, "https://ok.example/"),),
        context=(HOSTILE,),
    )
    blocks = slack.render_blocks(message)
    rendered = json.dumps(blocks)
    assert "<!channel>" not in rendered and "<http" not in rendered and "<@U999>" not in rendered
    escaped = "&lt;!channel&gt; &lt;http://evil|click&gt; &amp; &lt;@U999&gt;"
    assert blocks[0]["text"]["text"] == escaped
    assert blocks[1]["text"]["text"] == escaped
    assert blocks[2]["fields"][0]["text"] == f"*{escaped}*\n{escaped}"
    assert blocks[3]["elements"][0]["text"]["text"] == slack.fit(HOSTILE, 75)
    assert blocks[4]["elements"][0]["text"] == escaped
    assert slack.fallback_text(message) == escaped
    assert validate_blocks(blocks) is None


def test_render_blocks_drops_malformed_mentions_and_bad_links() -> None:
    message = ChatMessage(
        text="x",
        body="hello",
        mentions=("U123ABC", "U1>|<!channel", "not-an-id", "U123ABC", "U123ABD\n"),
        links=(
            Link("js", "javascript:alert(1)"),
            Link("long", "https://x.example/" + "a" * 3000),
            Link("pipe", "https://x.example/a|b"),
            Link("", "https://fine.example/"),
        ),
    )
    blocks = slack.render_blocks(message)
    assert blocks[0]["text"]["text"] == "<@U123ABC>\nhello"
    assert [e["url"] for e in blocks[1]["elements"]] == ["https://fine.example/"]
    assert blocks[1]["elements"][0]["text"]["text"] == "https://fine.example/"
    assert slack.fallback_text(message) == "<@U123ABC> x"


def test_render_blocks_respects_block_kit_limits() -> None:
    message = ChatMessage(
        text="t" * 50_000,
        title="T" * 400,
        body="&" * 4000,
        fields=tuple((f"label {i}", "v" * 5000) for i in range(23)),
        links=tuple(Link("L" * 200, f"https://x.example/{i}") for i in range(30)),
        context=tuple(f"line {i}" for i in range(15)),
    )
    blocks = slack.render_blocks(message)
    assert validate_blocks(blocks) is None
    header = blocks[0]["text"]["text"]
    assert len(header) == 150 and header.endswith("…")
    body = blocks[1]["text"]["text"]
    assert len(body) <= 3000 and body.endswith("&amp;…")  # never half an entity
    field_sections = [b for b in blocks if b["type"] == "section" and "fields" in b]
    assert [len(b["fields"]) for b in field_sections] == [10, 10, 3]
    assert all(len(f["text"]) <= 2000 for b in field_sections for f in b["fields"])
    actions = [b for b in blocks if b["type"] == "actions"]
    assert [len(b["elements"]) for b in actions] == [25, 5]
    assert all(len(e["text"]["text"]) <= 75 for b in actions for e in b["elements"])
    assert [len(b["elements"]) for b in blocks if b["type"] == "context"] == [10, 5]
    assert len(slack.fallback_text(message)) <= 4000


def test_render_blocks_caps_the_message_at_fifty_blocks() -> None:
    message = ChatMessage(text="many", fields=tuple((f"f{i}", "v") for i in range(700)))
    blocks = slack.render_blocks(message)
    assert len(blocks) == 50
    assert blocks[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "(21 more blocks not shown)", "verbatim": True}],
    }
    assert validate_blocks(blocks) is None


def test_render_blocks_of_a_text_only_message() -> None:
    blocks = slack.render_blocks(ChatMessage(text="Status: <investigating>", accent="good"))
    assert blocks == [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": ":large_green_circle:\nStatus: &lt;investigating&gt;",
                "verbatim": True,
            },
        }
    ]


def test_fit_never_splits_an_entity() -> None:
    for limit in range(2, 12):
        cut = slack.fit("a<b&c>d" * 3, limit)
        assert len(cut) <= limit
        body = cut.removesuffix("…")
        assert body == slack.escape(
            body.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        )


def test_fake_rejects_broken_blocks(fake: FakeSlack) -> None:
    """The fake answers invalid_blocks like Slack; the adapter maps it to a permanent error."""
    chat = adapter(fake)
    channel = chat.create_channel("inc-blocks", "")
    from slack_sdk.errors import SlackApiError

    bad = [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]
    with pytest.raises(SlackApiError) as info:
        chat._client.chat_postMessage(channel=channel.id, text="x", blocks=bad)
    assert info.value.response["error"] == "invalid_blocks"
    assert validate_blocks([{"type": "section"}]) is not None
    assert validate_blocks([{"type": "divider"}] * 51) is not None
    assert validate_blocks([{"type": "attachment"}]) is not None
    fake.answer_next("chat.postMessage", "invalid_blocks")
    with pytest.raises(PermanentIntegrationError, match="invalid_blocks"):
        chat.post_message(channel, ChatMessage(text="x"))


# --- channels ---------------------------------------------------------------------------------


def test_create_channel(fake: FakeSlack) -> None:
    chat = adapter(fake, workspace_url="https://acme.slack.com/")
    ref = chat.create_channel("inc-42-checkout-down", "SEV1: checkout is down")
    assert ref.provider == "slack" and ref.name == "inc-42-checkout-down"
    assert ref.id.startswith("C") and ref.id in fake.channels
    assert ref.url == f"https://acme.slack.com/archives/{ref.id}"
    create = fake.calls_of("conversations.create")[0]
    assert create.method == "POST"
    assert create.headers["authorization"] == f"Bearer {fake.token}"
    assert create.form == {"name": "inc-42-checkout-down", "is_private": "0"}
    assert fake.channels[ref.id]["is_private"] is False
    assert fake.channels[ref.id]["purpose"]["value"] == "SEV1: checkout is down"
    assert fake.calls_of("auth.test") == []  # workspace_url given: nothing to ask
    assert fake.violations == []


def test_create_channel_twice_returns_the_same_channel(fake: FakeSlack) -> None:
    chat = adapter(fake)
    first = chat.create_channel("inc-7", "first")
    second = chat.create_channel("inc-7", "second")
    assert second == first
    assert len(fake.channels) == 1  # Slack said name_taken; nothing new was made
    assert [r.form["name"] for r in fake.calls_of("conversations.create")] == ["inc-7", "inc-7"]
    assert len(fake.calls_of("conversations.setPurpose")) == 1
    assert fake.channels[first.id]["purpose"]["value"] == "first"
    assert fake.violations == []


def test_create_channel_private(fake: FakeSlack) -> None:
    chat = adapter(fake, private_channels=True)
    ref = chat.create_channel("inc-8", "")
    assert fake.channels[ref.id]["is_private"] is True
    assert fake.calls_of("conversations.create")[0].form["is_private"] == "1"
    assert fake.calls_of("conversations.setPurpose") == []
    # a retried create finds it among the private channels the bot is in
    assert chat.create_channel("inc-8", "") == ref
    assert fake.calls_of("conversations.list")[-1].form["types"] == "public_channel,private_channel"
    assert fake.violations == []


def test_create_channel_when_the_name_belongs_to_an_archived_channel(fake: FakeSlack) -> None:
    archived = fake.add_channel("inc-9", archived=True)
    chat = adapter(fake)
    with pytest.raises(PermanentIntegrationError, match="archived") as info:
        chat.create_channel("inc-9", "")
    assert archived in str(info.value)
    lists = fake.calls_of("conversations.list")
    assert [r.form["exclude_archived"] for r in lists] == ["1", "0"]
    assert fake.violations == []


def test_create_channel_when_the_name_is_taken_by_a_channel_the_bot_cannot_see(
    fake: FakeSlack,
) -> None:
    fake.add_channel("inc-10", private=True, bot_member=False)
    with pytest.raises(PermanentIntegrationError, match="cannot see"):
        adapter(fake).create_channel("inc-10", "")


@pytest.mark.parametrize(
    "name", ["", "Inc-1", "inc 1", "inc#1", "---", "x" * 81, "inc-ü", "inc-1\n"]
)
def test_invalid_channel_names_are_refused_before_calling_slack(fake: FakeSlack, name: str) -> None:
    chat = adapter(fake)
    with pytest.raises(PermanentIntegrationError, match="invalid channel name"):
        chat.create_channel(name, "")
    with pytest.raises(PermanentIntegrationError, match="invalid channel name"):
        chat.find_channel(name)
    assert fake.requests == []


def test_slack_invalid_name_errors_are_permanent(fake: FakeSlack) -> None:
    fake.answer_next("conversations.create", "invalid_name_specials")
    with pytest.raises(PermanentIntegrationError, match="invalid_name_specials"):
        adapter(fake).create_channel("inc-11", "")


def test_find_channel(fake: FakeSlack) -> None:
    fake.page_size = 2
    for i in range(5):
        fake.add_channel(f"general-{i}")
    fake.add_channel("inc-12", archived=True)
    wanted = fake.add_channel("inc-12b")
    fake.add_channel("inc-secret", private=True)
    chat = adapter(fake)
    assert chat.find_channel("inc-12") is None  # archived channels are not found
    assert chat.find_channel("inc-secret") is None  # public_channel only by default
    ref = chat.find_channel("inc-12b")
    assert ref == ChannelRef("slack", wanted, "inc-12b", f"{WORKSPACE}/archives/{wanted}")
    lists = fake.calls_of("conversations.list")
    assert all(
        r.form["types"] == "public_channel" and r.form["exclude_archived"] == "1" for r in lists
    )
    assert all(r.form["limit"] == "999" for r in lists)
    assert len([r for r in lists if "cursor" in r.form]) >= 3  # it followed next_cursor
    assert len(fake.calls_of("auth.test")) == 1  # the workspace URL is asked once
    assert fake.violations == []


def test_links_are_left_out_when_auth_test_fails(fake: FakeSlack) -> None:
    fake.answer_next("auth.test", "internal_error")
    chat = adapter(fake)
    ref = chat.create_channel("inc-13", "")
    assert ref.url is None
    # asked again later (a failure is not cached)
    assert chat.find_channel("inc-13") == ChannelRef(
        "slack", ref.id, "inc-13", f"{WORKSPACE}/archives/{ref.id}"
    )


# --- topic, invites ---------------------------------------------------------------------------


def test_set_topic_truncates_to_250_characters(fake: FakeSlack) -> None:
    chat = adapter(fake)
    channel = chat.create_channel("inc-14", "")
    chat.set_topic(channel, "SEV2 | checkout slow | IC: Ada")
    assert fake.channels[channel.id]["topic"]["value"] == "SEV2 | checkout slow | IC: Ada"
    chat.set_topic(channel, "x" * 600)
    topic = fake.channels[channel.id]["topic"]["value"]
    assert len(topic) == 250 and topic.endswith("…")
    assert fake.violations == []


def test_invite_adds_new_members_and_skips_present_ones(fake: FakeSlack) -> None:
    fake.add_users("U0000000A", "U0000000B", "U0000000C")
    chat = adapter(fake)
    channel = chat.create_channel("inc-15", "")
    assert chat.invite(channel, ["U0000000A", HUMAN_ID, "U0000000A"]) == ["U0000000A", HUMAN_ID]
    assert fake.calls_of("conversations.invite")[0].form["users"] == f"U0000000A,{HUMAN_ID}"
    # already members and the bot itself are not failures; only the new user is reported
    added = chat.invite(channel, [HUMAN_ID, BOT_USER_ID, "U0000000B", "U0000000A"])
    assert added == ["U0000000B"]
    assert fake.members[channel.id] == [BOT_USER_ID, "U0000000A", HUMAN_ID, "U0000000B"]
    # everybody is already there: nothing added, no error
    assert chat.invite(channel, ["U0000000A", "U0000000B"]) == []
    assert chat.invite(channel, []) == []
    assert fake.violations == []


def test_invite_without_per_user_errors_falls_back_to_one_by_one(fake: FakeSlack) -> None:
    fake.add_users("U0000000A", "U0000000B")
    chat = adapter(fake)
    channel = chat.create_channel("inc-16", "")
    fake.answer_next("conversations.invite", "already_in_channel")  # no `errors` array
    assert chat.invite(channel, ["U0000000A", "U0000000B"]) == ["U0000000A", "U0000000B"]
    assert [r.form["users"] for r in fake.calls_of("conversations.invite")] == [
        "U0000000A,U0000000B",
        "U0000000A",
        "U0000000B",
    ]


def test_invite_batches_at_most_1000_users(fake: FakeSlack) -> None:
    users = [f"U{i:08d}" for i in range(1500)]
    fake.add_users(*users)
    chat = adapter(fake)
    channel = chat.create_channel("inc-17", "")
    assert chat.invite(channel, users) == users
    sizes = [len(r.form["users"].split(",")) for r in fake.calls_of("conversations.invite")]
    assert sizes == [1000, 500]
    assert fake.violations == []


def test_invite_unknown_user_is_permanent(fake: FakeSlack) -> None:
    chat = adapter(fake)
    channel = chat.create_channel("inc-18", "")
    with pytest.raises(PermanentIntegrationError, match="U0NOBODY0: user_not_found"):
        chat.invite(channel, [HUMAN_ID, "U0NOBODY0"])
    with pytest.raises(PermanentIntegrationError, match="not Slack user ids"):
        chat.invite(channel, ["U1,U2"])


# --- messages, pins, bookmarks ----------------------------------------------------------------


def test_post_message(fake: FakeSlack) -> None:
    chat = adapter(fake)
    channel = chat.create_channel("inc-19", "")
    ref = chat.post_message(channel, full_message(title=HOSTILE))
    stored = fake.messages[channel.id][0]
    assert ref == MessageRef(
        "slack",
        channel.id,
        stored["ts"],
        f"{WORKSPACE}/archives/{channel.id}/p{stored['ts'].replace('.', '')}",
    )
    assert stored["ts"].split(".")[1] == "004200"  # the fixture's ts shape
    body = posted(fake)
    assert (
        fake.calls_of("chat.postMessage")[0].headers["content-type"].startswith("application/json")
    )
    assert body["channel"] == channel.id
    assert body["text"] == f"<@{HUMAN_ID}> <@U0ONCALL1> SEV1: checkout is down"
    assert body["blocks"] == slack.render_blocks(full_message(title=HOSTILE))
    assert "<!channel>" not in json.dumps(body)
    assert body["unfurl_links"] is False
    assert fake.violations == []


def test_post_message_to_an_archived_channel_is_permanent(fake: FakeSlack) -> None:
    channel_id = fake.add_channel("inc-20", archived=True)
    with pytest.raises(PermanentIntegrationError, match="is_archived"):
        adapter(fake).post_message(
            ChannelRef("slack", channel_id, "inc-20"), ChatMessage(text="hi")
        )


def test_pin_is_idempotent(fake: FakeSlack) -> None:
    chat = adapter(fake)
    channel = chat.create_channel("inc-21", "")
    message = chat.post_message(channel, ChatMessage(text="Incident declared"))
    chat.pin(message)
    chat.pin(message)  # already_pinned is fine
    assert fake.pins[channel.id] == [message.id]
    assert [r.form for r in fake.calls_of("pins.add")] == [
        {"channel": channel.id, "timestamp": message.id}
    ] * 2
    assert fake.violations == []


def test_add_link_is_idempotent_on_the_url(fake: FakeSlack) -> None:
    chat = adapter(fake)
    channel = chat.create_channel("inc-22", "")
    chat.add_link(channel, "Zoom bridge", "https://zoom.us/j/123")
    chat.add_link(channel, "Zoom bridge (again)", "https://zoom.us/j/123")
    chat.add_link(channel, "Jira", "https://acme.atlassian.net/browse/OPS-1")
    assert [(b["title"], b["link"], b["type"]) for b in fake.bookmarks[channel.id]] == [
        ("Zoom bridge", "https://zoom.us/j/123", "link"),
        ("Jira", "https://acme.atlassian.net/browse/OPS-1", "link"),
    ]
    assert len(fake.calls_of("bookmarks.add")) == 2
    assert len(fake.calls_of("bookmarks.list")) == 3
    with pytest.raises(PermanentIntegrationError):
        chat.add_link(channel, "bad", "javascript:alert(1)")
    assert fake.violations == []


# --- direct messages --------------------------------------------------------------------------


def test_direct_message_opens_the_dm_and_posts_the_same_blocks(fake: FakeSlack) -> None:
    chat = adapter(fake)
    message = full_message(mentions=(HUMAN_ID,))
    ref = chat.direct_message(HUMAN_ID, message)
    [open_call] = fake.calls_of("conversations.open")
    assert open_call.method == "POST"
    assert open_call.headers["authorization"] == f"Bearer {fake.token}"
    assert open_call.form == {"users": HUMAN_ID}
    dm = fake.ims[HUMAN_ID]
    assert dm.startswith("D")
    [stored] = fake.dm(HUMAN_ID)
    assert ref == MessageRef(
        "slack", dm, stored["ts"], f"{WORKSPACE}/archives/{dm}/p{stored['ts'].replace('.', '')}"
    )
    body = posted(fake)
    assert body["channel"] == dm
    assert body["blocks"] == slack.render_blocks(message)
    assert body["text"] == slack.fallback_text(message)
    assert body["unfurl_links"] is False
    assert fake.violations == []


def test_direct_messages_to_the_same_person_share_one_dm(fake: FakeSlack) -> None:
    fake.add_users("U0000000A")
    chat = adapter(fake)
    first = chat.direct_message(HUMAN_ID, ChatMessage(text="page 1"))
    second = chat.direct_message(HUMAN_ID, ChatMessage(text="page 2"))
    other = chat.direct_message("U0000000A", ChatMessage(text="page 3"))
    assert first.channel_id == second.channel_id != other.channel_id
    assert [m["text"] for m in fake.dm(HUMAN_ID)] == ["page 1", "page 2"]
    assert [m["text"] for m in fake.dm("U0000000A")] == ["page 3"]
    # a DM is no channel: lookups do not see it, private channels included
    fake.add_channel("inc-private", private=True)
    listed = chat._client.conversations_list(types="public_channel,private_channel")
    assert [c["name"] for c in listed["channels"]] == ["inc-private"]
    assert adapter(fake, private_channels=True).find_channel("inc-none") is None
    assert fake.violations == []


@pytest.mark.parametrize("user", ["", "C0123ABCD", "u123abc", "U1,U2", "<!channel>", "D0123ABC"])
def test_direct_message_refuses_what_is_not_a_user_id(fake: FakeSlack, user: str) -> None:
    with pytest.raises(PermanentIntegrationError, match="not a Slack user id"):
        adapter(fake).direct_message(user, ChatMessage(text="x"))
    assert fake.requests == []


def test_direct_message_to_an_unknown_or_disabled_user_is_permanent(fake: FakeSlack) -> None:
    fake.add_users("U0000000D")
    fake.disabled_users.add("U0000000D")
    chat = adapter(fake)
    with pytest.raises(PermanentIntegrationError, match=r"conversations\.open -> user_not_found"):
        chat.direct_message("U0NOBODY0", ChatMessage(text="x"))
    with pytest.raises(PermanentIntegrationError, match="user_disabled"):
        chat.direct_message("U0000000D", ChatMessage(text="x"))
    assert fake.calls_of("chat.postMessage") == []


def test_direct_message_without_im_write_names_the_scope(fake: FakeSlack) -> None:
    fake.scopes.discard("im:write")
    with pytest.raises(PermanentIntegrationError, match="needs the im:write scope"):
        adapter(fake).direct_message(HUMAN_ID, ChatMessage(text="x"))
    assert fake.calls_of("chat.postMessage") == []


def test_direct_message_rate_limited_is_retryable(fake: FakeSlack) -> None:
    fake.answer_next("conversations.open", "ratelimited", status=429, headers={"Retry-After": "4"})
    with pytest.raises(RetryableIntegrationError) as info:
        adapter(fake).direct_message(HUMAN_ID, ChatMessage(text="x"))
    assert info.value.retry_after == 4 and "conversations.open" in info.value.message


def test_direct_message_answer_without_a_channel_is_permanent(fake: FakeSlack) -> None:
    fake.answer_next("conversations.open", "")  # ok false and no error: a broken answer
    with pytest.raises(PermanentIntegrationError):
        adapter(fake).direct_message(HUMAN_ID, ChatMessage(text="x"))


# --- errors -----------------------------------------------------------------------------------


def test_429_with_retry_after_is_retryable(fake: FakeSlack) -> None:
    chat = adapter(fake)
    channel = chat.create_channel("inc-23", "")
    fake.fail_next(429, headers={"Retry-After": "7"}, body={"ok": False, "error": "ratelimited"})
    started = time.monotonic()
    with pytest.raises(RetryableIntegrationError) as info:
        chat.post_message(channel, ChatMessage(text="hi"))
    assert time.monotonic() - started < 1  # slack_sdk did not sleep on it
    assert info.value.retry_after == 7 and info.value.status == 429
    assert "chat.postMessage" in str(info.value) and "ratelimited" in str(info.value)
    assert len(fake.calls_of("chat.postMessage")) == 1


@pytest.mark.parametrize(
    "error",
    ["ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"],
)
def test_transient_slack_errors_are_retryable(fake: FakeSlack, error: str) -> None:
    chat = adapter(fake)
    channel = chat.create_channel("inc-24", "")
    fake.answer_next(
        "conversations.setTopic",
        error,
        headers={"Retry-After": "3"} if error == "ratelimited" else None,
    )
    with pytest.raises(RetryableIntegrationError, match=error) as info:
        chat.set_topic(channel, "t")
    if error == "ratelimited":
        assert info.value.retry_after == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retryable(fake: FakeSlack, status: int) -> None:
    chat = adapter(fake)
    fake.fail_next(
        status, body=b"<html>upstream trouble</html>", headers={"Content-Type": "text/html"}
    )
    with pytest.raises(RetryableIntegrationError) as info:
        chat.create_channel("inc-25", "")
    assert info.value.status == status
    assert len(fake.calls_of("conversations.create")) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_other_http_errors_are_permanent(fake: FakeSlack, status: int) -> None:
    chat = adapter(fake)
    fake.fail_next(status, body={"ok": False, "error": "invalid_request"})
    with pytest.raises(PermanentIntegrationError) as info:
        chat.create_channel("inc-26", "")
    assert info.value.status == status


def test_wrong_token_is_permanent_and_never_shown() -> None:
    secret_token = "xoxb-999-888-wrongtokenvalue"
    with FakeSlack() as fake:
        chat = adapter(fake, token=secret_token)
        with pytest.raises(PermanentIntegrationError, match="invalid_auth") as info:
            chat.create_channel("inc-27", "")
    assert secret_token not in str(info.value) and secret_token not in repr(info.value.args)


def test_missing_scope_names_the_needed_scope(fake: FakeSlack) -> None:
    fake.answer_next(
        "bookmarks.list", "missing_scope", needed="bookmarks:read", provided="chat:write"
    )
    chat = adapter(fake)
    channel = chat.create_channel("inc-28", "")
    with pytest.raises(PermanentIntegrationError, match="bookmarks:read") as info:
        chat.add_link(channel, "x", "https://x.example/")
    assert "missing_scope" in str(info.value)


@pytest.mark.parametrize(
    "error", ["channel_not_found", "not_authed", "not_in_channel", "is_archived"]
)
def test_other_slack_errors_are_permanent(fake: FakeSlack, error: str) -> None:
    fake.answer_next("pins.add", error)
    with pytest.raises(PermanentIntegrationError, match=error):
        adapter(fake).pin(MessageRef("slack", "C00000001", "1596183881.004200"))


def test_network_errors_are_retryable() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    chat = slack.build(
        slack.Options(base_url=f"http://127.0.0.1:{port}/api/"), {"bot_token": "xoxb-net-secret"}
    )
    started = time.monotonic()
    with pytest.raises(RetryableIntegrationError, match=r"conversations\.list") as info:
        chat.find_channel("inc-29")
    assert time.monotonic() - started < 2  # one short connection retry at most
    assert "xoxb-net-secret" not in str(info.value)


def test_the_token_never_appears_in_any_error(fake: FakeSlack) -> None:
    chat = adapter(fake)
    channel = chat.create_channel("inc-30", "")
    failures: list[IntegrationError] = []
    scripted: list[tuple[str, dict[str, Any]]] = [
        ("chat.postMessage", {"error": "invalid_blocks"}),
        ("conversations.invite", {"error": "missing_scope", "needed": "channels:manage"}),
        ("bookmarks.add", {"error": "internal_error"}),
    ]
    for method, body in scripted:
        fake.answer_next(method, **body)
    for call in (
        lambda: chat.post_message(channel, ChatMessage(text=fake.token)),
        lambda: chat.invite(channel, [HUMAN_ID]),
        lambda: chat.add_link(channel, "x", "https://x.example/"),
    ):
        with pytest.raises(IntegrationError) as info:
            call()
        failures.append(info.value)
    fake.fail_next(429, headers={"Retry-After": "1"}, body={"ok": False, "error": "ratelimited"})
    with pytest.raises(IntegrationError) as info:
        chat.set_topic(channel, "t")
    failures.append(info.value)
    for failure in failures:
        assert fake.token not in str(failure) and fake.token not in failure.message
