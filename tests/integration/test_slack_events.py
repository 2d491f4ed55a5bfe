"""Slack's Events API through the local gateway: signed requests to /v1/slack/events, the
queue (moto's event source mapping runs the chatops function), incident channels captured onto
the timeline, shared files copied from the fake Slack's file host to the artifact bucket.

Event bodies are Slack's published shapes: the `event_callback` envelope of the fixture
(bolt-python's test message), with the `event` of Slack's event reference pages
(message_changed, message_deleted, reaction_added/removed, file_share)."""

from __future__ import annotations

import copy
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.fakes.slack import FakeSlack
from tests.helpers import REPO, Http, load_fixture
from tests.integration.test_chatops import (
    ALICE,
    CAROL,
    SIGNING_SECRET,
    channel_of,
    sev2,
    sign,
    sqs_messages,
)
from tests.integration.test_escalation import timeline

INCIDENT = "inc_captured_0001"  # the incident the test channel belongs to
CHANNEL = "C0INCIDENT1"
OTHER_CHANNEL = "C111"  # the fixture's channel: no incident's


def _config(tmp_path: Path, slack: FakeSlack) -> Path:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / "integrations.yaml").write_text(
        "integrations:\n"
        "  chat:\n"
        "    provider: slack\n"
        "    secret: tocsin/slack\n"
        f"    options: {{base_url: '{slack.url}/api/', workspace_url: 'https://acme.slack.com',"
        f" response_url_base: '{slack.url}/', file_url_base: '{slack.url}/files-pri/'}}\n"
    )
    (config / "chatops.yaml").write_text(
        "chatops:\n  copy_files_max_bytes: 1000\n  copy_images_max_bytes: 100000\n"
    )
    return config


@pytest.fixture
def slack(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    from tocsin.dal.chatops import ChannelDirectory
    from tocsin_local.runtime import reset_runtime_caches

    with FakeSlack() as fake:
        fake.add_users(CAROL, ALICE)
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="tocsin/slack",
            SecretString=json.dumps({"bot_token": fake.token, "signing_secret": SIGNING_SECRET}),
        )
        monkeypatch.setenv("TOCSIN_CONFIG_DIR", str(_config(tmp_path, fake)))
        reset_runtime_caches()
        ChannelDirectory(aws.table).put("slack", CHANNEL, INCIDENT)
        yield fake
        assert fake.violations == []


_seq = iter(range(1, 1_000_000))


