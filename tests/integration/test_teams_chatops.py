"""Microsoft Teams chat-ops through the local gateway: the bot (`/v1/teams/messages`, JWTs
signed by the fake Bot Framework's RSA key, answers through its fake Bot Connector), the
outgoing webhook (`/v1/teams/webhook`, HMAC), card rendering, capture of channel activity, and
the app package. Incident channels are made by the `teams` chat adapter against FakeGraph."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.fakes.teams import (
    ADELE,
    CLIENT_ID,
    HARRY,
    TENANT_ID,
    FakeBotFramework,
    FakeGraph,
    check_card,
)
from tests.helpers import REPO, Http, load_fixture
from tests.integration.test_chatops import channel_of, records, sev2, sqs_messages

BOT_APP_ID = "c9e8c047-2a74-40a2-b28a-b162d5f5327c"  # the docs' activity's recipient (28:…)
BOT_PASSWORD = "bot~app~passw0rd-s3cr3t"
#: the docs' example key ("contoso"), used as the outgoing webhook's security token
WEBHOOK_TOKEN = "vqF0En+Z0ucuRTM/01o2GuhMH3hKKk/N2bOmlM31zaA="
CAROL = ADELE  # config: carol's `teams` id
ALICE = HARRY
STRANGER = "7faf8ab2-3d56-4244-b585-20c8a42ed2b8"  # the docs' Megan Bowen: no Tocsin person
PERSONAL = "bot_framework_message_activity_personal_docs.json"
#: where the fake Bot Connector listens (the fixture sets it; activities carry it)
SERVICE_URL: dict[str, str] = {}


def _config(tmp_path: Path, graph: FakeGraph, bf: FakeBotFramework) -> Path:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    people = (config / "teams.yaml").read_text()
    people = people.replace("slack: U01CAROL01\n", f"slack: U01CAROL01\n    teams: {CAROL}\n")
    people = people.replace("slack: U01ALICE01,", f"slack: U01ALICE01, teams: {ALICE},")
    assert CAROL in people and ALICE in people
    (config / "teams.yaml").write_text(people)
    (config / "integrations.yaml").write_text(
        "integrations:\n"
        "  chat:\n"
        "    provider: teams\n"
        "    secret: tocsin/teams\n"
        "    options:\n"
        f"      base_url: '{graph.graph}'\n"
        f"      login_url: '{graph.url}'\n"
        f"      tenant_id: '{TENANT_ID}'\n"
        f"      client_id: '{CLIENT_ID}'\n"
        f"      team_id: '{graph.team_id}'\n"
        f"      bot: {{app_id: '{BOT_APP_ID}', openid_url: '{bf.openid_url}',"
        f" login_url: '{bf.url}'}}\n"
    )
    return config


@pytest.fixture
def bf(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBotFramework]:
    """Teams as deployed: the Graph adapter makes incident channels, the Azure Bot answers;
    the chat secret holds Graph's credentials, the bot password and the webhook token."""
    from tocsin.integrations.teams_bot import reset_caches
    from tocsin_local.runtime import reset_runtime_caches

    with FakeGraph() as graph, FakeBotFramework(BOT_APP_ID, BOT_PASSWORD) as fake:
        graph.users[HARRY] = {"displayName": "Harry Johnson", "mail": "harry@example.com"}
        secret = {
            **graph.secret,
            "bot_app_password": BOT_PASSWORD,
            "outgoing_webhook_token": WEBHOOK_TOKEN,
        }
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="tocsin/teams", SecretString=json.dumps(secret)
        )
        monkeypatch.setenv("TOCSIN_CONFIG_DIR", str(_config(tmp_path, graph, fake)))
        reset_runtime_caches()
        reset_caches()
        SERVICE_URL["url"] = fake.service_url
        yield fake
        assert fake.violations == []
        assert graph.violations == []


# --- activities ---------------------------------------------------------------------------------
_ids = iter(range(1700000000000, 1800000000000))


