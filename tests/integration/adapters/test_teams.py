"""The Microsoft Teams chat adapters, driven through build(...) against loopback fakes:
FakeGraph (Graph v1.0 + the v2.0 token endpoint) for `teams`, FakeTeamsWebhook (connector and
Workflows URLs) for `teams_webhook`. Card structure is checked against the Adaptive Card
examples in tests/fixtures/vendor/teams/."""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from tocsin.integrations import teams
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
from tocsin.integrations.registry import Provider

from tests.fakes.teams import (
    ADELE,
    ADMIN,
    CLIENT_ID,
    GENERAL_ID,
    HARRY,
    JANE,
    OUTGOING_CARD_EXAMPLE,
    SERVICE_ACCOUNT,
    TEAM_ID,
    TENANT_ID,
    WEBHOOK_EXAMPLE,
    FakeGraph,
    FakeTeamsWebhook,
    graph_error,
)

CLIENT_SECRET = "Xq58Q~graph-client-s3cr3t-value"
REFRESH_TOKEN = "0.AXoAgraph-refresh-s3cr3t-token"
HOSTILE = '<at>x</at> <script>alert(1)</script> [click](javascript:alert(1)) & "q"'
CHANNELS = f"/v1.0/teams/{TEAM_ID}/channels"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph(client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN) as server:
        yield server


def make(fake: FakeGraph, **options: Any) -> teams.TeamsChat:
    opts = teams.Options.model_validate(
        {
            "base_url": fake.graph,
            "login_url": fake.url,
            "tenant_id": TENANT_ID,
            "client_id": CLIENT_ID,
            "team_id": TEAM_ID,
            **options,
        }
    )
    return teams.build(opts, fake.secret)


def secrets_of(fake: FakeGraph) -> list[str]:
    return [CLIENT_SECRET, *fake.refresh_tokens, *fake.tokens]


def assert_clean(exc: BaseException, fake: FakeGraph) -> None:
    text = f"{exc} {exc!r} {getattr(exc, 'message', '')}"
    for secret in secrets_of(fake):
        assert secret not in text


def token_calls(fake: FakeGraph) -> list[Any]:
    return fake.calls("POST", f"/{TENANT_ID}/oauth2/v2.0/token")


def card_of(request: Any) -> dict[str, Any]:
    return json.loads(request.json["attachments"][0]["content"])