def envelope(event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """The fixture's event_callback envelope around `event`, with a fresh event_id."""
    body = load_fixture("slack/events_api_event_callback_message.json")
    body["event"] = event
    body["event_id"] = event_id or f"Ev{next(_seq):09d}"
    return body


def message(
    text: str = "Hello World!", ts: str = "1596183880.004200", user: str = CAROL, **extra: Any
) -> dict[str, Any]:
    """The fixture's message event, in `channel`."""
    event = dict(load_fixture("slack/events_api_event_callback_message.json")["event"])
    event.update(text=text, ts=ts, event_ts=ts, user=user, channel=CHANNEL, **extra)
    event["blocks"] = []
    return event


def post(http: Http, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    raw = json.dumps(body).encode()
    signed = {**sign(raw), "Content-Type": "application/json", **(headers or {})}
    return http.call("POST", "/v1/slack/events", raw, token=False, headers=signed)


def captured(incident_id: str = INCIDENT) -> list[dict[str, Any]]:
    """The incident's chat timeline events, oldest first (as the API shows them)."""
    from tocsin.handlers.container import container

    events, _ = container().incident_repo.timeline(incident_id, limit=500)
    return [e.model_dump(mode="json") for e in events if e.data.get("provider") == "slack"]


# --- the endpoint --------------------------------------------------------------------------------


def test_url_verification_echoes_the_challenge(http: Http, slack: FakeSlack, aws: Any) -> None:
    body = load_fixture("slack/events_api_url_verification.json")
    resp = post(http, body)
    assert resp.status_code == 200
    assert resp.body == {"challenge": body["challenge"]}
    assert sqs_messages(aws) == 0


@pytest.mark.parametrize("case", ["wrong", "stale", "missing", "other_body"])
def test_bad_signatures_get_401_and_nothing_is_stored(
    http: Http, slack: FakeSlack, aws: Any, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.handlers import chatops

    queued: list[Any] = []
    monkeypatch.setattr(chatops, "_enqueue", queued.append)
    for body in (load_fixture("slack/events_api_url_verification.json"), envelope(message())):
        raw = json.dumps(body).encode()
        headers = {
            "wrong": sign(raw, secret="not-the-secret"),
            "stale": sign(raw, timestamp=int(time.time()) - 301),
            "missing": {},
            "other_body": sign(raw + b" "),
        }[case]
        headers["Content-Type"] = "application/json"
        resp = http.call("POST", "/v1/slack/events", raw, token=False, headers=headers)
        assert resp.status_code == 401
        assert "challenge" not in json.dumps(resp.body)
    assert queued == [] and captured() == []
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=aws.table)["Items"]
    assert not [i for i in items if i["pk"]["S"].startswith("CHATEVENT#")]


def test_a_body_that_is_not_json_gets_400(http: Http, slack: FakeSlack) -> None:
    raw = b"not json"
    headers = {**sign(raw), "Content-Type": "application/json"}
    resp = http.call("POST", "/v1/slack/events", raw, token=False, headers=headers)
    assert resp.status_code == 400 and "JSON" in resp.body["error"]


def test_other_callbacks_are_acknowledged_and_an_envelope_without_event_id_refused(
    http: Http, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.handlers import chatops

    queued: list[Any] = []
    monkeypatch.setattr(chatops, "_enqueue", queued.append)
    # Slack's app_rate_limited notice (Events API reference): nothing to capture
    limited = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "type": "app_rate_limited",
        "team_id": "T111",
        "minute_rate_limited": 1518467820,
        "api_app_id": "A111",
    }
    assert (post(http, limited).status_code, queued) == (200, [])
    body = envelope(message())
    del body["event_id"]
    resp = post(http, body)
    assert resp.status_code == 400 and "event_id" in resp.body["error"]
    assert queued == []


@pytest.mark.parametrize("retry_header", [True, False])
def test_a_redelivered_event_is_queued_and_captured_once(
    http: Http, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, retry_header: bool
) -> None:
    from tocsin.handlers import chatops

    sent: list[dict[str, Any]] = []
    real = chatops._enqueue
    monkeypatch.setattr(chatops, "_enqueue", lambda job: (sent.append(job), real(job)))
    body = envelope(message("Rolling back the deploy"))
    first = post(http, body)
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    second = post(http, body, retry if retry_header else None)
    assert (first.status_code, first.data) == (200, b"")
    assert (second.status_code, second.data) == (200, b"")
    assert len(sent) == 1
    assert "token" not in sent[0]["envelope"]  # the verification token is not queued
    assert [e["kind"] for e in captured()] == ["chat_message"]


def test_two_queued_copies_of_an_event_append_once(http: Http, slack: FakeSlack, aws: Any) -> None:
    """The first delivery's function died after queueing, before noting it: Slack's retry is
    queued again, and the capture still appends one event."""
    body = envelope(message("Rolling back the deploy"))
    assert post(http, body).status_code == 200
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=aws.table,
        Key={"pk": {"S": f"CHATEVENT#slack#{body['event_id']}"}, "sk": {"S": "RECEIPT"}},
        UpdateExpression="REMOVE queued_at",
    )
    assert post(http, body, {"X-Slack-Retry-Num": "1"}).status_code == 200
    assert [e["kind"] for e in captured()] == ["chat_message"]


# --- what is captured ----------------------------------------------------------------------------


def test_a_message_in_the_incident_channel_is_on_the_timeline_with_who_and_when(
    http: Http, slack: FakeSlack, aws: Any
) -> None:
    incident_id = sev2(http)
    channel_id, _ = channel_of(http, incident_id)
    event = message("Payments are back, watching error rates", ts="1764230400.000100")
    event["channel"] = channel_id
    started = time.monotonic()
    resp = post(http, envelope(event))
    assert resp.status_code == 200 and time.monotonic() - started < 3
    (said,) = [e for e in timeline(http, incident_id) if e["kind"] == "chat_message"]
    assert said["at"].startswith("2025-11-27T08:00:00.000100")  # Slack's ts, not arrival
    assert (said["actor"]["kind"], said["actor"]["id"]) == ("user", "carol")
    data = said["data"]
    assert data["text"] == "Payments are back, watching error rates"
    assert (data["user"], data["person"], data["bot"]) == (CAROL, "carol", False)
    assert (data["channel_id"], data["message_id"], data.get("thread_id")) == (
        channel_id,
        "1764230400.000100",
        None,
    )
    assert data["files"] == []


def test_a_message_in_another_channel_is_ignored(http: Http, slack: FakeSlack, aws: Any) -> None:
    body = load_fixture("slack/events_api_event_callback_message.json")  # channel C111
    assert post(http, body).status_code == 200
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=aws.table)["Items"]
    assert not [i for i in items if i["sk"]["S"].startswith("TL#") and "slack" in json.dumps(i)]