def personal(text: str, user: str = CAROL) -> dict[str, Any]:
    """The docs' personal-chat activity, from `user`, saying `text`."""
    activity: dict[str, Any] = load_fixture(f"teams/{PERSONAL}")
    activity["id"] = str(next(_ids))
    activity["from"]["aadObjectId"] = user
    activity["text"] = text
    activity["serviceUrl"] = SERVICE_URL.get("url", activity["serviceUrl"])
    activity["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return activity


def in_channel(teams_channel: str, text: str, user: str = CAROL, mention: bool = True) -> Any:
    """A channel message (the docs' activity moved to a channel, the bot @mentioned)."""
    activity = personal(text, user)
    bot = activity["recipient"]
    activity["conversation"] = {
        "conversationType": "channel",
        "isGroup": True,
        "id": f"{teams_channel};messageid={activity['id']}",
        "tenantId": TENANT_ID,
    }
    activity["channelData"] = {
        "teamsChannelId": teams_channel,
        "teamsTeamId": "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2",
        "channel": {"id": teams_channel},
        "team": {"id": "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2"},
        "tenant": {"id": TENANT_ID},
    }
    if mention:
        activity["text"] = f"<at>{bot['name']}</at> {text}"
        activity["textFormat"] = "plain"
        activity["entities"] = [
            {"type": "mention", "text": f"<at>{bot['name']}</at>", "mentioned": bot}
        ]
    return activity


def submit(card_activity: dict[str, Any], data: dict[str, Any], user: str = CAROL) -> Any:
    """The message activity Teams sends when a card's Action.Submit is clicked."""
    activity = copy.deepcopy(card_activity)
    activity["id"] = str(next(_ids))
    activity["from"]["aadObjectId"] = user
    activity["text"] = ""
    activity.pop("entities", None)
    activity["value"] = data
    activity["replyToId"] = "1:card-message"
    return activity


def post(http: Http, bf: FakeBotFramework, activity: Any, token: str | None = None) -> Any:
    body = json.dumps(activity).encode()
    headers = {
        "Authorization": f"Bearer {token or bf.sign(service_url=activity['serviceUrl'])}",
        "Content-Type": "application/json",
    }
    return http.call("POST", "/v1/teams/messages", body, token=False, headers=headers)


def hook(http: Http, activity: Any, key: str = WEBHOOK_TOKEN, auth: str | None = None) -> Any:
    from tocsin.integrations.teams_bot import hmac_header

    body = json.dumps(activity).encode()
    headers = {"Content-Type": "application/json"}
    if auth is None:
        headers["Authorization"] = hmac_header(base64.b64decode(key), body)
    elif auth:
        headers["Authorization"] = auth
    return http.call("POST", "/v1/teams/webhook", body, token=False, headers=headers)


def text_of(card: dict[str, Any]) -> str:
    return json.dumps(card)


def teams_channel(http: Http, incident_id: str) -> str:
    ref, _name = channel_of(http, incident_id)
    team, _, channel = ref.partition("/")
    assert team and channel.startswith("19:"), ref
    return channel


# --- outgoing webhook: HMAC -----------------------------------------------------------------------


def test_hmac_is_over_the_raw_body_with_the_decoded_token() -> None:
    from tocsin.integrations.teams_bot import hmac_header, verify_hmac

    key = base64.b64decode(WEBHOOK_TOKEN)
    body = json.dumps(load_fixture(f"teams/{PERSONAL}")).encode()
    header = hmac_header(key, body)
    assert verify_hmac(key, body, header)
    assert verify_hmac(key, body, "hmac " + header.split(" ", 1)[1])  # scheme case-insensitive
    assert not verify_hmac(key, body + b" ", header)
    assert not verify_hmac(key + b"x", body, header)
    assert not verify_hmac(key, body, None)
    assert not verify_hmac(key, body, header.replace("HMAC", "Bearer"))
    assert not verify_hmac(key, body, "HMAC ")
    # the token is used decoded (as Teams does), not as its base64 text
    assert not verify_hmac(WEBHOOK_TOKEN.encode(), body, header)


def test_an_activity_older_than_five_minutes_is_stale() -> None:
    from tocsin.integrations.teams_bot import stale

    documented = load_fixture(f"teams/{PERSONAL}")  # 2017-02-01T21:10:07.437Z
    assert stale(documented)
    at = 1485983407.437
    assert not stale(documented, now=at + 290) and stale(documented, now=at + 310)
    assert not stale({k: v for k, v in documented.items() if k != "timestamp"})
    assert stale({**documented, "timestamp": "yesterday"})


@pytest.mark.parametrize("case", ["wrong", "missing", "other_key", "bearer", "stale"])
def test_bad_webhook_signatures_get_401_and_change_nothing(
    http: Http, bf: FakeBotFramework, aws: Any, case: str
) -> None:
    activity = personal("statuspage identified Rolling back")
    if case == "stale":  # rightly signed, but recorded 6 minutes ago and replayed
        activity["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 360))
    auth = {
        "wrong": "HMAC 03TCao0i55H1eVKUusZOTZRjtvYTs+mO41mPL+R1e1U=",
        "missing": "",
        "other_key": None,
        "bearer": "Bearer " + bf.sign(),
        "stale": None,
    }[case]
    key = base64.b64encode(b"another webhook's token").decode() if case == "other_key" else None
    resp = hook(http, activity, key=key or WEBHOOK_TOKEN, auth=auth)
    assert resp.status_code == 401
    assert sqs_messages(aws) == 0 and bf.sent == []


def test_webhook_help_answers_at_once_with_the_documented_reply_shape(
    http: Http, bf: FakeBotFramework
) -> None:
    documented = load_fixture("teams/outgoing_webhook_response_adaptive_card_docs.json")
    resp = hook(http, in_channel("19:abc@thread.tacv2", "help"))
    assert resp.status_code == 200
    assert resp.body["type"] == documented["type"]
    (attachment,) = resp.body["attachments"]
    assert attachment["contentType"] == documented["attachments"][0]["contentType"]
    check_card(attachment["content"], "webhook answer")
    text = text_of(attachment["content"])
    assert "/incident statuspage" in text and "/incident help" in text
    assert "Action.Submit" not in text


def test_webhook_unknown_command_answers_with_help(http: Http, bf: FakeBotFramework) -> None:
    resp = hook(http, in_channel("19:abc@thread.tacv2", "frobnicate now"))
    assert resp.status_code == 200
    text = text_of(resp.body)
    assert "not a command I know" in text and "/incident statuspage" in text


def test_webhook_statuspage_previews_without_buttons(http: Http, bf: FakeBotFramework) -> None:
    incident_id = sev2(http)
    activity = in_channel(teams_channel(http, incident_id), "statuspage identified Rolling back.")
    started = time.monotonic()
    resp = hook(http, activity)
    assert time.monotonic() - started < 5
    (attachment,) = resp.body["attachments"]
    card = attachment["content"]
    check_card(card, "webhook preview")
    assert "Status page preview: INC-" in text_of(card) and "Rolling back." in text_of(card)
    assert "actions" not in card  # a webhook cannot take a click
    assert "tocsin statuspage publish" in text_of(card)
    assert records(http, "public") == []


def test_a_slow_webhook_command_answers_still_working_within_five_seconds(
    http: Http, bf: FakeBotFramework, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import tocsin.handlers.teams_chatops as handler
    from tocsin.services.chatops import ChatOps

    finished = threading.Event()

    def slow(*_args: Any) -> None:
        time.sleep(3)
        finished.set()

    monkeypatch.setattr(handler, "WEBHOOK_BUDGET", 0.5)
    monkeypatch.setattr(ChatOps, "statuspage", slow)
    resp = hook(http, in_channel("19:abc@thread.tacv2", "statuspage identified x"))
    assert not finished.is_set()  # answered before the command was done (no timing asserted)
    documented = load_fixture("teams/outgoing_webhook_response_docs.json")
    assert set(resp.body) == set(documented) and resp.body["type"] == "message"
    assert resp.body["text"].startswith("Still working on /incident statuspage")


@pytest.mark.parametrize(
    "text",
    [
        "<at>Tocsin</at> statuspage identified Rolling back",
        "<p><at>Tocsin</at>&nbsp;/incident statuspage identified Rolling back</p>",
        "incident statuspage identified Rolling back",
        "statuspage   identified Rolling back",
    ],
)
def test_the_mention_and_markup_are_stripped_from_commands(text: str) -> None:
    from tocsin.integrations.teams_chatops import command_text

    assert command_text({"text": text}) == "statuspage identified Rolling back"


# --- the bot: JWT -----------------------------------------------------------------------------------


def test_a_valid_token_is_acknowledged_and_answered(http: Http, bf: FakeBotFramework) -> None:
    resp = post(http, bf, personal("help"))
    assert resp.status_code == 200
    ((method, conversation, _replied_to, body),) = bf.sent
    activity = load_fixture(f"teams/{PERSONAL}")
    assert method == "POST" and conversation == activity["conversation"]["id"]
    assert body["from"]["id"] == activity["recipient"]["id"]  # the bot speaks
    assert body["recipient"]["id"] == activity["from"]["id"]
    text = text_of(body)
    assert "/incident statuspage" in text and "/incident help" in text


@pytest.mark.parametrize(
    "case",
    ["stranger_key", "audience", "issuer", "expired", "service_url", "alg_none", "no_token"],
)
def test_bad_tokens_get_401_and_nothing_happens(
    http: Http, bf: FakeBotFramework, aws: Any, case: str
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    activity = personal("help")
    url = activity["serviceUrl"]
    token = {
        "stranger_key": lambda: bf.sign(
            service_url=url, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ),
        "audience": lambda: bf.sign(
            service_url=url, audience="00000000-0000-0000-0000-0000000000aa"
        ),
        "issuer": lambda: bf.sign(service_url=url, issuer="https://sts.windows.net/x/"),
        "expired": lambda: bf.sign(service_url=url, expires_in=-400),
        "service_url": lambda: bf.sign(service_url="https://evil.example.com/amer/"),
        "alg_none": lambda: (
            base64.urlsafe_b64encode(b'{"alg":"none","kid":"%s"}' % bf.kid.encode())
            .rstrip(b"=")
            .decode()
            + "."
            + bf.sign(service_url=url).split(".")[1]
            + "."
        ),
        "no_token": lambda: "",
    }[case]()
    body = json.dumps(activity).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    resp = http.call("POST", "/v1/teams/messages", body, token=False, headers=headers)
    assert resp.status_code == 401
    assert sqs_messages(aws) == 0 and bf.sent == []


def test_a_key_not_endorsed_for_teams_is_refused(
    http: Http, bf: FakeBotFramework, aws: Any
) -> None:
    bf.endorsements = ["webchat"]  # a key the Connector uses for other channels only
    assert post(http, bf, personal("help")).status_code == 401
    assert sqs_messages(aws) == 0 and bf.sent == []


def test_a_single_tenant_bot_gets_its_token_from_its_tenant() -> None:
    from tocsin.integrations.teams import BotOptions
    from tocsin.integrations.teams_bot import BotConnector

    with FakeBotFramework(BOT_APP_ID, BOT_PASSWORD, tenant=TENANT_ID) as fake:
        options = BotOptions(
            app_id=BOT_APP_ID, tenant_id=TENANT_ID, openid_url=fake.openid_url, login_url=fake.url
        )
        activity = load_fixture(f"teams/{PERSONAL}")
        activity["serviceUrl"] = fake.service_url
        BotConnector(options, BOT_PASSWORD).reply(activity, {"type": "message", "text": "hi"})
        assert fake.calls("POST", rf"/{TENANT_ID}/oauth2/v2\.0/token")
        assert len(fake.sent) == 1 and fake.violations == []


def test_expiry_has_a_small_clock_skew(http: Http, bf: FakeBotFramework) -> None:
    activity = personal("help")
    token = bf.sign(service_url=activity["serviceUrl"], expires_in=-60)
    assert post(http, bf, activity, token=token).status_code == 200


def test_a_rotated_signing_key_is_fetched_once_its_kid_is_seen(
    http: Http, bf: FakeBotFramework
) -> None:
    from tocsin.integrations import teams_bot

    assert post(http, bf, personal("help")).status_code == 200
    keys_fetched = len(bf.calls("GET", r"/v1/\.well-known/keys"))
    assert post(http, bf, personal("help")).status_code == 200
    assert len(bf.calls("GET", r"/v1/\.well-known/keys")) == keys_fetched  # cached
    bf.rotate_key()
    for auth in teams_bot._authenticators.values():
        auth._fetched_at -= teams_bot.KEYS_REFRESH_MIN + 1  # a minute later
    assert post(http, bf, personal("help")).status_code == 200
    assert len(bf.calls("GET", r"/v1/\.well-known/keys")) == keys_fetched + 1


def test_the_bot_token_is_cached_and_never_sent_elsewhere(http: Http, bf: FakeBotFramework) -> None:
    for _ in range(3):
        post(http, bf, personal("help"))
    assert len(bf.calls("POST", r"/botframework\.com/oauth2/v2\.0/token")) == 1
    replies = bf.calls("POST", r"/amer/v3/conversations/.*")
    assert len(replies) == 3
    assert {r.headers["authorization"][7:] for r in replies} <= bf.tokens


# --- commands through the bot -----------------------------------------------------------------------


def test_unknown_command_answers_with_help(http: Http, bf: FakeBotFramework) -> None:
    post(http, bf, personal("frobnicate now"))
    (card,) = bf.cards()
    assert "not a command I know" in text_of(card) and "/incident statuspage" in text_of(card)


def test_channel_messages_not_addressed_to_the_bot_are_not_commands(
    http: Http, bf: FakeBotFramework
) -> None:
    resp = post(http, bf, in_channel("19:abc@thread.tacv2", "help", mention=False))
    assert resp.status_code == 200 and bf.sent == []


def test_statuspage_preview_then_publish_through_the_card(http: Http, bf: FakeBotFramework) -> None:
    incident_id = sev2(http)
    asked = in_channel(teams_channel(http, incident_id), "statuspage identified A bad deploy.")
    assert post(http, bf, asked).status_code == 200
    (preview,) = bf.cards()
    check_card(preview, "preview")
    assert "Status page preview: INC-" in text_of(preview)
    assert "A bad deploy." in text_of(preview) and "open a new incident" in text_of(preview)
    publish, cancel = preview["actions"]
    assert (publish["type"], publish["title"], publish["style"]) == (
        "Action.Submit",
        "Publish",
        "positive",
    )
    assert publish["data"]["action"] == "tocsin.statuspage.publish"
    assert cancel["data"] == {
        "action": "tocsin.statuspage.cancel",
        "value": publish["data"]["value"],
    }
    assert records(http, "public") == []

    assert post(http, bf, submit(asked, publish["data"])).status_code == 200
    (method, _conv, replaced, body) = bf.sent[-1]
    assert method == "PUT" and replaced == "1:card-message"  # the preview card is replaced
    done = body["attachments"][0]["content"]
    assert "Published INC-" in text_of(done) and "by carol" in text_of(done)
    (public,) = records(http, "public")
    assert public["status"] == "identified" and public["updates"][0]["author"] == "carol"

    # clicked again: nothing is published twice
    post(http, bf, submit(asked, publish["data"]))
    assert "Already published by carol" in text_of(bf.sent[-1][3])
    assert len(records(http, "public")[0]["updates"]) == 1


def test_cancel_through_the_card(http: Http, bf: FakeBotFramework) -> None:
    incident_id = sev2(http)
    asked = in_channel(teams_channel(http, incident_id), "statuspage monitoring Watching.")
    post(http, bf, asked)
    (preview,) = bf.cards()
    _publish, cancel = preview["actions"]
    post(http, bf, submit(asked, cancel["data"]))
    assert bf.sent[-1][0] == "PUT" and "Cancelled by carol" in text_of(bf.sent[-1][3])
    assert records(http, "public") == []


def test_a_stranger_is_denied_and_told_who_may(http: Http, bf: FakeBotFramework) -> None:
    incident_id = sev2(http, comms="carol", commander="alice")
    post(http, bf, in_channel(teams_channel(http, incident_id), "statuspage x", user=STRANGER))
    (card,) = bf.cards()
    check_card(card, "denial")
    assert "may not publish" in text_of(card) and "Communications Lead (carol)" in text_of(card)
    assert records(http, "public") == []


def test_only_who_asked_for_the_preview_may_publish_it(http: Http, bf: FakeBotFramework) -> None:
    incident_id = sev2(http, comms="carol", commander="alice")
    asked = in_channel(teams_channel(http, incident_id), "statuspage identified x")
    post(http, bf, asked)
    (preview,) = bf.cards()
    post(http, bf, submit(asked, preview["actions"][0]["data"], user=ALICE))
    method, *_rest, body = bf.sent[-1]
    assert method == "POST"  # a refusal does not replace the preview
    assert "Only the person who asked" in text_of(body)
    assert records(http, "public") == []


def test_a_redelivered_activity_acts_once(http: Http, bf: FakeBotFramework, aws: Any) -> None:
    incident_id = sev2(http)
    asked = in_channel(teams_channel(http, incident_id), "statuspage identified Once.")
    post(http, bf, asked)
    (preview,) = bf.cards()
    click = submit(asked, preview["actions"][0]["data"])
    post(http, bf, click)
    sent = len(bf.sent)
    post(http, bf, click)  # Teams delivers the same activity again
    assert len(bf.sent) == sent  # nothing more said, nothing more done
    assert len(records(http, "public")[0]["updates"]) == 1
    post(http, bf, asked)  # and the command is not run twice either
    assert len(bf.cards()) == 1


def _record(job: dict[str, Any], message_id: str, receives: int) -> Any:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    return SQSRecord(
        {
            "messageId": message_id,
            "body": json.dumps(job),
            "attributes": {"ApproximateReceiveCount": str(receives)},
        }
    )


def test_a_connector_outage_is_retried_by_the_same_job_only(
    http: Http, bf: FakeBotFramework
) -> None:
    """SQS retries a job whose answer failed for a passing reason: the same job may take its
    activity again, another delivery of the activity may not."""
    from tocsin.handlers.teams_chatops import record
    from tocsin.integrations.ports import RetryableIntegrationError

    post(http, bf, personal("help"))  # keys and the bot token are cached now
    job = {"kind": "teams", "activity": personal("help")}
    bf.fail_next(503)
    with pytest.raises(RetryableIntegrationError):
        record(_record(job, "m-1", 1), job)
    record(_record(job, "m-1", 2), job)  # SQS's second receive
    record(_record(job, "m-2", 1), job)  # Teams delivered it twice: ignored
    replies = [r for r in bf.calls("POST", r"/amer/v3/.*")]
    assert len(replies) == 3  # the warm-up, the refused attempt, the retry
    assert len(bf.sent) == 2


# --- capture ----------------------------------------------------------------------------------------
CHANNEL = "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2"


def _channel_activity(kind: str, event_type: str | None = None, **extra: Any) -> Any:
    activity = in_channel(CHANNEL, "", mention=False)
    activity["type"] = kind
    if event_type:
        activity["channelData"]["eventType"] = event_type
    activity.update(extra)
    return activity


def test_channel_messages_edits_deletions_and_reactions_become_chat_events() -> None:
    from tocsin.domain.chatevents import ChatEventKind
    from tocsin.integrations.teams_chatops import teams_chat_event

    said = _channel_activity("message", text="<p>Rolling back &amp; watching</p>")
    event = teams_chat_event(said)
    assert event is not None and event.kind is ChatEventKind.MESSAGE
    assert event.text == "Rolling back & watching" and event.user_id == CAROL
    assert event.channel_id == CHANNEL and event.message_id == said["id"]
    assert event.provider == "teams" and event.thread_id is None
    assert event.at.isoformat().startswith(said["timestamp"][:19])

    edited = teams_chat_event(_channel_activity("messageUpdate", "editMessage", text="v2"))
    assert edited is not None and edited.kind is ChatEventKind.EDIT and edited.text == "v2"
    deleted = teams_chat_event(_channel_activity("messageDelete", "softDeleteMessage"))
    assert deleted is not None and deleted.kind is ChatEventKind.DELETE and deleted.text == ""
    liked = teams_chat_event(
        _channel_activity("messageReaction", reactionsAdded=[{"type": "like"}], replyToId="42")
    )
    assert liked is not None and liked.kind is ChatEventKind.REACTION_ADDED
    assert (liked.reaction, liked.message_id) == ("like", "42")
    unliked = teams_chat_event(
        _channel_activity("messageReaction", reactionsRemoved=[{"type": "heart"}], replyToId="42")
    )
    assert unliked is not None and unliked.kind is ChatEventKind.REACTION_REMOVED

    reply = _channel_activity("message", text="in a thread")
    reply["conversation"]["id"] = f"{CHANNEL};messageid=1616990032035"
    threaded = teams_chat_event(reply)
    assert threaded is not None and threaded.thread_id == "1616990032035"

    assert teams_chat_event(_channel_activity("messageUpdate", "undeleteMessage")) is None
    assert teams_chat_event(_channel_activity("typing")) is None
    assert teams_chat_event(personal("hello")) is None  # not a channel
    click = _channel_activity("message", value={"action": "tocsin.statuspage.publish"})
    assert teams_chat_event(click) is None


def test_only_incident_channel_activity_reaches_the_capture(
    http: Http, bf: FakeBotFramework, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tocsin.handlers.container import Container

    captured: list[Any] = []

    class Capture:
        def capture(self, event: Any) -> None:
            captured.append(event)

    monkeypatch.setattr(Container, "capture", Capture(), raising=False)
    incident_id = sev2(http)
    ref, _ = channel_of(http, incident_id)
    channel = ref.partition("/")[2]
    said = in_channel(channel, "rolling back now", mention=False)
    post(http, bf, said)

    def changed(kind: str, event_type: str, text: str, seconds: int) -> Any:
        """As Teams sends them: the same message id and conversation, a later timestamp."""
        activity = copy.deepcopy(said)
        activity.update(type=kind, text=text)
        activity["timestamp"] = time.strftime(
            "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + seconds)
        )
        activity["channelData"]["eventType"] = event_type
        return activity

    first_edit = changed("messageUpdate", "editMessage", "rolling back now (v2)", 1)
    post(http, bf, first_edit)
    post(http, bf, changed("messageUpdate", "editMessage", "rolling back now (v3)", 2))
    post(http, bf, first_edit)  # redelivered: captured once
    post(http, bf, changed("messageDelete", "softDeleteMessage", "", 3))
    post(http, bf, in_channel("19:other@thread.tacv2", "not an incident", mention=False))
    assert [(e.kind.value, e.channel_id, e.message_id) for e in captured] == [
        ("message", ref, said["id"]),
        ("edit", ref, said["id"]),
        ("edit", ref, said["id"]),
        ("delete", ref, said["id"]),
    ]
    assert [e.text for e in captured[1:3]] == ["rolling back now (v2)", "rolling back now (v3)"]
    assert bf.sent == []  # capture says nothing in the channel
    # chatter outside incident channels is not even claimed
    table = boto3.client("dynamodb", region_name="us-east-1")
    from tocsin.handlers.container import container

    items = table.scan(TableName=container().settings.table_name)["Items"]
    deliveries = [i for i in items if i["pk"]["S"].startswith("CHATDELIVERY#")]
    assert len(deliveries) == 4


# --- cards ------------------------------------------------------------------------------------------


def test_chat_message_actions_render_as_submits_and_choice_sets() -> None:
    from tocsin.integrations.ports import Action, ChatMessage, Link
    from tocsin.integrations.teams import render_card

    card = render_card(
        ChatMessage(
            text="INC-42",
            title="INC-42 Checkout down",
            links=(Link("Runbook", "https://example.com/rb"),),
            actions=(
                Action("Acknowledge", "tocsin.ack", "inc-1", style="primary"),
                Action("Resolve", "tocsin.resolve", "inc-1", style="danger", confirm="Resolve?"),
                Action(
                    "Severity", "tocsin.sev", "SEV2", options=(("SEV1", "SEV1"), ("SEV2", "SEV2"))
                ),
            ),
        )
    )
    check_card(card, "render_card")
    ack, resolve, sev, runbook = card["actions"]
    assert ack == {
        "type": "Action.Submit",
        "title": "Acknowledge",
        "data": {"action": "tocsin.ack", "value": "inc-1"},
        "style": "positive",
    }
    assert resolve["type"] == "Action.ShowCard"
    (question,) = resolve["card"]["body"]
    assert question["inlines"][0]["text"] == "Resolve?"  # a TextRun: never Markdown
    (confirm,) = resolve["card"]["actions"]
    assert confirm["data"] == {"action": "tocsin.resolve", "value": "inc-1"}
    assert confirm["style"] == "destructive"
    assert sev["type"] == "Action.ShowCard"
    (choice,) = sev["card"]["body"]
    assert choice["type"] == "Input.ChoiceSet" and choice["id"] == "value"
    assert [c["value"] for c in choice["choices"]] == ["SEV1", "SEV2"]
    assert sev["card"]["actions"][0]["data"] == {"action": "tocsin.sev"}  # + the input "value"
    assert runbook["type"] == "Action.OpenUrl"


def test_every_answer_renders_as_a_valid_card_and_unknown_ones_show_their_text() -> None:
    from dataclasses import dataclass

    from tocsin.integrations.teams_chatops import render
    from tocsin.services.chatops import Cancelled, Reply, help_reply

    for answer in (Reply("x" * 10000, ["<at>evil</at>"] * 100), Cancelled("carol"), help_reply()):
        check_card(render(answer), type(answer).__name__)
    assert "<at>evil</at>" in text_of(render(Reply("hi", ["<at>evil</at>"])))  # a TextRun: inert
    assert len(text_of(render(Reply("x" * 10000)))) < 6000

    @dataclass(frozen=True)
    class Timeline:  # an answer type added to services/chatops.py later
        text: str

    card = render(Timeline("Timeline of INC-7"))
    check_card(card, "later answer")
    assert "Timeline of INC-7" in text_of(card)


# --- the app package --------------------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int, int]:
    """(width, height, colour type) from a PNG's IHDR, after checking its signature and CRCs."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at = 8
    chunks = {}
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = body
        at += 12 + length
    assert b"IEND" in chunks and b"IDAT" in chunks
    width, height, _depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    raw = zlib.decompress(chunks[b"IDAT"])
    assert len(raw) == height * (1 + width * 4)
    return width, height, colour


def test_the_manifest_command_writes_a_teams_app_package(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from tocsin.services.chatops import COMMANDS
    from tocsin_local.cli import main

    out = tmp_path / "tocsin-teams.zip"
    result = CliRunner().invoke(
        main,
        [
            "teams",
            "manifest",
            "--url",
            "https://abc123.execute-api.eu-west-1.amazonaws.com",
            "--bot-id",
            BOT_APP_ID,
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        color, outline = package.read("color.png"), package.read("outline.png")
    assert manifest["manifestVersion"] == "1.19"
    assert manifest["$schema"].endswith("/teams/v1.19/MicrosoftTeams.schema.json")
    assert manifest["id"] == BOT_APP_ID
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80
    (bot,) = manifest["bots"]
    assert bot["botId"] == BOT_APP_ID
    assert sorted(bot["scopes"]) == ["groupChat", "personal", "team"]
    (commands,) = bot["commandLists"]
    # the menu holds at most 10: the most used commands and help (every command works typed)
    titles = [c["title"] for c in commands["commands"]]
    assert len(titles) == 10 and "help" in titles and set(titles) <= set(COMMANDS)
    assert all(len(c["description"]) <= 128 for c in commands["commands"])
    assert manifest["validDomains"] == ["abc123.execute-api.eu-west-1.amazonaws.com"]
    rsc = manifest["authorization"]["permissions"]["resourceSpecific"]
    assert {"name": "ChannelMessage.Read.Group", "type": "Application"} in rsc
    assert manifest["webApplicationInfo"]["id"] == BOT_APP_ID
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert _png_size(color) == (192, 192, 6)
    assert _png_size(outline) == (32, 32, 6)


def test_the_outline_icon_is_white_on_transparent() -> None:
    import struct
    import zlib

    from tocsin_local.teams_app import outline_icon

    data = outline_icon()
    (length,) = struct.unpack(">I", data[33:37])
    raw = zlib.decompress(data[41 : 41 + length])
    pixels = {
        bytes(raw[r * 129 + 1 + i * 4 : r * 129 + 5 + i * 4]) for r in range(32) for i in range(32)
    }
    assert pixels == {b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"}


@pytest.mark.parametrize(
    "args",
    [
        ["--url", "http://insecure.example.com", "--bot-id", BOT_APP_ID],
        ["--url", "https://api.example.com", "--bot-id", "my-bot"],
    ],
)
def test_the_manifest_command_refuses_bad_arguments(tmp_path: Path, args: list[str]) -> None:
    from click.testing import CliRunner
    from tocsin_local.cli import main

    out = tmp_path / "x.zip"
    result = CliRunner().invoke(main, ["teams", "manifest", *args, "--out", str(out)])
    assert result.exit_code != 0 and not out.exists()


# --- the other commands, buttons and the real capture through Teams ------------------------------


def test_declare_is_a_card_form_whose_submit_declares(http: Http, bf: FakeBotFramework) -> None:
    asked = personal("declare")
    assert post(http, bf, asked).status_code == 200
    (form,) = bf.cards()
    check_card(form, "declare form")
    inputs = {e["id"]: e for e in form["body"] if e["type"].startswith("Input.")}
    assert set(inputs) == {"title", "severity", "service", "description"}
    assert [c["value"] for c in inputs["severity"]["choices"]] == ["SEV1", "SEV2", "SEV3"]
    (declare,) = form["actions"]
    assert declare["data"]["action"] == "tocsin.declare.submit" and declare["data"]["form"]
    # Teams merges the inputs' values into the submit's data
    data = {**declare["data"], "title": "Search is slow", "severity": "SEV3", "service": "search"}
    post(http, bf, submit(asked, data))
    assert "declared INC-" in text_of(bf.sent[-1][3])
    post(http, bf, submit(asked, data))  # a second click on the same card declares nothing
    assert "already declared" in text_of(bf.sent[-1][3])
    (found,) = http.call("GET", "/v1/incidents").body["items"]
    assert (found["title"], found["severity"], found["service"]) == (
        "Search is slow",
        "SEV3",
        "search",
    )


def test_summary_buttons_act_through_card_submits(http: Http, bf: FakeBotFramework) -> None:
    incident_id = sev2(http)
    asked = in_channel(teams_channel(http, incident_id), "summary")
    post(http, bf, asked)
    (card,) = bf.cards()
    check_card(card, "summary")

    def walk(node: Any) -> Iterator[dict[str, Any]]:  # submits, also inside ShowCards
        if isinstance(node, dict):
            if node.get("type") == "Action.Submit":
                yield node
            for child in node.values():
                yield from walk(child)
        elif isinstance(node, list):
            for child in node:
                yield from walk(child)

    submits = {a["data"]["action"]: a["data"] for a in walk(card)}
    assert "tocsin.incident.acknowledge" in submits and "tocsin.incident.resolve" in submits
    post(http, bf, submit(asked, submits["tocsin.incident.acknowledge"]))
    assert "acknowledged INC-" in text_of(bf.sent[-1][3])
    status = http.call("GET", f"/v1/incidents/{incident_id}").body["status"]
    assert status == "acknowledged"
    post(http, bf, submit(asked, submits["tocsin.incident.resolve"], user=STRANGER))
    assert "may not resolve" in text_of(bf.sent[-1][3])


def test_channel_messages_edits_and_deletions_reach_the_timeline(
    http: Http, bf: FakeBotFramework
) -> None:
    incident_id = sev2(http)
    said = in_channel(teams_channel(http, incident_id), "rolling back now", mention=False)
    post(http, bf, said)
    edited = copy.deepcopy(said)
    edited.update(type="messageUpdate", text="rolling back now, v41")
    edited["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 2))
    edited["channelData"]["eventType"] = "editMessage"
    post(http, bf, edited)
    deleted = copy.deepcopy(edited)
    deleted.update(type="messageDelete", text="")
    deleted["channelData"]["eventType"] = "softDeleteMessage"
    post(http, bf, deleted)
    kinds = {
        e["kind"]: e
        for e in http.call("GET", f"/v1/incidents/{incident_id}/timeline?limit=500").body["items"]
    }
    message = kinds["chat_message"]
    assert message["data"]["text"] == "rolling back now" and message["data"]["person"] == "carol"
    assert kinds["chat_message_edited"]["data"]["text"] == "rolling back now, v41"
    assert "chat_message_deleted" in kinds