def texts(card: Any) -> list[str]:
    """Every text a card shows (TextBlocks, TextRuns, facts, action titles)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("text", "title", "value"):
                if isinstance(node.get(key), str):
                    out.append(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return out


def summary() -> ChatMessage:
    return ChatMessage(
        text="INC-42 (SEV1): Checkout errors",
        title="INC-42: Checkout errors",
        body="Payments fail for **EU** customers.",
        fields=(("Severity", "SEV1 — critical"), ("Status", "investigating")),
        links=(
            Link("Join the video bridge", "https://zoom.us/j/123"),
            Link("Runbook", "https://wiki/r"),
        ),
        accent="danger",
        context=("Alert: HighErrorRate", "Suggested runbook: https://wiki/r"),
    )


# --- module contract ----------------------------------------------------------------------------


def test_module_contract() -> None:
    assert teams.PROVIDER == "teams" and teams.PORT == "chat"
    assert teams.SECRET_KEYS == ("client_secret", "refresh_token")
    assert teams.ADAPTERS["teams_webhook"]["SECRET_KEYS"] == ("webhook_url",)
    for name, options in (("teams", teams.Options), ("teams_webhook", teams.WebhookOptions)):
        provider = Provider("chat", name)
        assert provider.options_model is options
        assert provider.options_model.model_config.get("extra") == "forbid"
    graph = Provider("chat", "teams")
    assert graph.secret_keys == teams.SECRET_KEYS
    defaults = teams.Options(tenant_id=TENANT_ID, client_id=CLIENT_ID, team_id=TEAM_ID)
    assert defaults.base_url == "https://graph.microsoft.com/v1.0"
    assert defaults.login_url == "https://login.microsoftonline.com"
    assert defaults.channel_membership == "standard"


def test_options_need_the_team_tenant_and_client() -> None:
    with pytest.raises(ValidationError):
        teams.Options.model_validate({"tenant_id": TENANT_ID, "client_id": CLIENT_ID})
    with pytest.raises(ValidationError):
        teams.Options(tenant_id=TENANT_ID, client_id=CLIENT_ID, team_id="not-a-guid")
    with pytest.raises(ValidationError):
        teams.Options(
            tenant_id=TENANT_ID, client_id=CLIENT_ID, team_id=TEAM_ID, channel_membership="open"
        )
    with pytest.raises(ValidationError):
        teams.WebhookOptions.model_validate({"webhook_url": "https://x"})  # a secret, not an option


@pytest.mark.parametrize("missing", ["client_secret", "refresh_token"])
def test_build_without_a_secret_key_is_a_clear_permanent_error(missing: str) -> None:
    secret = {"client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN}
    secret[missing] = ""
    opts = teams.Options(tenant_id=TENANT_ID, client_id=CLIENT_ID, team_id=TEAM_ID)
    with pytest.raises(PermanentIntegrationError) as err:
        teams.build(opts, secret)
    assert missing in str(err.value)
    assert CLIENT_SECRET not in str(err.value) and REFRESH_TOKEN not in str(err.value)


def test_adapters_implement_the_chat_port(fake: FakeGraph) -> None:
    assert isinstance(make(fake), ChatPort)
    hook = teams.build_webhook(teams.WebhookOptions(), {"webhook_url": "https://x.test/hook/abc"})
    assert isinstance(hook, ChatPort)
    assert hook.provider == "teams_webhook"


# --- render_card ----------------------------------------------------------------------------------


def test_render_card_has_the_documented_adaptive_card_shape() -> None:
    card = teams.render_card(summary())
    documented = WEBHOOK_EXAMPLE["attachments"][0]["content"]
    assert set(documented) <= set(card)  # $schema, type, version, body
    assert card["$schema"] == documented["$schema"]
    assert (
        card["type"]
        == documented["type"]
        == OUTGOING_CARD_EXAMPLE["attachments"][0]["content"]["type"]
    )
    assert card["version"] == "1.4"
    kinds = [element["type"] for element in card["body"]]
    assert kinds == ["Container", "TextBlock", "FactSet", "RichTextBlock", "RichTextBlock"]
    heading = card["body"][0]
    assert heading["style"] == "attention"
    run = heading["items"][0]["inlines"][0]
    assert run["text"] == "INC-42: Checkout errors" and run["weight"] == "Bolder"
    assert card["body"][1] == {
        "type": "TextBlock",
        "text": "Payments fail for **EU** customers.",
        "wrap": True,
    }
    assert card["body"][2]["facts"][0] == {"title": "Severity", "value": "SEV1 — critical"}
    assert card["body"][3]["inlines"][0]["isSubtle"] is True
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Join the video bridge",
            "url": "https://zoom.us/j/123",
        },
        {"type": "Action.OpenUrl", "title": "Runbook", "url": "https://wiki/r"},
    ]
    json.dumps(card)  # serialisable as is


def test_render_card_keeps_hostile_text_inert() -> None:
    card = teams.render_card(
        ChatMessage(
            text=HOSTILE,
            title=HOSTILE,
            fields=(("Service", HOSTILE),),
            context=(HOSTILE,),
            links=(Link(HOSTILE, "https://example.com/a"),),
            mentions=("not-a-guid",),
        )
    )
    # the text is shown as typed (TextRuns are never parsed; nothing declares a mention)
    assert card["body"][0]["inlines"][0] == {
        "type": "TextRun",
        "text": HOSTILE,
        "weight": "Bolder",
        "size": "Large",
    }
    assert card["body"][-1]["inlines"][0]["text"] == HOSTILE
    assert "entities" not in card["msteams"]
    for text in texts(card):  # nothing escaped, rewritten or dropped: only cut to limits
        assert text in (HOSTILE, "Service") or (
            text.endswith("…") and HOSTILE.startswith(text[:-1])
        )


def test_render_card_drops_bad_links_and_caps_buttons() -> None:
    links = tuple(Link(f"L{n}", f"https://example.com/{n}") for n in range(14))
    card = teams.render_card(
        ChatMessage(text="t", title="T", links=(Link("bad", "javascript:alert(1)"), *links))
    )
    assert len(card["actions"]) == teams.MAX_ACTIONS
    assert all(a["url"].startswith("https://") for a in card["actions"])
    extra = card["body"][-1]
    assert (
        extra["type"] == "ActionSet"
        and len(extra["actions"]) == teams.MAX_LINKS - teams.MAX_ACTIONS
    )


def test_render_card_of_a_text_only_message_and_long_text() -> None:
    card = teams.render_card(ChatMessage(text="INC-7 is now SEV2, mitigated."))
    assert card["body"] == [
        {"type": "TextBlock", "text": "INC-7 is now SEV2, mitigated.", "wrap": True}
    ]
    assert "actions" not in card
    long = teams.render_card(ChatMessage(text="x", title="T" * 900, body="b" * 9000))
    assert len(long["body"][0]["inlines"][0]["text"]) == teams.MAX_TITLE
    assert len(long["body"][1]["text"]) == teams.MAX_BODY
    assert long["body"][1]["text"].endswith("…")


def test_channel_display_name_rules() -> None:
    assert teams.channel_display_name("inc-42-checkout-latency") == "inc-42-checkout-latency"
    assert teams.channel_display_name("_.inc: 7/8 <eu>?") == "inc- 7-8 -eu--"
    assert len(teams.channel_display_name("x" * 80)) == teams.CHANNEL_NAME_MAX
    assert teams.channel_display_name("name.") == "name"
    for bad in ("", "___", "#%&", "\x00\x07"):
        with pytest.raises(PermanentIntegrationError):
            teams.channel_display_name(bad)


# --- token ----------------------------------------------------------------------------------------


def test_token_is_fetched_once_with_the_documented_form_and_cached(fake: FakeGraph) -> None:
    chat = make(fake)
    assert chat.find_channel("General") is not None
    assert chat.find_channel("nope") is None
    calls = token_calls(fake)
    assert len(calls) == 1
    form = calls[0].form
    assert form == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
        "scope": "https://graph.microsoft.com/.default offline_access",
    }
    assert fake.violations == []


def test_token_is_renewed_shortly_before_it_expires_with_the_rotated_refresh_token(
    fake: FakeGraph,
) -> None:
    clock = Clock()
    chat = make(fake)
    chat.clock = clock
    chat.find_channel("General")
    first_rotated = chat.refresh_token
    assert first_rotated != REFRESH_TOKEN and first_rotated in fake.refresh_tokens
    clock.now += fake.expires_in - 200  # still well within the lifetime
    chat.find_channel("General")
    assert len(token_calls(fake)) == 1
    clock.now += 150  # within the margin before expiry: renewed
    chat.find_channel("General")
    assert len(token_calls(fake)) == 2
    assert fake.redeemed == [REFRESH_TOKEN, first_rotated]
    assert chat.refresh_token not in (REFRESH_TOKEN, first_rotated)
    assert fake.violations == []


def test_a_rejected_cached_token_is_renewed_once(fake: FakeGraph) -> None:
    chat = make(fake)
    chat.find_channel("General")
    fake.expire_tokens()  # revoked early (or clock skew)
    assert chat.find_channel("General") is not None
    assert len(token_calls(fake)) == 2


def test_a_revoked_refresh_token_is_permanent_and_never_shown(fake: FakeGraph) -> None:
    fake.refresh_tokens.clear()
    with pytest.raises(PermanentIntegrationError) as err:
        make(fake).find_channel("General")
    assert err.value.status == 400
    assert "invalid_grant" in err.value.message and "AADSTS70008" in err.value.message
    assert "sign it in again" in err.value.message
    assert_clean(err.value, fake)


def test_a_wrong_client_secret_is_permanent(fake: FakeGraph) -> None:
    opts = make(fake).options
    chat = teams.build(opts, {"client_secret": "wrong-s3cret", "refresh_token": REFRESH_TOKEN})
    with pytest.raises(PermanentIntegrationError) as err:
        chat.find_channel("General")
    assert err.value.status == 401 and "invalid_client" in err.value.message
    assert "wrong-s3cret" not in str(err.value)


@pytest.mark.parametrize("status", [429, 503])
def test_token_endpoint_throttling_and_outages_are_retryable(fake: FakeGraph, status: int) -> None:
    fake.fail_next(status, headers={"Retry-After": "7"}, body={"error": "temporarily_unavailable"})
    with pytest.raises(RetryableIntegrationError) as err:
        make(fake).find_channel("General")
    assert err.value.status == status and err.value.retry_after == 7.0
    assert_clean(err.value, fake)


# --- channels ---------------------------------------------------------------------------------------


def test_find_channel_filters_on_the_exact_display_name(fake: FakeGraph) -> None:
    fake.add_channel("inc-42-checkout")
    chat = make(fake)
    ref = chat.find_channel("inc-42-checkout")
    assert ref is not None and ref.name == "inc-42-checkout"
    cid = fake.channel("inc-42-checkout")["id"]  # type: ignore[index]
    assert ref == ChannelRef("teams", f"{TEAM_ID}/{cid}", "inc-42-checkout", ref.url)
    assert ref.url and ref.url.startswith("https://teams.microsoft.com/l/channel/")
    call = fake.calls("GET", CHANNELS)[-1]
    assert call.query["$filter"] == ["displayName eq 'inc-42-checkout'"]
    # Graph compares case-insensitively; the adapter wants the exact name
    assert chat.find_channel("INC-42-CHECKOUT") is None
    assert chat.find_channel("inc-4") is None
    assert fake.violations == []


def test_find_channel_follows_pages_to_the_exact_name(fake: FakeGraph) -> None:
    fake.page_size = 1
    fake.add_channel("war room")
    fake.add_channel("War Room")
    ref = make(fake).find_channel("War Room")
    assert ref is not None and ref.name == "War Room"
    assert fake.calls("GET", CHANNELS)[0].query["$filter"] == ["displayName eq 'War Room'"]
    assert len(fake.calls("GET", CHANNELS)) == 2  # the second page came from @odata.nextLink
    assert fake.violations == []


def test_find_channel_lists_all_channels_when_the_filter_is_refused(fake: FakeGraph) -> None:
    fake.reject_name_filter = True
    fake.add_channel("inc-77")
    ref = make(fake).find_channel("inc-77")
    assert ref is not None and ref.name == "inc-77"
    assert "$filter" not in fake.calls("GET", CHANNELS)[-1].query


def test_odata_string_literals_double_their_quotes() -> None:
    assert teams._odata_string("it's") == "'it''s'"


def test_find_channel_by_reference(fake: FakeGraph) -> None:
    chat = make(fake)
    by_ref = chat.find_channel(f"{TEAM_ID}/{GENERAL_ID}")
    by_id = chat.find_channel(GENERAL_ID)
    assert by_ref == by_id and by_ref is not None and by_ref.name == "General"
    assert chat.find_channel(f"{TEAM_ID}/19:0000@thread.tacv2") is None
    assert fake.violations == []


def test_create_channel(fake: FakeGraph) -> None:
    chat = make(fake)
    ref = chat.create_channel("inc-42-checkout-errors", "INC-42: Checkout errors")
    posts = fake.calls("POST", CHANNELS)
    assert len(posts) == 1
    assert posts[0].json == {
        "displayName": "inc-42-checkout-errors",
        "membershipType": "standard",
        "description": "INC-42: Checkout errors",
    }
    assert posts[0].headers["authorization"] == f"Bearer {fake.tokens[0]}"
    created = fake.channel("inc-42-checkout-errors")
    assert created is not None
    assert ref.id == f"{TEAM_ID}/{created['id']}" and ref.url == created["webUrl"]
    assert fake.violations == []


def test_create_channel_twice_returns_the_same_channel_without_a_second_post(
    fake: FakeGraph,
) -> None:
    chat = make(fake)
    first = chat.create_channel("inc-1-disk-full", "d")
    second = make(fake).create_channel("inc-1-disk-full", "d")
    assert first == second
    assert len(fake.calls("POST", CHANNELS)) == 1
    assert fake.violations == []


@pytest.mark.parametrize("status", [409, 400])
def test_create_channel_race_returns_the_existing_channel(fake: FakeGraph, status: int) -> None:
    fake.duplicate_status = status
    existing = fake.add_channel("inc-2-race")
    fake.unlisted.add("inc-2-race")  # the first lookup does not see it yet

    chat = make(fake)
    original = chat._find
    calls = {"n": 0}

    def find(display: str, casefold: bool = False) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            fake.unlisted.clear()  # visible by the time the conflict is handled
        return original(display, casefold)

    chat._find = find  # type: ignore[method-assign]
    ref = chat.create_channel("inc-2-race", "")
    assert ref.id == f"{TEAM_ID}/{existing['id']}"
    assert len(fake.calls("POST", CHANNELS)) == 1
    assert fake.violations == []


def test_a_name_held_by_a_deleted_channel_is_permanent(fake: FakeGraph) -> None:
    fake.deleted_names.add("inc-3-old")
    with pytest.raises(PermanentIntegrationError) as err:
        make(fake).create_channel("inc-3-old", "")
    assert err.value.status == 409 and "deleted channel" in err.value.message


def test_create_channel_sanitizes_the_name_before_calling_graph(fake: FakeGraph) -> None:
    chat = make(fake)
    ref = chat.create_channel("_inc-9: eu/us <prod>", "")
    assert ref.name == "inc-9- eu-us -prod-"
    assert fake.calls("POST", CHANNELS)[0].json["displayName"] == "inc-9- eu-us -prod-"
    assert chat.find_channel("_inc-9: eu/us <prod>") == ref
    with pytest.raises(PermanentIntegrationError):
        chat.create_channel("###", "")
    assert len(fake.calls("POST", CHANNELS)) == 1
    assert fake.violations == []


def test_create_private_channel(fake: FakeGraph) -> None:
    chat = make(fake, channel_membership="private")
    ref = chat.create_channel("inc-5-secret", "")
    assert fake.calls("POST", CHANNELS)[0].json["membershipType"] == "private"
    assert make(fake, channel_membership="private").find_channel("inc-5-secret") == ref
    assert fake.violations == []


def test_set_topic_patches_the_description(fake: FakeGraph) -> None:
    chat = make(fake)
    ref = chat.create_channel("inc-6", "")
    chat.set_topic(ref, "INC-6 · SEV2 · investigating — " + "x" * 2000)
    patch = fake.calls("PATCH", rf"{CHANNELS}/.+")[0]
    assert set(patch.json) == {"description"}
    assert len(patch.json["description"]) == teams.DESCRIPTION_MAX
    assert fake.channel("inc-6")["description"].startswith("INC-6 · SEV2")  # type: ignore[index]
    assert fake.violations == []


# --- invite ---------------------------------------------------------------------------------------


def test_invite_to_a_standard_channel_adds_team_members_once(fake: FakeGraph) -> None:
    chat = make(fake)
    ref = chat.create_channel("inc-7", "")
    added = chat.invite(ref, [ADELE, HARRY, JANE, HARRY])  # Adele is in the team already
    assert added == [HARRY, JANE]
    posts = fake.calls("POST", f"/v1.0/teams/{TEAM_ID}/members")
    assert [p.json["user@odata.bind"] for p in posts] == [
        f"{fake.graph}/users('{HARRY}')",
        f"{fake.graph}/users('{JANE}')",
    ]
    assert posts[0].json["@odata.type"] == "#microsoft.graph.aadUserConversationMember"
    lookups = fake.calls("GET", f"/v1.0/teams/{TEAM_ID}/members")
    assert lookups[0].query["$filter"] == [
        f"(microsoft.graph.aadUserConversationMember/userId eq '{ADELE}')"
    ]
    assert chat.invite(ref, [HARRY, JANE]) == []  # second time: nothing new
    assert fake.duplicate_adds == [] and fake.violations == []


def test_invite_to_a_private_channel_joins_the_team_first(fake: FakeGraph) -> None:
    chat = make(fake, channel_membership="private")
    ref = chat.create_channel("inc-8-private", "")
    assert chat.invite(ref, [ADELE, HARRY]) == [ADELE, HARRY]
    team_posts = fake.calls("POST", f"/v1.0/teams/{TEAM_ID}/members")
    assert len(team_posts) == 1  # Harry only; Adele was in the team
    channel_posts = fake.calls("POST", rf"{CHANNELS}/.+/members")
    assert len(channel_posts) == 2
    assert make(fake, channel_membership="private").invite(ref, [ADELE, HARRY]) == []
    assert fake.duplicate_adds == [] and fake.violations == []


def test_invite_refuses_ids_that_are_not_entra_object_ids(fake: FakeGraph) -> None:
    chat = make(fake)
    with pytest.raises(PermanentIntegrationError) as err:
        chat.invite(ChannelRef("teams", f"{TEAM_ID}/{GENERAL_ID}", "General"), ["U123", ADELE])
    assert "U123" in err.value.message
    assert fake.requests == []


def test_invite_of_an_unknown_user_is_permanent(fake: FakeGraph) -> None:
    chat = make(fake)
    ghost = "00000000-0000-0000-0000-000000000001"
    with pytest.raises(PermanentIntegrationError) as err:
        chat.invite(ChannelRef("teams", f"{TEAM_ID}/{GENERAL_ID}", "General"), [ghost])
    assert err.value.status == 404


# --- messages -------------------------------------------------------------------------------------


def test_post_message_sends_an_adaptive_card_with_mentions(fake: FakeGraph) -> None:
    chat = make(fake)
    ref = chat.create_channel("inc-10", "")
    message = ChatMessage(**{**summary().__dict__, "mentions": (JANE, ADELE, "bogus")})
    posted = chat.post_message(ref, message)
    call = fake.calls("POST", rf"{CHANNELS}/.+/messages")[0]
    body = call.json
    attachment = body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    assert body["body"]["contentType"] == "html"
    assert body["body"]["content"] == (
        '<p><at id="0">Jane Smith</at> <at id="1">Adele Vance</at></p>'
        f'<attachment id="{attachment["id"]}"></attachment>'
    )
    assert body["mentions"][0] == {
        "id": 0,
        "mentionText": "Jane Smith",
        "mentioned": {
            "user": {"id": JANE, "displayName": "Jane Smith", "userIdentityType": "aadUser"}
        },
    }
    assert card_of(call) == teams.render_card(message)
    assert body["summary"] == "INC-42 (SEV1): Checkout errors"
    assert body["importance"] == "high"
    stored = fake.channel("inc-10")["_messages"][0]  # type: ignore[index]
    assert posted == MessageRef("teams", ref.id, stored["id"], stored["webUrl"])
    assert fake.violations == []


def test_hostile_text_never_reaches_the_html_body(fake: FakeGraph) -> None:
    fake.users[HARRY]["displayName"] = "<b>Harry</b> <script>x</script>"
    chat = make(fake)
    ref = ChannelRef("teams", f"{TEAM_ID}/{GENERAL_ID}", "General")
    chat.post_message(
        ref, ChatMessage(text=HOSTILE, title=HOSTILE, body=HOSTILE, mentions=(HARRY,))
    )
    call = fake.calls("POST", rf"{CHANNELS}/.+/messages")[0]
    html = call.json["body"]["content"]
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;b&gt;Harry&lt;/b&gt; &lt;script&gt;x&lt;/script&gt;" in html
    assert HOSTILE not in html
    card = card_of(call)
    assert HOSTILE in texts(card)
    assert fake.violations == []  # the fake allows only <p>, <at>, <attachment> tags


def test_a_mention_whose_name_cannot_be_read_still_mentions(fake: FakeGraph) -> None:
    ghost = "00000000-0000-0000-0000-000000000002"
    chat = make(fake)
    ref = ChannelRef("teams", f"{TEAM_ID}/{GENERAL_ID}", "General")
    chat.post_message(ref, ChatMessage(text="t", mentions=(ghost,)))
    body = fake.calls("POST", rf"{CHANNELS}/.+/messages")[0].json
    assert body["mentions"][0]["mentionText"] == teams.MENTION_FALLBACK
    assert body["mentions"][0]["mentioned"]["user"]["id"] == ghost


def test_posting_where_the_service_account_is_not_a_member_is_permanent(fake: FakeGraph) -> None:
    other = fake.add_channel("someone-elses-private", membership="private")
    other["_members"].clear()
    chat = make(fake)
    with pytest.raises(PermanentIntegrationError) as err:
        chat.post_message(
            ChannelRef("teams", f"{TEAM_ID}/{other['id']}", "x"), ChatMessage(text="hi")
        )
    assert err.value.status == 403
    assert "ChannelMessage.Send" in err.value.message


def test_pin_is_a_no_op(fake: FakeGraph) -> None:
    chat = make(fake)
    chat.pin(MessageRef("teams", f"{TEAM_ID}/{GENERAL_ID}", "1616990032035"))
    assert fake.requests == []


# --- links ----------------------------------------------------------------------------------------


def test_add_link_creates_one_website_tab_per_url(fake: FakeGraph) -> None:
    chat = make(fake)
    ref = chat.create_channel("inc-11", "")
    chat.add_link(ref, "Ticket OPS-1", "https://acme.atlassian.net/browse/OPS-1")
    chat.add_link(ref, "Ticket OPS-1", "https://acme.atlassian.net/browse/OPS-1")
    make(fake).add_link(ref, "again", "https://acme.atlassian.net/browse/OPS-1")
    posts = fake.calls("POST", rf"{CHANNELS}/.+/tabs")
    assert len(posts) == 1
    assert posts[0].json == {
        "displayName": "Ticket OPS-1",
        "teamsApp@odata.bind": f"{fake.graph}/appCatalogs/teamsApps/com.microsoft.teamspace.tab.web",
        "configuration": {
            "entityId": None,
            "contentUrl": "https://acme.atlassian.net/browse/OPS-1",
            "websiteUrl": "https://acme.atlassian.net/browse/OPS-1",
            "removeUrl": None,
        },
    }
    assert fake.calls("GET", rf"{CHANNELS}/.+/tabs")[0].query["$expand"] == ["teamsApp"]
    chat.add_link(ref, "Video bridge", "https://zoom.us/j/1")
    assert len(fake.calls("POST", rf"{CHANNELS}/.+/tabs")) == 2
    assert fake.violations == []


def test_add_link_as_a_message(fake: FakeGraph) -> None:
    chat = make(fake, link_mode="message")
    ref = chat.create_channel("inc-12", "")
    chat.add_link(ref, "Video bridge", "https://zoom.us/j/1")
    chat.add_link(ref, "Video bridge", "https://zoom.us/j/1")
    posts = fake.calls("POST", rf"{CHANNELS}/.+/messages")
    assert len(posts) == 1
    card = card_of(posts[0])
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Video bridge", "url": "https://zoom.us/j/1"}
    ]
    # a plain-http link cannot be a tab: it becomes a message too
    make(fake).add_link(ref, "Old wiki", "http://wiki.internal/x")
    assert len(fake.calls("POST", rf"{CHANNELS}/.+/messages")) == 2
    assert fake.calls("POST", rf"{CHANNELS}/.+/tabs") == []
    with pytest.raises(PermanentIntegrationError):
        chat.add_link(ref, "bad", "javascript:alert(1)")
    assert fake.violations == []


# --- direct messages ------------------------------------------------------------------------------


def test_direct_message_creates_the_one_on_one_chat_and_posts_the_card(fake: FakeGraph) -> None:
    chat = make(fake)
    message = ChatMessage(**{**summary().__dict__, "mentions": (ADELE,)})
    ref = chat.direct_message(ADELE, message)
    [me] = fake.calls("GET", "/v1.0/me")
    assert me.query == {"$select": ["id"]}
    [create] = fake.calls("POST", "/v1.0/chats")
    assert create.json == {
        "chatType": "oneOnOne",
        "members": [
            {
                "@odata.type": "#microsoft.graph.aadUserConversationMember",
                "roles": ["owner"],
                "user@odata.bind": f"{fake.graph}/users('{uid}')",
            }
            for uid in (SERVICE_ACCOUNT, ADELE)
        ],
    }
    one_on_one = fake.one_on_one(SERVICE_ACCOUNT, ADELE)
    assert one_on_one is not None
    [stored] = one_on_one["_messages"]
    assert ref == MessageRef("teams", one_on_one["id"], stored["id"], None)
    [post] = fake.calls("POST", r"/v1\.0/chats/.+/messages")
    assert card_of(post) == teams.render_card(message)
    body = post.json
    assert body["body"]["content"].startswith('<p><at id="0">Adele Vance</at></p><attachment id=')
    assert body["mentions"][0]["mentioned"]["user"]["id"] == ADELE
    assert body["importance"] == "high"
    assert fake.violations == []


def test_direct_messages_reuse_the_chat_of_the_same_pair(fake: FakeGraph) -> None:
    chat = make(fake)
    first = chat.direct_message(ADELE, ChatMessage(text="page 1"))
    second = chat.direct_message(ADELE.upper(), ChatMessage(text="page 2"))
    other = chat.direct_message(HARRY, ChatMessage(text="page 3"))
    assert first.channel_id == second.channel_id != other.channel_id
    assert len(fake.chats) == 2
    assert len(fake.calls("GET", "/v1.0/me")) == 1  # the service account is asked once
    assert len(fake.calls("POST", "/v1.0/chats")) == 3  # Graph answers the existing chat
    assert len(fake.one_on_one(SERVICE_ACCOUNT, ADELE)["_messages"]) == 2  # type: ignore[index]
    assert fake.violations == []


@pytest.mark.parametrize("user", ["", "not-a-guid", "U0123ABCD", f"{ADELE}'); DROP"])
def test_direct_message_refuses_what_is_not_an_entra_object_id(fake: FakeGraph, user: str) -> None:
    with pytest.raises(PermanentIntegrationError, match="Entra user object id"):
        make(fake).direct_message(user, ChatMessage(text="x"))
    assert fake.requests == []


def test_direct_message_to_the_service_account_itself_is_permanent(fake: FakeGraph) -> None:
    with pytest.raises(PermanentIntegrationError, match="service account itself"):
        make(fake).direct_message(SERVICE_ACCOUNT, ChatMessage(text="x"))
    assert fake.calls("POST", "/v1.0/chats") == []


def test_direct_message_to_an_unknown_user_is_permanent(fake: FakeGraph) -> None:
    ghost = "00000000-0000-0000-0000-000000000003"
    with pytest.raises(PermanentIntegrationError) as err:
        make(fake).direct_message(ghost, ChatMessage(text="x"))
    assert err.value.status == 404 and "POST /chats" in err.value.message
    assert fake.calls("POST", r"/v1\.0/chats/.+/messages") == []


def test_direct_message_without_permission_names_it(fake: FakeGraph) -> None:
    chat = make(fake)
    chat.direct_message(ADELE, ChatMessage(text="warm-up"))  # token and /me cached
    fake.fail_next(403, body=graph_error("Forbidden", "Missing scope permissions"))
    with pytest.raises(PermanentIntegrationError) as err:
        chat.direct_message(ADELE, ChatMessage(text="x"))
    assert err.value.status == 403 and "Chat.Create" in err.value.message
    fresh = make(fake)
    fresh.find_channel("General")  # a token, but not yet the service account's id
    fake.fail_next(403, body=graph_error("Forbidden", "Missing scope permissions"))
    with pytest.raises(PermanentIntegrationError) as err:
        fresh.direct_message(ADELE, ChatMessage(text="x"))
    assert err.value.status == 403 and "User.Read" in err.value.message
    assert "GET /me" in err.value.message


def test_direct_message_throttled_is_retryable(fake: FakeGraph) -> None:
    chat = make(fake)
    chat.direct_message(ADELE, ChatMessage(text="warm-up"))
    chats_before = len(fake.chats)
    fake.fail_next(429, headers={"Retry-After": "5"}, body=graph_error("TooManyRequests", "slow"))
    with pytest.raises(RetryableIntegrationError) as err:
        chat.direct_message(ADELE, ChatMessage(text="x"))
    assert err.value.retry_after == 5.0
    assert len(fake.chats) == chats_before
    assert_clean(err.value, fake)


def test_fake_rejects_a_chat_without_the_caller_or_with_a_bad_member_shape(
    fake: FakeGraph,
) -> None:
    chat = make(fake)
    chat.direct_message(ADELE, ChatMessage(text="token first"))
    member = {
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "roles": ["owner"],
    }
    bodies = [
        {
            "chatType": "oneOnOne",
            "members": [
                {**member, "user@odata.bind": f"{fake.graph}/users('{u}')"} for u in (ADELE, HARRY)
            ],
        },
        {
            "chatType": "oneOnOne",
            "members": [
                {**member, "roles": [], "user@odata.bind": f"{fake.graph}/users('{u}')"}
                for u in (SERVICE_ACCOUNT, HARRY)
            ],
        },
        {"chatType": "group", "topic": "x", "members": []},
    ]
    for body in bodies:
        resp = chat._api.request("POST", "/chats", body, ok=(400,))
        assert resp.status == 400
    assert len(fake.violations) == len(bodies)


# --- errors ---------------------------------------------------------------------------------------


def test_429_with_retry_after_is_retryable(fake: FakeGraph) -> None:
    chat = make(fake)
    chat.find_channel("General")  # token first
    fake.fail_next(
        429,
        headers={"Retry-After": "12"},
        body=graph_error("TooManyRequests", "Too many requests"),
    )
    with pytest.raises(RetryableIntegrationError) as err:
        chat.create_channel("inc-13", "")
    assert err.value.status == 429 and err.value.retry_after == 12.0
    assert_clean(err.value, fake)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retryable(fake: FakeGraph, status: int) -> None:
    chat = make(fake)
    chat.find_channel("General")
    fake.fail_next(status, body=graph_error("ServiceNotAvailable", "try later"))
    with pytest.raises(RetryableIntegrationError) as err:
        chat.post_message(
            ChannelRef("teams", f"{TEAM_ID}/{GENERAL_ID}", "General"), ChatMessage(text="x")
        )
    assert err.value.status == status


@pytest.mark.parametrize("status", [400, 403, 404])
def test_other_client_errors_are_permanent(fake: FakeGraph, status: int) -> None:
    chat = make(fake)
    chat.find_channel("General")
    fake.fail_next(status, body=graph_error("Forbidden", "Missing role permissions"))
    with pytest.raises(PermanentIntegrationError) as err:
        chat.set_topic(ChannelRef("teams", f"{TEAM_ID}/{GENERAL_ID}", "General"), "t")
    assert err.value.status == status
    assert "Forbidden" in err.value.message
    if status == 403:
        assert "ChannelSettings.ReadWrite.All" in err.value.message


def test_401_twice_is_permanent(fake: FakeGraph) -> None:
    chat = make(fake)
    chat.find_channel("General")
    fake.fail_next(401, times=2, body=graph_error("InvalidAuthenticationToken", "expired"))
    with pytest.raises(PermanentIntegrationError) as err:
        chat.find_channel("General")
    assert err.value.status == 401
    assert len(token_calls(fake)) == 2  # one renewal, then it gave up


def test_secrets_never_appear_in_errors_even_when_echoed(fake: FakeGraph) -> None:
    chat = make(fake)
    chat.find_channel("General")
    echoed = (
        f"bad token {fake.tokens[0]} for {CLIENT_SECRET} / {REFRESH_TOKEN} / {chat.refresh_token}"
    )
    for status in (400, 503):
        fake.fail_next(status, body=graph_error("BadRequest", echoed))
        with pytest.raises(IntegrationError) as err:
            chat.set_topic(ChannelRef("teams", f"{TEAM_ID}/{GENERAL_ID}", "General"), "t")
        assert "[redacted]" in str(err.value)
        assert_clean(err.value, fake)


def test_network_errors_are_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    opts = teams.Options(
        base_url=f"http://127.0.0.1:{port}/v1.0",
        login_url=f"http://127.0.0.1:{port}",
        tenant_id=TENANT_ID,
        client_id=CLIENT_ID,
        team_id=TEAM_ID,
    )
    chat = teams.build(opts, {"client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN})
    with pytest.raises(RetryableIntegrationError) as err:
        chat.find_channel("General")
    assert CLIENT_SECRET not in str(err.value) and REFRESH_TOKEN not in str(err.value)


def test_a_whole_incident_against_the_fake(fake: FakeGraph) -> None:
    """The calls the response workflow makes, in its order."""
    chat = make(fake)
    channel = chat.create_channel("inc-42-checkout-errors", "INC-42: Checkout errors")
    chat.set_topic(channel, "INC-42 · SEV1 · investigating · checkout — Checkout errors")
    assert chat.invite(channel, [ADMIN, HARRY]) == [HARRY]
    message = chat.post_message(channel, summary())
    chat.pin(message)
    chat.add_link(channel, "Ticket OPS-9", "https://acme.atlassian.net/browse/OPS-9")
    chat.add_link(channel, "Video bridge", "https://zoom.us/j/987")
    again = make(fake)
    assert again.create_channel("inc-42-checkout-errors", "x") == channel
    again.add_link(channel, "Video bridge", "https://zoom.us/j/987")
    assert len(token_calls(fake)) == 2  # one per adapter instance
    assert len(fake.calls("POST", CHANNELS)) == 1
    assert len(fake.calls("POST", rf"{CHANNELS}/.+/tabs")) == 2
    assert fake.violations == [] and fake.duplicate_adds == []


# --- incoming webhook -----------------------------------------------------------------------------


@pytest.fixture(params=["connector", "workflow"])
def hook(request: pytest.FixtureRequest) -> Iterator[FakeTeamsWebhook]:
    with FakeTeamsWebhook(mode=request.param) as server:
        yield server


def make_hook(hook: FakeTeamsWebhook, **options: Any) -> teams.TeamsWebhookChat:
    return teams.build_webhook(
        teams.WebhookOptions.model_validate(options), {"webhook_url": hook.webhook_url}
    )


def assert_no_url(exc: BaseException, hook: FakeTeamsWebhook) -> None:
    text = f"{exc} {exc!r} {getattr(exc, 'message', '')}"
    assert hook.webhook_url not in text
    assert hook.signature not in text and hook.hook_key not in text


def test_webhook_build_needs_a_url() -> None:
    for secret in ({}, {"webhook_url": " "}):
        with pytest.raises(PermanentIntegrationError) as err:
            teams.build_webhook(teams.WebhookOptions(), secret)
        assert "webhook_url" in str(err.value)
    with pytest.raises(PermanentIntegrationError) as err:
        teams.build_webhook(teams.WebhookOptions(), {"webhook_url": "ftp://x/sig=abc123"})
    assert "abc123" not in str(err.value)


def test_webhook_channels_are_the_one_fixed_channel(hook: FakeTeamsWebhook) -> None:
    chat = make_hook(hook, channel_url="https://teams.microsoft.com/l/channel/19%3Aabc/Incidents")
    ref = chat.create_channel("inc-42-checkout", "INC-42")
    assert ref == ChannelRef(
        "teams_webhook",
        "webhook",
        "inc-42-checkout",
        "https://teams.microsoft.com/l/channel/19%3Aabc/Incidents",
    )
    assert chat.find_channel("execs") == ChannelRef("teams_webhook", "webhook", "execs", ref.url)
    chat.set_topic(ref, "topic")
    assert chat.invite(ref, [ADELE]) == []
    chat.pin(MessageRef("teams_webhook", "webhook", "m"))
    assert hook.requests == []


def test_webhook_post_message_sends_the_documented_envelope(hook: FakeTeamsWebhook) -> None:
    chat = make_hook(hook)
    ref = chat.create_channel("inc-42", "")
    message = chat.post_message(ref, summary())
    assert message.provider == "teams_webhook" and message.channel_id == "webhook" and message.id
    (payload,) = hook.payloads
    assert set(payload) == set(WEBHOOK_EXAMPLE)
    assert payload["type"] == "message"
    attachment = payload["attachments"][0]
    assert set(attachment) == set(WEBHOOK_EXAMPLE["attachments"][0])
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    assert attachment["content"] == teams.render_card(summary())
    assert hook.violations == []


def test_webhook_keeps_hostile_text_inert(hook: FakeTeamsWebhook) -> None:
    make_hook(hook).post_message(
        ChannelRef("teams_webhook", "webhook", "x"), ChatMessage(text=HOSTILE, title=HOSTILE)
    )
    card = hook.cards[0]
    assert card["body"][0]["inlines"][0]["text"] == HOSTILE
    assert "entities" not in card.get("msteams", {})
    assert hook.violations == []


def test_webhook_add_link_posts_a_short_card_once_per_url(hook: FakeTeamsWebhook) -> None:
    chat = make_hook(hook)
    ref = chat.create_channel("inc-1", "")
    chat.add_link(ref, "Video bridge", "https://zoom.us/j/1")
    chat.add_link(ref, "Video bridge", "https://zoom.us/j/1")
    assert len(hook.payloads) == 1
    assert hook.cards[0]["actions"] == [
        {"type": "Action.OpenUrl", "title": "Video bridge", "url": "https://zoom.us/j/1"}
    ]
    with pytest.raises(PermanentIntegrationError):
        chat.add_link(ref, "x", "not a url")
    assert hook.violations == []


def test_webhook_cannot_send_a_direct_message(hook: FakeTeamsWebhook) -> None:
    with pytest.raises(PermanentIntegrationError, match="cannot message a person") as err:
        make_hook(hook).direct_message(ADELE, ChatMessage(text="page"))
    assert err.value.provider == "teams_webhook"
    assert hook.requests == []


@pytest.mark.parametrize(
    ("inner", "kind"),
    [
        (429, RetryableIntegrationError),
        (503, RetryableIntegrationError),
        (400, PermanentIntegrationError),
        (413, PermanentIntegrationError),
    ],
)
def test_a_connector_200_that_wraps_a_teams_refusal_is_an_error(inner: int, kind: type) -> None:
    with FakeTeamsWebhook(mode="connector") as hook:
        hook.refuse_next(inner)
        with pytest.raises(kind) as err:
            make_hook(hook).post_message(
                ChannelRef("teams_webhook", "webhook", "x"), ChatMessage(text="hi")
            )
        assert err.value.status == inner
        assert f"HTTP {inner}" in err.value.message
        assert_no_url(err.value, hook)


def test_webhook_429_with_retry_after_is_retryable(hook: FakeTeamsWebhook) -> None:
    hook.fail_next(429, headers={"Retry-After": "3"})
    with pytest.raises(RetryableIntegrationError) as err:
        make_hook(hook).post_message(
            ChannelRef("teams_webhook", "webhook", "x"), ChatMessage(text="hi")
        )
    assert err.value.status == 429 and err.value.retry_after == 3.0
    assert_no_url(err.value, hook)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_webhook_5xx_is_retryable(hook: FakeTeamsWebhook, status: int) -> None:
    hook.fail_next(status)
    with pytest.raises(RetryableIntegrationError) as err:
        make_hook(hook).post_message(
            ChannelRef("teams_webhook", "webhook", "x"), ChatMessage(text="hi")
        )
    assert err.value.status == status


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_webhook_client_errors_are_permanent_and_never_show_the_url(
    hook: FakeTeamsWebhook, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # a hostile or careless server echoing the URL it was called at
    hook.fail_next(status, body={"error": {"message": f"bad call to {hook.webhook_url}"}})
    with pytest.raises(PermanentIntegrationError) as err:
        make_hook(hook).post_message(
            ChannelRef("teams_webhook", "webhook", "x"),
            ChatMessage(text="hi", links=(Link("x", "bad"),)),
        )
    assert err.value.status == status
    assert "[redacted]" in err.value.message
    assert_no_url(err.value, hook)
    for record in caplog.records:
        assert hook.signature not in record.getMessage()


def test_a_wrong_webhook_url_is_permanent(hook: FakeTeamsWebhook) -> None:
    url = re.sub(r"[0-9a-f]{4}$", "0000", hook.webhook_url)
    chat = teams.build_webhook(teams.WebhookOptions(), {"webhook_url": url})
    with pytest.raises(PermanentIntegrationError) as err:
        chat.post_message(ChannelRef("teams_webhook", "webhook", "x"), ChatMessage(text="hi"))
    assert err.value.status in (401, 404)
    assert url not in str(err.value)


def test_webhook_network_errors_are_retryable_without_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/webhookb2/abc@t/IncomingWebhook/k/o/s3cr3tsig9"
    chat = teams.build_webhook(teams.WebhookOptions(), {"webhook_url": url})
    with pytest.raises(RetryableIntegrationError) as err:
        chat.post_message(ChannelRef("teams_webhook", "webhook", "x"), ChatMessage(text="hi"))
    assert "s3cr3tsig9" not in str(err.value) and url not in repr(err.value)