def test_a_user_who_is_no_person_and_a_bot_message_are_told_apart(
    http: Http, slack: FakeSlack
) -> None:
    post(http, envelope(message("who am I", ts="1764230400.000001", user="U0NOBODY99")))
    bot = message("INC-7 severity SEV2", ts="1764230400.000002", user="U0TOCSIN01")
    bot.update(bot_id="B111", app_id="A111")
    post(http, envelope(bot))
    stranger, ours = captured()
    assert (stranger["actor"]["id"], stranger["data"].get("person")) == ("U0NOBODY99", None)
    assert ours["data"]["bot"] is True and ours["actor"]["kind"] == "integration"


def test_a_thread_reply_names_its_thread(http: Http, slack: FakeSlack) -> None:
    post(http, envelope(message("Root cause?", ts="1764230400.000100")))
    reply = message("The cache TTL", ts="1764230460.000200", thread_ts="1764230400.000100")
    reply["parent_user_id"] = CAROL
    post(http, envelope(reply))
    root, answer = captured()
    assert root["data"].get("thread_id") is None
    assert answer["data"]["thread_id"] == "1764230400.000100"
    assert answer["data"]["message_id"] == "1764230460.000200"


def _changed(ts: str, old: str, new: str, edited_ts: str) -> dict[str, Any]:
    """Slack's message_changed example: the new message with `edited`, and previous_message."""
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": CHANNEL,
        "ts": edited_ts,
        "event_ts": edited_ts,
        "channel_type": "channel",
        "message": {
            "type": "message",
            "user": CAROL,
            "text": new,
            "ts": ts,
            "edited": {"user": CAROL, "ts": edited_ts},
        },
        "previous_message": {"type": "message", "user": CAROL, "text": old, "ts": ts},
    }


def _deleted(ts: str, old: str, at: str) -> dict[str, Any]:
    """Slack's message_deleted example (with previous_message, as Slack sends it)."""
    return {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": CHANNEL,
        "ts": at,
        "event_ts": at,
        "deleted_ts": ts,
        "channel_type": "channel",
        "previous_message": {"type": "message", "user": CAROL, "text": old, "ts": ts},
    }


