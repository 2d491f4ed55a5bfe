"""Slack Events API payloads -> ChatEvents (the fixture, and the shapes of Slack's event
reference pages): what is captured, what is not, and what is refused as malformed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tocsin.domain.chatevents import ChatEventKind
from tocsin.domain.errors import PayloadFormatError
from tocsin.integrations.slack_events import chat_event, slack_time

from tests.helpers import load_fixture


def wrap(event: dict[str, Any]) -> dict[str, Any]:
    body = load_fixture("slack/events_api_event_callback_message.json")
    body["event"] = event
    return body


def test_the_fixture_message_is_a_message_at_its_ts() -> None:
    event = chat_event(load_fixture("slack/events_api_event_callback_message.json"))
    assert event is not None
    assert (event.kind, event.channel_id, event.message_id, event.user_id) == (
        ChatEventKind.MESSAGE,
        "C111",
        "1596183880.004200",
        "W111",
    )
    assert event.at == datetime(2020, 7, 31, 8, 24, 40, 4200, tzinfo=UTC)
    assert (event.text, event.thread_id, event.bot, event.event_id) == (
        "Hello World!",
        None,
        False,
        "Ev111",
    )


def test_slack_time_is_exact() -> None:
    assert slack_time("1596183880.000001").microsecond == 1
    assert slack_time("1596183880").microsecond == 0
    with pytest.raises(PayloadFormatError):
        slack_time("yesterday")


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message", "subtype": "channel_join", "channel": "C1", "ts": "1.2", "user": "U1"},
        {"type": "message", "subtype": "message_replied", "channel": "C1", "ts": "1.2"},
        {
            "type": "reaction_added",
            "user": "U1",
            "reaction": "pushpin",
            "item": {"type": "file", "file": "F1"},
            "event_ts": "1.2",
        },
        {"type": "app_mention", "channel": "C1", "ts": "1.2", "user": "U1", "text": "hi"},
    ],
)
def test_what_is_not_conversation_is_not_captured(event: dict[str, Any]) -> None:
    assert chat_event(wrap(event)) is None


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message", "text": "no channel", "ts": "1.2"},
        {"type": "message", "channel": "C1", "text": "no ts"},
        {"type": "message", "subtype": "message_deleted", "channel": "C1", "ts": "1.2"},
        {"type": "message", "subtype": "message_changed", "channel": "C1", "ts": "1.2"},
        {"type": "reaction_added", "item": {"type": "message", "channel": "C1", "ts": "1.2"}},
    ],
)
def test_a_malformed_event_is_refused_with_what_is_missing(event: dict[str, Any]) -> None:
    with pytest.raises(PayloadFormatError) as raised:
        chat_event(wrap(event))
    assert "event" in raised.value.problem


def test_a_removed_reaction_is_at_its_event_ts_and_names_its_message() -> None:
    event = chat_event(
        wrap(
            {
                "type": "reaction_removed",
                "user": "U1",
                "reaction": "pushpin",
                "item_user": "U2",
                "item": {"type": "message", "channel": "C1", "ts": "1360782400.498405"},
                "event_ts": "1360782804.083113",
            }
        )
    )
    assert event is not None and event.kind is ChatEventKind.REACTION_REMOVED
    assert event.message_at == slack_time("1360782400.498405")
    assert event.at == slack_time("1360782804.083113")
