"""Slack chat-ops through the local gateway: signed requests to /v1/slack/commands and
/v1/slack/interactions, the queue (moto's event source mapping runs the chatops function),
answers posted to the response_url on the fake Slack server, status pages really published."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.fakes.slack import FakeSlack
from tests.helpers import REPO, Http, fixture_path, load_fixture, wait_for_workflows
from tests.integration.test_escalation import declare, timeline

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the published test vector's
CAROL = "U01CAROL01"  # config: people carol (slack id)
ALICE = "U01ALICE01"
STRANGER = "U0NOBODY99"  # a Slack user who is not a Tocsin person


def sign(body: bytes, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def _config(tmp_path: Path, slack: FakeSlack, extra: str = "") -> Path:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    shutil.copytree(REPO / "runbooks", tmp_path / "runbooks")  # beside config, as deployed
    (config / "integrations.yaml").write_text(
        "integrations:\n"
        "  chat:\n"
        "    provider: slack\n"
        "    secret: tocsin/slack\n"
        f"    options: {{base_url: '{slack.url}/api/', workspace_url: 'https://acme.slack.com',"
        f" response_url_base: '{slack.url}/'}}\n"
    )
    if extra:
        (config / "chatops.yaml").write_text(extra)
    return config


@pytest.fixture
def slack(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """Chat through the Slack adapter against its fake; the chat secret holds the bot token
    and the signing secret, as deployed."""
    from tocsin_local.runtime import reset_runtime_caches

    with FakeSlack() as fake:
        fake.add_users(CAROL, ALICE, STRANGER)
        for name in ("incident-leadership", "support-escalations", "team-payments"):
            fake._new_channel(name, private=False, creator="U0TOCSIN01")
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="tocsin/slack",
            SecretString=json.dumps({"bot_token": fake.token, "signing_secret": SIGNING_SECRET}),
        )
        monkeypatch.setenv("TOCSIN_CONFIG_DIR", str(_config(tmp_path, fake)))
        reset_runtime_caches()
        yield fake
        assert fake.violations == []


def command_body(
    slack: FakeSlack,
    text: str,
    channel_id: str = "C0GENERAL1",
    channel_name: str = "general",
    user: str = CAROL,
) -> tuple[bytes, str]:
    """A slash command POST shaped like the signing test vector's body (same fields)."""
    form = dict(
        urllib.parse.parse_qsl(
            fixture_path("slack/slash_command_signing_test_vector_body.txt").read_text(),
            keep_blank_values=True,
        )
    )
    url = slack.response_url("commands")
    form.update(
        command="/incident",
        text=text,
        channel_id=channel_id,
        channel_name=channel_name,
        user_id=user,
        response_url=url,
    )
    return urllib.parse.urlencode(form).encode(), url


def command(http: Http, slack: FakeSlack, text: str, **kwargs: Any) -> tuple[Any, str]:
    body, url = command_body(slack, text, **kwargs)
    resp = http.call("POST", "/v1/slack/commands", body, token=False, headers=sign(body))
    return resp, url


def click(
    http: Http, slack: FakeSlack, action_id: str, value: str, user: str = CAROL
) -> tuple[Any, str]:
    """A block_actions interaction: the fixture's payload with our button's values."""
    payload = load_fixture("slack/interactivity_block_actions_payload.json")
    url = slack.response_url("actions")
    payload["user"]["id"] = user
    payload["response_url"] = url
    action = payload["actions"][0]
    action.update(action_id=action_id, block_id="tocsin.statuspage", value=value)
    body = ("payload=" + urllib.parse.quote(json.dumps(payload))).encode()
    resp = http.call("POST", "/v1/slack/interactions", body, token=False, headers=sign(body))
    return resp, url


def channel_of(http: Http, incident_id: str, timeout: float = 30.0) -> tuple[str, str]:
    """The incident's channel, once its workflow recorded making it (a just-started
    execution may not be listed as running yet when the caller waited for workflows)."""
    deadline = time.monotonic() + timeout
    while True:
        steps = http.call("GET", f"/v1/incidents/{incident_id}/response").body["steps"]
        made = [s for s in steps if s["step"] == "create_channel" and s.get("detail")]
        if made or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    (step,) = made
    ref = step["detail"]["ref"]
    return ref["id"], ref["name"]