def test_edits_and_deletions_are_marked_and_the_original_stays(
    http: Http, slack: FakeSlack
) -> None:
    ts = "1764230400.000100"
    post(http, envelope(message("It is the databse", ts=ts)))
    post(
        http, envelope(_changed(ts, "It is the databse", "It is the database", "1764230500.000001"))
    )
    unfurl = _changed(ts, "It is the database", "It is the database", "1764230501.000001")
    post(http, envelope(unfurl))  # a link preview added: the text did not change
    post(http, envelope(_deleted(ts, "It is the database", "1764230600.000002")))
    said, edited, deleted = captured()
    assert said["kind"] == "chat_message" and said["data"]["text"] == "It is the databse"
    assert edited["kind"] == "chat_message_edited"
    assert (edited["data"]["previous_text"], edited["data"]["text"]) == (
        "It is the databse",
        "It is the database",
    )
    assert edited["at"].startswith("2025-11-27T08:01:40")  # when it was edited
    assert edited["data"]["message_event"] == said["id"]
    assert deleted["kind"] == "chat_message_deleted"
    assert deleted["data"]["deleted"] is True
    assert deleted["data"]["text"] == "It is the database"
    assert deleted["data"]["message_event"] == said["id"]


def _reaction(kind: str, name: str, ts: str, at: str, user: str = ALICE) -> dict[str, Any]:
    """Slack's reaction_added / reaction_removed example."""
    return {
        "type": kind,
        "user": user,
        "reaction": name,
        "item_user": CAROL,
        "item": {"type": "message", "channel": CHANNEL, "ts": ts, "channel_type": "channel"},
        "event_ts": at,
    }


def test_a_pushpin_marks_a_key_event_and_removing_it_unmarks(http: Http, slack: FakeSlack) -> None:
    ts = "1764230400.000100"
    post(http, envelope(message("Rolled back to v40; errors dropping", ts=ts)))
    fixed = _changed(
        ts,
        "Rolled back to v40; errors dropping",
        "Rolled back to v41; errors dropping",
        "1764230450.000001",
    )
    post(http, envelope(fixed))
    post(http, envelope(_reaction("reaction_added", "pushpin", ts, "1764230700.000001")))
    post(http, envelope(_reaction("reaction_added", "thumbsup", ts, "1764230701.000001")))
    post(http, envelope(_reaction("reaction_removed", "pushpin", ts, "1764230800.000001")))
    said, _edit, key, thumbs, unmarked = captured()
    assert key["kind"] == "key_event"  # with the text as it read when it was marked
    assert key["actor"]["id"] == "alice"
    assert key["data"]["text"] == "Rolled back to v41; errors dropping"
    assert (key["data"]["message_id"], key["data"]["message_user"]) == (ts, CAROL)
    assert key["data"]["message_person"] == "carol"
    assert key["data"]["message_event"] == said["id"]
    assert thumbs["kind"] == "chat_reaction" and thumbs["data"]["reaction"] == "thumbsup"
    assert thumbs["data"]["removed"] is False
    assert unmarked["kind"] == "key_event_unmarked" and unmarked["data"]["message_id"] == ts


def test_the_key_event_reaction_is_configurable(
    http: Http, slack: FakeSlack, tmp_path: Path
) -> None:
    from tocsin_local.runtime import reset_runtime_caches

    config = tmp_path / "config" / "chatops.yaml"
    config.write_text("chatops:\n  key_event_reaction: star\n")
    reset_runtime_caches()
    ts = "1764230400.000100"
    post(http, envelope(message("Found it", ts=ts)))
    post(http, envelope(_reaction("reaction_added", "pushpin", ts, "1764230700.000001")))
    post(http, envelope(_reaction("reaction_added", "star", ts, "1764230701.000001")))
    assert [e["kind"] for e in captured()] == ["chat_message", "chat_reaction", "key_event"]


# --- files ---------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _file_share(slack: FakeSlack, files: list[dict[str, Any]], ts: str) -> dict[str, Any]:
    event = message("graph of the error rate", ts=ts, subtype="file_share", upload=False)
    event["files"] = files
    return event


def test_a_shared_image_is_copied_to_the_artifact_bucket(
    http: Http, slack: FakeSlack, aws: Any
) -> None:
    image = slack.add_file("errors.png", PNG, "image/png")
    log = slack.add_file("big.log", b"x" * 5000, "text/plain")  # over copy_files_max_bytes
    small = slack.add_file("notes.txt", b"rollback at 09:02", "text/plain")
    post(http, envelope(_file_share(slack, [image, log, small], "1764230400.000100")))
    (said,) = captured()
    copied, too_big, text = said["data"]["files"]
    assert copied["copy"] == "copied" and copied["image"] is True
    assert copied["key"] == f"chat-files/{INCIDENT}/slack/{image['id']}/errors.png"
    s3 = boto3.client("s3", region_name="us-east-1")
    stored = s3.get_object(Bucket=aws.bucket, Key=copied["key"])
    assert stored["Body"].read() == PNG
    assert stored["ContentType"] == "image/png"
    assert too_big["copy"] == "copy_failed" and "5000 bytes" in too_big["reason"]
    assert "key" not in too_big
    assert text["copy"] == "copied"
    # downloaded with the bot token (the fake refuses anything else), the big one never asked
    assert {r.path.rsplit("/", 1)[-1] for r in slack.downloads()} == {"errors.png", "notes.txt"}


def test_a_failed_download_keeps_the_message(http: Http, slack: FakeSlack, aws: Any) -> None:
    gone = slack.add_file("deleted.png", PNG, "image/png")
    del slack.files[gone["id"]]  # deleted before we fetched it: 404
    elsewhere = dict(slack.add_file("evil.png", PNG, "image/png"))
    elsewhere["url_private_download"] = "https://example.com/files-pri/evil.png"
    hidden = {"id": "F0CONNECT01", "file_access": "check_file_info", "mode": "hidden_by_limit"}
    post(http, envelope(_file_share(slack, [gone, elsewhere, hidden], "1764230400.000100")))
    (said,) = captured()
    assert said["data"]["text"] == "graph of the error rate"
    missing, refused, unknown = said["data"]["files"]
    assert unknown["copy"] == "copy_failed" and "no download URL" in unknown["reason"]
    assert missing["copy"] == "copy_failed" and "404" in missing["reason"]
    assert refused["copy"] == "copy_failed" and "not a URL under" in refused["reason"]
    assert [r.path.rsplit("/", 1)[-1] for r in slack.downloads()] == ["deleted.png"]


def test_a_slack_outage_is_retried_then_recorded(http: Http, slack: FakeSlack) -> None:
    """Before the last receive, a 503 from the file host raises (SQS retries the job); on
    the last one the message is captured with the copy marked failed."""
    from tocsin.handlers.container import container
    from tocsin.integrations.ports import RetryableIntegrationError
    from tocsin.integrations.slack_events import chat_event

    image = slack.add_file("errors.png", PNG, "image/png")
    event = chat_event(envelope(_file_share(slack, [image], "1764230400.000100")))
    assert event is not None
    slack.fail_next(503, times=2)
    with pytest.raises(RetryableIntegrationError):
        container().capture.capture(event, last_attempt=False)
    assert captured() == []
    container().capture.capture(event, last_attempt=True)
    (said,) = captured()
    assert said["data"]["files"][0]["copy"] == "copy_failed"
    assert "503" in said["data"]["files"][0]["reason"]
    # a later delivery of the same event appends nothing more
    container().capture.capture(copy.deepcopy(event), last_attempt=True)
    assert len(captured()) == 1


def test_a_malformed_event_fails_its_queue_job_so_it_is_kept(slack: FakeSlack) -> None:
    """Nothing is lost: the job is retried by SQS and ends in the dead-letter queue."""
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from tocsin.domain.errors import PayloadFormatError
    from tocsin.handlers import chatops

    job = {"kind": "event", "envelope": envelope({"type": "message", "text": "no channel"})}
    record = SQSRecord(
        {
            "messageId": "m-1",
            "body": json.dumps(job),
            "attributes": {"ApproximateReceiveCount": "1"},
        }
    )
    with pytest.raises(PayloadFormatError, match=r"event\.channel"):
        chatops.record_handler(record)
    assert captured() == []