def sev2(http: Http, comms: str | None = "carol", commander: str | None = "alice") -> str:
    incident_id = declare(http, "SEV2")
    wait_for_workflows(60)
    for role, person in (("communications", comms), ("commander", commander)):
        resp = http.call(
            "PATCH", f"/v1/incidents/{incident_id}/roles", {"role": role, "person": person}
        )
        assert resp.status_code == 200, resp.body
    return incident_id


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    (actions,) = [b for b in message["blocks"] if b["type"] == "actions"]
    return list(actions["elements"])


def records(http: Http, page: str) -> list[dict[str, Any]]:
    return list(http.call("GET", f"/v1/status-pages/{page}/incidents").body["items"])


def sqs_messages(aws: Any) -> int:
    sqs = boto3.client("sqs", region_name="us-east-1")
    attrs = sqs.get_queue_attributes(
        QueueUrl=aws.chatops_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


# --- signatures ----------------------------------------------------------------------------------


def test_the_published_signing_test_vector_verifies() -> None:
    from tocsin.integrations.slack import verify_request

    body = fixture_path("slack/slash_command_signing_test_vector_body.txt").read_bytes()
    headers = {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    assert verify_request(SIGNING_SECRET, body, headers, now=1531420618 + 10)
    assert not verify_request(SIGNING_SECRET, body, headers, now=1531420618 + 301)  # stale
    assert not verify_request(SIGNING_SECRET + "x", body, headers, now=1531420618)
    assert not verify_request(SIGNING_SECRET, body + b"&x=1", headers, now=1531420618)
    assert not verify_request(SIGNING_SECRET, body, {}, now=1531420618)


def test_the_signing_test_vector_through_the_endpoint_is_refused_as_replayed(
    http: Http, slack: FakeSlack, aws: Any
) -> None:
    """Its signature is right but from 2018: older than 5 minutes, so 401."""
    body = fixture_path("slack/slash_command_signing_test_vector_body.txt").read_bytes()
    headers = {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    resp = http.call("POST", "/v1/slack/commands", body, token=False, headers=headers)
    assert resp.status_code == 401


@pytest.mark.parametrize("path", ["/v1/slack/commands", "/v1/slack/interactions"])
@pytest.mark.parametrize("case", ["wrong", "stale", "missing", "other_body"])
def test_bad_signatures_get_401_and_change_nothing(
    http: Http, slack: FakeSlack, aws: Any, path: str, case: str
) -> None:
    body, _url = command_body(slack, "statuspage identified Rolling back")
    if path.endswith("interactions"):
        payload = load_fixture("slack/interactivity_block_actions_payload.json")
        payload["actions"][0]["action_id"] = "tocsin.statuspage.publish"
        body = ("payload=" + urllib.parse.quote(json.dumps(payload))).encode()
    headers = {
        "wrong": sign(body, secret="not-the-secret"),
        "stale": sign(body, timestamp=int(time.time()) - 301),
        "missing": {"Content-Type": "application/x-www-form-urlencoded"},
        "other_body": sign(body + b"&text=help"),
    }[case]
    resp = http.call("POST", path, body, token=False, headers=headers)
    assert resp.status_code == 401
    assert sqs_messages(aws) == 0
    assert slack.responses() == []


def test_a_signature_just_inside_five_minutes_is_accepted(http: Http, slack: FakeSlack) -> None:
    body, _ = command_body(slack, "help")
    resp = http.call(
        "POST",
        "/v1/slack/commands",
        body,
        token=False,
        headers=sign(body, timestamp=int(time.time()) - 280),
    )
    assert resp.status_code == 200


def test_without_a_signing_secret_every_request_is_refused(
    http: Http, slack: FakeSlack, aws: Any
) -> None:
    from tocsin_local.runtime import reset_runtime_caches

    boto3.client("secretsmanager", region_name="us-east-1").put_secret_value(
        SecretId="tocsin/slack", SecretString=json.dumps({"bot_token": slack.token})
    )
    reset_runtime_caches()
    resp, _ = command(http, slack, "help")
    assert resp.status_code == 401


# --- help ----------------------------------------------------------------------------------------


def test_help_lists_exactly_the_commands_that_work(http: Http, slack: FakeSlack) -> None:
    resp, _ = command(http, slack, "help")
    assert resp.status_code == 200
    assert resp.body["response_type"] == "ephemeral"
    text = json.dumps(resp.body["blocks"])
    from tocsin.services.chatops import COMMANDS

    for name in COMMANDS:
        assert f"/incident {name}" in text
    assert text.count("`/incident ") == len(COMMANDS)
    assert slack.responses() == []  # answered in the acknowledgement itself


@pytest.mark.parametrize("text", ["frobnicate now", "", "   "])
def test_an_unknown_or_empty_command_answers_with_help(
    http: Http, slack: FakeSlack, text: str
) -> None:
    resp, _ = command(http, slack, text)
    assert resp.status_code == 200
    blocks = json.dumps(resp.body["blocks"])
    assert "/incident statuspage" in blocks
    if text.strip():
        assert "not a command I know" in blocks


# --- /incident statuspage ------------------------------------------------------------------------


def test_statuspage_in_the_incident_channel_previews_then_publishes(
    http: Http, slack: FakeSlack, aws: Any
) -> None:
    incident_id = sev2(http)
    channel_id, channel_name = channel_of(http, incident_id)
    started = time.monotonic()
    resp, url = command(
        http,
        slack,
        "statuspage identified A bad deploy; rolling back.",
        channel_id=channel_id,
        channel_name=channel_name,
    )
    assert resp.status_code == 200
    assert resp.body == {"response_type": "ephemeral", "text": "Working on `/incident statuspage`…"}
    assert time.monotonic() - started < 3
    (preview,) = slack.responses(url)
    assert preview["response_type"] == "ephemeral"
    header, *pages, _actions = preview["blocks"]
    assert header["type"] == "header" and "INC-" in header["text"]["text"]
    text = json.dumps(pages)
    # SEV2: the internal page has it already (the workflow), the public one does not yet
    assert "Acme Status* (public): open a new incident" in text
    assert "Acme Internal Status* (internal): update" in text
    assert "*Status:* identified" in text and "*Impact:* major" in text
    assert "Checkout: partial_outage" in text and "Payments API: partial_outage" in text
    assert "A bad deploy; rolling back." in text
    publish, cancel = buttons(preview)
    assert (publish["action_id"], publish["text"]["text"], publish["style"]) == (
        "tocsin.statuspage.publish",
        "Publish",
        "primary",
    )
    assert cancel["action_id"] == "tocsin.statuspage.cancel"
    assert publish["value"] == cancel["value"] and len(publish["value"]) < 2000
    assert records(http, "public") == []  # a preview publishes nothing

    resp, action_url = click(http, slack, publish["action_id"], publish["value"])
    assert resp.status_code == 200 and resp.data == b""
    (done,) = slack.responses(action_url)
    assert done["replace_original"] is True
    assert "Published" in done["text"] and "by carol" in json.dumps(done["blocks"])
    (public,) = records(http, "public")
    assert public["status"] == "identified" and public["incident_id"] == incident_id
    assert public["updates"][0]["body"] == "A bad deploy; rolling back."
    assert public["updates"][0]["author"] == "carol"
    assert public["updates"][0]["components"] == {
        "Checkout": "partial_outage",
        "Payments API": "partial_outage",
    }
    assert f"/status/public/incidents/{public['id']}.html" in json.dumps(done["blocks"])
    (internal,) = records(http, "internal")
    assert internal["status"] == "identified"
    events = [
        e
        for e in timeline(http, incident_id)
        if e["kind"] == "status_page_updated" and e["data"]["status"] == "identified"
    ]
    assert {e["data"]["page"] for e in events} == {"public", "internal"}
    assert {(e["actor"]["kind"], e["actor"]["id"]) for e in events} == {("user", "carol")}

    # clicked again (or delivered twice): nothing is published twice
    resp, again_url = click(http, slack, publish["action_id"], publish["value"])
    assert resp.status_code == 200
    (again,) = slack.responses(again_url)
    assert "Already published by carol" in again["text"]
    assert len(records(http, "public")[0]["updates"]) == 1
    assert len(records(http, "internal")[0]["updates"]) == len(internal["updates"])
    after = [e for e in timeline(http, incident_id) if e["kind"] == "status_page_updated"]
    assert [e["id"] for e in after if e["data"]["status"] == "identified"] == [
        e["id"] for e in events
    ]


def test_publish_for_is_idempotent_for_the_same_wording(http: Http, slack: FakeSlack) -> None:
    """What the Publish claim relies on when a delivery is redone: the same text twice posts
    once."""
    from tocsin.domain.statuspage import IncidentStatus
    from tocsin.handlers.container import container

    incident_id = sev2(http)
    c = container()
    incident = c.incident_repo.get(incident_id)
    first = c.status_pages.publish_for(
        incident, "carol", ["public"], IncidentStatus.IDENTIFIED, "Same words."
    )
    second = c.status_pages.publish_for(
        incident, "carol", ["public"], IncidentStatus.IDENTIFIED, "Same words."
    )
    assert len(first) == 1 and second == []
    assert len(records(http, "public")[0]["updates"]) == 1


def test_the_template_wording_is_used_without_text(http: Http, slack: FakeSlack) -> None:
    incident_id = sev2(http)
    channel_id, channel_name = channel_of(http, incident_id)
    _, url = command(http, slack, "statuspage", channel_id=channel_id, channel_name=channel_name)
    (preview,) = slack.responses(url)
    from tocsin.handlers.container import container

    c = container()
    expected = c.status_pages.draft(c.incident_repo.get(incident_id), "public").body
    assert expected in json.dumps(preview["blocks"])


def test_cancel_replaces_the_preview_and_publishes_nothing(http: Http, slack: FakeSlack) -> None:
    incident_id = sev2(http)
    channel_id, channel_name = channel_of(http, incident_id)
    _, url = command(
        http,
        slack,
        "statuspage monitoring Fixed, watching.",
        channel_id=channel_id,
        channel_name=channel_name,
    )
    (preview,) = slack.responses(url)
    publish, cancel = buttons(preview)
    _, cancel_url = click(http, slack, cancel["action_id"], cancel["value"])
    (cancelled,) = slack.responses(cancel_url)
    assert cancelled["replace_original"] is True and "Cancelled" in cancelled["text"]
    # Publish on a cancelled preview does nothing
    _, late_url = click(http, slack, publish["action_id"], publish["value"])
    (late,) = slack.responses(late_url)
    assert "cancelled" in late["text"]
    assert records(http, "public") == []


def test_outside_an_incident_channel_it_asks_which_incident(http: Http, slack: FakeSlack) -> None:
    incident_id = sev2(http)
    ref = http.call("GET", f"/v1/incidents/{incident_id}").body["ref"]
    _, url = command(http, slack, "statuspage identified Rolling back")
    (asked,) = slack.responses(url)
    text = json.dumps(asked["blocks"])
    assert "Which incident?" in text and ref in text and "Checkout down" in text
    assert "actions" not in [b["type"] for b in asked["blocks"]]


def test_a_stranger_is_not_shown_the_open_incidents(http: Http, slack: FakeSlack) -> None:
    sev2(http)
    _, url = command(http, slack, "statuspage", user=STRANGER)
    (asked,) = slack.responses(url)
    assert "Which incident?" in asked["text"]
    assert "Checkout down" not in json.dumps(asked)


def test_only_who_asked_for_a_preview_can_publish_it(http: Http, slack: FakeSlack) -> None:
    incident_id = sev2(http, comms="carol", commander="alice")
    channel_id, channel_name = channel_of(http, incident_id)
    where = {"channel_id": channel_id, "channel_name": channel_name}
    _, url = command(http, slack, "statuspage identified x", user=CAROL, **where)
    (preview,) = slack.responses(url)
    publish, _ = buttons(preview)
    # alice may publish too, but this preview is carol's
    _, click_url = click(http, slack, publish["action_id"], publish["value"], user=ALICE)
    (refused,) = slack.responses(click_url)
    assert "Only the person who asked" in refused["text"]
    assert records(http, "public") == []


def test_outside_a_channel_the_ref_names_the_incident(http: Http, slack: FakeSlack) -> None:
    incident_id = sev2(http)
    ref = http.call("GET", f"/v1/incidents/{incident_id}").body["ref"]
    _, url = command(http, slack, f"statuspage {ref.lower()} identified Rolling back")
    (preview,) = slack.responses(url)
    assert ref in preview["blocks"][0]["text"]["text"]
    assert "Rolling back" in json.dumps(preview["blocks"])
    _, url = command(http, slack, "statuspage INC-999 identified Rolling back")
    (missing,) = slack.responses(url)
    assert "no incident INC-999" in missing["text"]


def test_a_channel_made_before_pointers_is_found_by_its_name(
    http: Http, slack: FakeSlack, aws: Any
) -> None:
    incident_id = sev2(http)
    channel_id, channel_name = channel_of(http, incident_id)
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    key = {"pk": {"S": f"CHANNEL#slack#{channel_id}"}, "sk": {"S": "INCIDENT"}}
    ddb.delete_item(TableName=aws.table, Key=key)
    _, url = command(http, slack, "statuspage", channel_id=channel_id, channel_name=channel_name)
    (preview,) = slack.responses(url)
    assert preview["blocks"][0]["type"] == "header"
    assert "Item" in ddb.get_item(TableName=aws.table, Key=key)  # written back
    # a channel that merely has the name is not taken for the incident's
    _, url = command(http, slack, "statuspage", channel_id="C0IMPOSTER", channel_name=channel_name)
    (asked,) = slack.responses(url)
    assert "Which incident?" in asked["text"]


# --- permissions ---------------------------------------------------------------------------------


def test_only_the_communications_lead_or_commander_may_publish(
    http: Http, slack: FakeSlack
) -> None:
    incident_id = sev2(http, comms="carol", commander="alice")
    channel_id, channel_name = channel_of(http, incident_id)
    _, url = command(
        http,
        slack,
        "statuspage identified x",
        channel_id=channel_id,
        channel_name=channel_name,
        user=STRANGER,
    )
    (denied,) = slack.responses(url)
    assert "may not publish" in denied["text"]
    assert "Communications Lead (carol)" in denied["text"]
    assert "Incident Commander (alice)" in denied["text"]
    # the commander may; then the role changes hands before the click: the click is refused
    _, url = command(
        http,
        slack,
        "statuspage identified x",
        channel_id=channel_id,
        channel_name=channel_name,
        user=ALICE,
    )
    (preview,) = slack.responses(url)
    publish, _ = buttons(preview)
    http.call("PATCH", f"/v1/incidents/{incident_id}/roles", {"role": "commander", "person": "dan"})
    _, click_url = click(http, slack, publish["action_id"], publish["value"], user=ALICE)
    (refused,) = slack.responses(click_url)
    assert "may not publish" in refused["text"] and "replace_original" not in refused
    assert records(http, "public") == []


def test_the_team_may_publish_when_the_roles_are_open_a_stranger_never(
    http: Http, slack: FakeSlack
) -> None:
    incident_id = sev2(http, comms=None, commander=None)
    channel_id, channel_name = channel_of(http, incident_id)
    where = {"channel_id": channel_id, "channel_name": channel_name}
    # a Slack user who is no Tocsin person: never, even with nobody in the roles
    _, url = command(http, slack, "statuspage identified x", user=STRANGER, **where)
    (denied,) = slack.responses(url)
    assert "may not publish" in denied["text"]
    # bob is in the payments team (the incident's service's): with the roles open, he may
    _, url = command(http, slack, "statuspage identified x", user="U01BOBCHEN", **where)
    (preview,) = slack.responses(url)
    publish, _ = buttons(preview)
    _, click_url = click(http, slack, publish["action_id"], publish["value"], user="U01BOBCHEN")
    (done,) = slack.responses(click_url)
    assert "Published" in done["text"]
    assert records(http, "public")[0]["updates"][0]["author"] == "bob"


def test_an_out_of_date_preview_publishes_nothing(http: Http, slack: FakeSlack) -> None:
    """A preview made before the incident resolved must not reopen its status pages."""
    incident_id = sev2(http, comms="carol", commander=None)
    channel_id, channel_name = channel_of(http, incident_id)
    where = {"channel_id": channel_id, "channel_name": channel_name}
    _, url = command(http, slack, "statuspage identified Fixing it", user=CAROL, **where)
    (preview,) = slack.responses(url)
    publish, _ = buttons(preview)
    http.call("PATCH", f"/v1/incidents/{incident_id}", {"status": "resolved"})
    wait_for_workflows()
    before = records(http, "internal")
    _, click_url = click(http, slack, publish["action_id"], publish["value"], user=CAROL)
    (answer,) = slack.responses(click_url)
    assert "out of date" in answer["text"] and answer.get("replace_original") is True
    assert records(http, "internal") == before
    assert before[0]["status"] == "resolved"


def test_configured_permissions_name_people_and_teams(
    http: Http, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin_local.runtime import reset_runtime_caches

    config = _config(
        tmp_path / "other",
        slack,
        "chatops:\n  permissions:\n    statuspage: [communications, erin]\n"
        "    team_when_unassigned: false\n",
    )
    monkeypatch.setenv("TOCSIN_CONFIG_DIR", str(config))
    reset_runtime_caches()
    incident_id = sev2(http, comms=None, commander="alice")
    channel_id, channel_name = channel_of(http, incident_id)
    _, url = command(
        http, slack, "statuspage", channel_id=channel_id, channel_name=channel_name, user=ALICE
    )  # commander: not listed
    (denied,) = slack.responses(url)
    assert "may not publish" in denied["text"]
    _, url = command(
        http,
        slack,
        "statuspage",
        channel_id=channel_id,
        channel_name=channel_name,
        user="U01ERINWAL",
    )
    (preview,) = slack.responses(url)
    assert preview["blocks"][0]["type"] == "header"


def test_permission_config_is_validated_with_file_and_line(tmp_path: Path) -> None:
    from tocsin.config_loader import load_config
    from tocsin.domain.errors import ConfigError

    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    (config / "chatops.yaml").write_text(
        "chatops:\n  permissions:\n    statuspage:\n      - communications\n      - nobody-here\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(config)
    (problem,) = [p for p in info.value.problems if "chatops" in p]
    assert problem.startswith(f"{config / 'chatops.yaml'}:5: chatops.permissions.statuspage.1:")
    assert "'nobody-here' is not `anyone`, `responders`, `team`, an incident role" in problem


# --- the response_url poster ---------------------------------------------------------------------


def test_response_urls_outside_the_configured_root_are_refused() -> None:
    from tocsin.integrations import slack as slack_adapter
    from tocsin.integrations.ports import PermanentIntegrationError

    options = slack_adapter.Options()
    assert options.response_url_base == "https://hooks.slack.com/"
    for url in (
        "https://evil.example/commands/T1/1/x",
        "http://hooks.slack.com/commands/T1/1/x",
        "https://hooks.slack.com.evil.example/x",
        "https://hooks.slack.com/../x",
        "",
    ):
        with pytest.raises(PermanentIntegrationError):
            slack_adapter.post_response(options, url, {"text": "hi"})


def test_a_slack_outage_is_retried_by_the_queue(http: Http, slack: FakeSlack) -> None:
    from tocsin.handlers.chatops import _post
    from tocsin.integrations.ports import RetryableIntegrationError

    url = slack.response_url("commands")
    slack.fail_next(503)
    with pytest.raises(RetryableIntegrationError):
        _post({"response_url": url}, {"text": "hello"})
    _post({"response_url": url}, {"text": "hello"})
    # the fake records the refused attempt too: the same message twice, the second delivered
    assert slack.responses(url) == [{"text": "hello"}, {"text": "hello"}]
