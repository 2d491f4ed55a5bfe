"""Fake Microsoft Teams endpoints: Microsoft Graph v1.0 (with the identity platform's v2.0 token
endpoint) and an incoming webhook / Workflows URL.

FakeGraph serves, under `/v1.0` like graph.microsoft.com, the calls the `teams` adapter makes,
and `/{tenant}/oauth2/v2.0/token` like login.microsoftonline.com. It checks what Microsoft
documents (microsoftgraph/microsoft-graph-docs-contrib api-reference/v1.0/api/*.md, and
MicrosoftDocs/entra-docs docs/identity-platform/v2-oauth2-auth-code-flow.md "Refresh the access
token"):

- token: a form POST with client_id, client_secret, grant_type=refresh_token, refresh_token
  (scope optional); answers `{token_type, scope, expires_in, access_token, refresh_token}` and a
  new refresh token each time when `offline_access` was asked for (the old one stays valid, as
  Microsoft documents); errors `{"error": "invalid_grant", "error_description": "AADSTS…"}`;
- every Graph call needs `Authorization: Bearer <access token>` (401 InvalidAuthenticationToken);
- channels: `$filter=displayName eq '…'` (case-insensitive, like Graph), names of at most 50
  characters without ~ # % & * { } + / \\ : < > ? | ' " nor a leading _ or ., duplicates
  (also of deleted channels) -> 409 NameAlreadyExists (or 400 BadRequest "Channel name already
  existed", as Graph also answers); private channels make the caller their owner;
- members: aadUserConversationMember bodies with `user@odata.bind` `…/users('{id}')`; channel
  members only for private/shared channels and only for team members;
- messages: the html body may only hold `<p>`, `<at id="n">…</at>` and
  `<attachment id="…"></attachment>` (caller text must not reach it); attachments are Adaptive
  Cards whose `content` is a JSON string; every `<at id>` has its chatMessageMention and back;
  the sender must be a member of the channel;
- tabs: website tabs bound to `com.microsoft.teamspace.tab.web` with https content/website URLs;
- chats (chat-post.md, chat-post-messages.md): `POST /chats` with `chatType: oneOnOne` and
  exactly two aadUserConversationMember owners bound by `user@odata.bind`, the caller among them
  (Graph: "every single user, including the user initiating the create request, … must be
  specified"); the same pair gets the same chat back (id `19:{id}_{id}@unq.gbl.spaces` as in the
  docs' example); `POST /chats/{chat-id}/messages` takes the chatMessage bodies channels take,
  from members of the chat only, and answers with `chatId` set and no `channelIdentity`;
- `GET /me`: the signed-in service account.

Answers have the shapes of the docs' examples (channel-post, chatmessage-post, team-list-members,
channel-list-tabs); ids, users and the tenant are the docs' own (team fbe2bf47-…, Robin Kline as
the service account, Adele Vance, Harry Johnson, Jane Smith, MOD Administrator).

FakeTeamsWebhook accepts what tests/fixtures/vendor/teams/incoming_webhook_adaptive_card_docs.json
shows (`type: message`, one attachment of contentType application/vnd.microsoft.card.adaptive,
contentUrl null, an AdaptiveCard with a version and a body) at a connector URL (answers 200 `1`)
or a Workflows URL (answers 202), and can answer the connector's 200 "Webhook message delivery
failed with error: Microsoft Teams endpoint returned HTTP error N …" (MicrosoftDocs/msteams-docs
issues 400, 1810, 7425).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import secrets
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from tests.fakes.server import FakeServer, Reply, Request, require, route
from tests.helpers import load_fixture

WEBHOOK_EXAMPLE: dict[str, Any] = load_fixture("teams/incoming_webhook_adaptive_card_docs.json")
OUTGOING_CARD_EXAMPLE: dict[str, Any] = load_fixture(
    "teams/outgoing_webhook_response_adaptive_card_docs.json"
)

# the docs' ids (chatmessage-post.md, team-list-members.md)
TENANT_ID = "2432b57b-0abd-43db-aa7b-16eadd115d34"
TEAM_ID = "fbe2bf47-16c8-47cf-b4a5-4b9b187c508b"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
GENERAL_ID = "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2"
SERVICE_ACCOUNT = "8ea0e38b-efb3-4757-924a-5f94061cf8c2"  # Robin Kline, the message sender
ADELE = "73761f06-2ac9-469c-9f10-279a8cc267f9"
ADMIN = "598efcd4-e549-402a-9602-0b50201faebe"
HARRY = "752f50b7-256f-4539-b775-c4d12f2e4722"
JANE = "ef1c916a-3135-4417-ba27-8eb7bd084193"
USERS: dict[str, dict[str, str]] = {
    SERVICE_ACCOUNT: {"displayName": "Robin Kline", "mail": "RobinK@M365x987948.OnMicrosoft.com"},
    ADELE: {"displayName": "Adele Vance", "mail": "AdeleV@M365x987948.OnMicrosoft.com"},
    ADMIN: {"displayName": "MOD Administrator", "mail": "admin@M365x987948.OnMicrosoft.com"},
    HARRY: {"displayName": "Harry Johnson", "mail": "harry@M365x987948.OnMicrosoft.com"},
    JANE: {"displayName": "Jane Smith", "mail": "JaneS@M365x987948.OnMicrosoft.com"},
}

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
WEBSITE_TAB_APP = "com.microsoft.teamspace.tab.web"
_FORBIDDEN = re.compile(r"[~#%&*{}+/\\:<>?|'\"]")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_USER_BIND = re.compile(r"^https?://[^\s]+/users\('([^']+)'\)$")
_NAME_FILTER = re.compile(r"^displayName eq '((?:[^']|'')*)'$")
_MEMBER_FILTER = re.compile(
    r"^\(microsoft\.graph\.aadUserConversationMember/userId eq '([^']+)'\)$"
)
_HTML_TAG = re.compile(r"<[^>]*>")
_ALLOWED_TAG = re.compile(
    r'^(<p>|</p>|<at id="\d+">|</at>|<attachment id="[^"<>]+">|</attachment>)$'
)
#: elements and actions Teams renders in Adaptive Cards up to 1.5
CARD_ELEMENTS = frozenset(
    {
        "TextBlock",
        "RichTextBlock",
        "Container",
        "FactSet",
        "ActionSet",
        "ColumnSet",
        "Image",
        "Input.ChoiceSet",
        "Input.Text",
    }
)
CARD_ACTIONS = frozenset(
    {"Action.OpenUrl", "Action.ShowCard", "Action.ToggleVisibility", "Action.Submit"}
)
#: Action.Submit / positive|destructive styles (Adaptive Cards 1.2+)
ACTION_STYLES = frozenset({"default", "positive", "destructive"})
#: writable chatMessage properties (chatmessage resource)
MESSAGE_FIELDS = frozenset(
    {"body", "attachments", "mentions", "subject", "summary", "importance", "hostedContents"}
)


def graph_error(code: str, message: str) -> dict[str, Any]:
    """Graph's error shape (as in the issue threads quoted in the module docstring)."""
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": "eed9d310-b4c1-4818-95af-14fa37f09940",
                "client-request-id": "eed9d310-b4c1-4818-95af-14fa37f09940",
            },
        }
    }


def token_error(error: str, description: str) -> dict[str, Any]:
    """The identity platform's token error shape (v2-oauth2-auth-code-flow.md)."""
    return {
        "error": error,
        "error_description": f"{description}\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333"
        "\r\nCorrelation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2016-01-09 02:02:12Z",
        "error_codes": [int(re.sub(r"\D", "", description.split(":")[0]) or 0)],
        "timestamp": "2016-01-09 02:02:12Z",
        "trace_id": "0000aaaa-11bb-cccc-dd22-eeeeee333333",
        "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd",
    }


def check_card(card: Any, where: str) -> None:
    """An Adaptive Card as Teams takes it (and as the docs examples are shaped)."""
    require(isinstance(card, dict), f"{where}: the card must be an object")
    require(card.get("type") == "AdaptiveCard", f"{where}: content.type must be AdaptiveCard")
    version = card.get("version")
    require(
        isinstance(version, str) and re.fullmatch(r"1\.[0-5]", version),
        f"{where}: content.version must be a string 1.0-1.5 (got {version!r})",
    )
    body = card.get("body")
    require(isinstance(body, list) and body, f"{where}: content.body must be a non-empty list")
    _check_elements(body, where)
    for action in card.get("actions") or []:
        _check_action(action, where)


def _check_elements(elements: list[Any], where: str) -> None:
    for element in elements:
        require(isinstance(element, dict), f"{where}: body elements must be objects")
        kind = element.get("type")
        require(kind in CARD_ELEMENTS, f"{where}: unknown card element {kind!r}")
        if kind == "TextBlock":
            require(isinstance(element.get("text"), str), f"{where}: TextBlock.text is required")
        elif kind == "RichTextBlock":
            inlines = element.get("inlines")
            require(isinstance(inlines, list) and inlines, f"{where}: RichTextBlock.inlines")
            for run in inlines:
                require(
                    isinstance(run, dict)
                    and run.get("type") == "TextRun"
                    and isinstance(run.get("text"), str),
                    f"{where}: inlines must be TextRuns with text",
                )
        elif kind == "Container":
            require(isinstance(element.get("items"), list), f"{where}: Container.items")
            _check_elements(element["items"], where)
        elif kind == "FactSet":
            facts = element.get("facts")
            require(isinstance(facts, list) and facts, f"{where}: FactSet.facts")
            for fact in facts:
                require(
                    isinstance(fact, dict)
                    and isinstance(fact.get("title"), str)
                    and isinstance(fact.get("value"), str),
                    f"{where}: facts need a title and a value",
                )
        elif kind == "ActionSet":
            for action in element.get("actions") or []:
                _check_action(action, where)
        elif kind == "Input.Text":
            require(isinstance(element.get("id"), str) and element["id"], f"{where}: input id")
            require(
                isinstance(element.get("maxLength", 1), int) and element.get("maxLength", 1) > 0,
                f"{where}: Input.Text maxLength must be a positive integer",
            )
        elif kind == "Input.ChoiceSet":
            require(isinstance(element.get("id"), str) and element["id"], f"{where}: input id")
            choices = element.get("choices")
            require(isinstance(choices, list) and choices, f"{where}: ChoiceSet.choices")
            for choice in choices:
                require(
                    isinstance(choice, dict)
                    and isinstance(choice.get("title"), str)
                    and isinstance(choice.get("value"), str),
                    f"{where}: choices need a title and a string value",
                )


def _check_action(action: Any, where: str) -> None:
    require(isinstance(action, dict), f"{where}: actions must be objects")
    require(action.get("type") in CARD_ACTIONS, f"{where}: unknown action {action.get('type')!r}")
    if action.get("type") == "Action.OpenUrl":
        url = action.get("url")
        require(
            isinstance(url, str) and re.match(r"^https?://\S+$", url),
            f"{where}: Action.OpenUrl.url must be an http(s) URL",
        )
        require(isinstance(action.get("title"), str), f"{where}: Action.OpenUrl.title")
    if action.get("type") == "Action.Submit":
        # the card submit activity's `value` is this data (merged with the card's inputs)
        require(isinstance(action.get("data"), dict), f"{where}: Action.Submit.data object")
        require(isinstance(action.get("title"), str), f"{where}: Action.Submit.title")
    if action.get("type") == "Action.ShowCard":
        require(isinstance(action.get("title"), str), f"{where}: Action.ShowCard.title")
        inner = action.get("card")
        require(
            isinstance(inner, dict) and inner.get("type") == "AdaptiveCard",
            f"{where}: Action.ShowCard.card must be an AdaptiveCard",
        )
        _check_elements(inner.get("body") or [], where)
        for inner_action in inner.get("actions") or []:
            _check_action(inner_action, where)
    if "style" in action:
        require(action["style"] in ACTION_STYLES, f"{where}: action style {action['style']!r}")


class FakeGraph(FakeServer):
    def __init__(
        self,
        tenant_id: str = TENANT_ID,
        client_id: str = CLIENT_ID,
        client_secret: str = "Xq58Q~graph-client-s3cr3t-value",
        refresh_token: str = "0.AXoAgraph-refresh-s3cr3t-token",
        team_id: str = TEAM_ID,
    ) -> None:
        super().__init__()
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.team_id = team_id
        #: seconds an access token lives (Microsoft: 60-90 minutes)
        self.expires_in = 3599
        self.refresh_tokens: set[str] = {refresh_token}
        #: refresh tokens redeemed, in order
        self.redeemed: list[str] = []
        self.tokens: list[str] = []
        self.valid_tokens: set[str] = set()
        self.users: dict[str, dict[str, str]] = copy.deepcopy(USERS)
        self.me = SERVICE_ACCOUNT
        #: Graph answers a duplicate channel name with 409 NameAlreadyExists or 400 BadRequest
        self.duplicate_status = 409
        #: names still taken by deleted channels
        self.deleted_names: set[str] = set()
        #: channel names left out of list answers (a replica that has not seen them yet)
        self.unlisted: set[str] = set()
        #: collection answers are cut into pages of this size (with @odata.nextLink)
        self.page_size: int | None = None
        #: answer a displayName $filter with 400 (as a Graph that does not support it would)
        self.reject_name_filter = False
        #: member POSTs for users that were already members (the adapter should not make them)
        self.duplicate_adds: list[tuple[str, str]] = []
        self.team_members: dict[str, dict[str, list[str]]] = {
            team_id: {SERVICE_ACCOUNT: ["owner"], ADMIN: ["owner"], ADELE: []}
        }
        self.channels: dict[str, dict[str, dict[str, Any]]] = {team_id: {}}
        #: chat id -> chat (with the fake's own `_members` and `_messages`)
        self.chats: dict[str, dict[str, Any]] = {}
        self._add_channel(team_id, GENERAL_ID, "General", "", "standard")
        self._ids = itertools.count(1)
        self._msg_ids = itertools.count(1616990032035)

    @property
    def secret(self) -> dict[str, str]:
        return {"client_secret": self.client_secret, "refresh_token": self.refresh_token}

    @property
    def graph(self) -> str:
        return self.url + "/v1.0"

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (as after its lifetime)."""
        self.valid_tokens.clear()

    def channel(self, name: str, team: str | None = None) -> dict[str, Any] | None:
        for channel in self.channels[team or self.team_id].values():
            if channel["displayName"] == name:
                return channel
        return None

    def add_channel(
        self, name: str, membership: str = "standard", team: str | None = None
    ) -> dict[str, Any]:
        cid = f"19:{secrets.token_hex(16)}@thread.tacv2"
        return self._add_channel(team or self.team_id, cid, name, "", membership)

    # --- state helpers ------------------------------------------------------------------------
    def _add_channel(
        self, team: str, cid: str, name: str, description: str, membership: str
    ) -> dict[str, Any]:
        channel = {
            "id": cid,
            "createdDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "displayName": name,
            "description": description,
            "isFavoriteByDefault": None,
            "email": "",
            "webUrl": f"https://teams.microsoft.com/l/channel/{urllib.parse.quote(cid, safe='')}/"
            f"{urllib.parse.quote(name)}?groupId={team}&tenantId={self.tenant_id}",
            "membershipType": membership,
            # not part of Graph's channel resource: the fake's own state
            "_members": {self.me: ["owner"]} if membership != "standard" else {},
            "_tabs": [],
            "_messages": [],
        }
        self.channels.setdefault(team, {})[cid] = channel
        return channel

    @staticmethod
    def _public(channel: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in channel.items() if not k.startswith("_")}

    def _auth(self, request: Request) -> Reply | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        if token not in self.valid_tokens:
            return 401, graph_error(
                "InvalidAuthenticationToken", "Access token has expired or is not yet valid."
            )
        return None

    def _team(self, request: Request) -> tuple[str, Reply | None]:
        team = request.match["team"] if request.match else ""
        if team not in self.channels:
            return team, (404, graph_error("NotFound", "No team found with Group Id " + team))
        if self.me not in self.team_members.get(team, {}):
            return team, (403, graph_error("Forbidden", "The user is not a member of the team."))
        return team, None

    def _channel_of(self, request: Request, team: str) -> dict[str, Any] | None:
        cid = urllib.parse.unquote(request.match["cid"]) if request.match else ""
        return self.channels[team].get(cid)

    def _team_channel(self, request: Request) -> tuple[str, dict[str, Any], Reply | None]:
        """(team, channel, None), or the answer Graph gives: 401, 403/404 team, 404 channel."""
        team, error = self._team(request)
        if denied := self._auth(request) or error:
            return team, {}, denied
        channel = self._channel_of(request, team)
        if channel is None:
            return team, {}, (404, graph_error("NotFound", "Channel not found"))
        return team, channel, None

    def _page(self, request: Request, items: list[dict[str, Any]], context: str) -> Reply:
        skip = int((request.query.get("$skiptoken") or ["0"])[0])
        size = self.page_size or len(items) or 1
        page = items[skip : skip + size]
        body: dict[str, Any] = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{context}",
            "@odata.count": len(page),
            "value": page,
        }
        if skip + size < len(items):
            query = {k: v[0] for k, v in request.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = str(skip + size)
            body["@odata.nextLink"] = (
                f"{self.url}{request.path}?{urllib.parse.urlencode(query, quote_via=urllib.parse.quote)}"
            )
        return 200, body

    def _member(self, team: str, uid: str, roles: list[str]) -> dict[str, Any]:
        user = self.users.get(uid, {})
        return {
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "id": f"{team}##{uid}",
            "roles": roles,
            "displayName": user.get("displayName"),
            "userId": uid,
            "email": user.get("mail"),
        }

    def _member_body(self, request: Request) -> str:
        body = request.json
        require(isinstance(body, dict), "body must be a JSON object")
        require(
            body.get("@odata.type") == "#microsoft.graph.aadUserConversationMember",
            "@odata.type must be #microsoft.graph.aadUserConversationMember",
        )
        roles = body.get("roles")
        require(
            isinstance(roles, list) and all(r in ("owner", "guest") for r in roles),
            "roles must be a list (empty, or owner)",
        )
        match = _USER_BIND.match(str(body.get("user@odata.bind") or ""))
        require(match, "user@odata.bind must be https://graph.microsoft.com/v1.0/users('{id}')")
        assert match is not None
        return match.group(1)

    # --- identity platform --------------------------------------------------------------------
    @route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token")
    def token(self, request: Request) -> Reply:
        require(
            request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"),
            "the token request must be form-encoded",
        )
        form = request.form
        assert request.match is not None
        if request.match["tenant"] != self.tenant_id:
            return 400, token_error(
                "invalid_request", "AADSTS90002: Tenant not found. Check the tenant id."
            )
        require(form.get("grant_type") == "refresh_token", "grant_type must be refresh_token")
        require(form.get("refresh_token"), "refresh_token is required")
        require(form.get("client_id"), "client_id is required")
        require("code" not in form and "password" not in form, "unexpected grant fields")
        if form["client_id"] != self.client_id:
            return 400, token_error(
                "unauthorized_client",
                "AADSTS700016: Application with identifier was not found in the directory.",
            )
        if form.get("client_secret") != self.client_secret:
            return 401, token_error(
                "invalid_client", "AADSTS7000215: Invalid client secret provided."
            )
        if form["refresh_token"] not in self.refresh_tokens:
            return 400, token_error(
                "invalid_grant",
                "AADSTS70008: The provided authorization code or refresh token has expired "
                "due to inactivity.",
            )
        scope = form.get("scope", "")
        if scope:
            require(
                all(
                    s in {"offline_access", "openid", "profile", "email"}
                    or s.startswith("https://graph.microsoft.com/")
                    for s in scope.split()
                ),
                f"scopes must all be from one resource (Graph): {scope!r}",
            )
        self.redeemed.append(form["refresh_token"])
        token = f"eyJ0eXAiOiJKV1Qi.graph-access-{next(self._ids)}.{secrets.token_hex(8)}"
        self.tokens.append(token)
        self.valid_tokens.add(token)
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": "https://graph.microsoft.com/.default",
            "expires_in": self.expires_in,
            "ext_expires_in": self.expires_in,
            "access_token": token,
        }
        if "offline_access" in scope.split():
            rotated = f"0.AXoA-rotated-{secrets.token_hex(12)}"
            self.refresh_tokens.add(rotated)  # the old one is not revoked (Microsoft's docs)
            answer["refresh_token"] = rotated
        return 200, answer

    # --- channels -----------------------------------------------------------------------------
    @route("GET", r"/v1\.0/teams/(?P<team>[^/]+)/channels")
    def list_channels(self, request: Request) -> Reply:
        team, error = self._team(request)
        if denied := self._auth(request) or error:
            return denied
        channels = [
            self._public(c)
            for c in self.channels[team].values()
            if c["displayName"] not in self.unlisted
            and (c["membershipType"] == "standard" or self.me in c["_members"])
        ]
        flt = (request.query.get("$filter") or [None])[0]
        if flt is not None and self.reject_name_filter:
            return 400, graph_error("BadRequest", "Invalid filter clause")
        if flt is not None:
            match = _NAME_FILTER.match(flt)
            require(match, f"unsupported $filter {flt!r}")
            assert match is not None
            name = match.group(1).replace("''", "'")
            channels = [c for c in channels if c["displayName"].casefold() == name.casefold()]
        return self._page(request, channels, f"teams('{team}')/channels")

    @route("GET", r"/v1\.0/teams/(?P<team>[^/]+)/channels/(?P<cid>[^/]+)")
    def get_channel(self, request: Request) -> Reply:
        _team, channel, denied = self._team_channel(request)
        if denied:
            return denied
        return 200, self._public(channel)

    @route("POST", r"/v1\.0/teams/(?P<team>[^/]+)/channels")
    def create_channel(self, request: Request) -> Reply:
        team, error = self._team(request)
        if denied := self._auth(request) or error:
            return denied
        body = request.json
        require(isinstance(body, dict), "body must be a channel object")
        name = body.get("displayName")
        require(isinstance(name, str) and name.strip(), "displayName is required")
        assert isinstance(name, str)
        require(len(name) <= 50, "displayName is longer than 50 characters")
        require(
            not _FORBIDDEN.search(name) and not name.startswith(("_", ".")),
            "Channel.DisplayName doesn't contain allowed characters, please use the valid values.",
        )
        description = body.get("description", "")
        require(isinstance(description, str) and len(description) <= 1024, "description")
        membership = body.get("membershipType", "standard")
        require(membership in ("standard", "private", "shared"), "membershipType")
        require(
            set(body) <= {"displayName", "description", "membershipType", "members", "@odata.type"},
            f"unexpected channel properties {sorted(body)}",
        )
        taken = {c["displayName"].casefold() for c in self.channels[team].values()}
        taken |= {n.casefold() for n in self.deleted_names}
        if name.casefold() in taken:
            if self.duplicate_status == 400:
                return 400, graph_error(
                    "BadRequest", "Channel name already existed, please use other name"
                )
            return 409, graph_error(
                "NameAlreadyExists", "Channel name already existed, please use other name"
            )
        cid = f"19:{secrets.token_hex(16)}@thread.tacv2"
        channel = self._add_channel(team, cid, name, description, membership)
        answer = self._public(channel)
        answer["@odata.context"] = (
            f"https://graph.microsoft.com/v1.0/$metadata#teams('{team}')/channels/$entity"
        )
        return 201, answer

    @route("PATCH", r"/v1\.0/teams/(?P<team>[^/]+)/channels/(?P<cid>[^/]+)")
    def patch_channel(self, request: Request) -> Reply:
        _team, channel, denied = self._team_channel(request)
        if denied:
            return denied
        body = request.json
        require(isinstance(body, dict) and body, "body must be a channel object")
        require(
            set(body) <= {"displayName", "description", "isFavoriteByDefault"},
            "membershipType and other properties cannot be updated",
        )
        if "description" in body:
            require(
                isinstance(body["description"], str) and len(body["description"]) <= 1024,
                "description must be a string of at most 1024 characters",
            )
            channel["description"] = body["description"]
        return 204, None

    # --- members ------------------------------------------------------------------------------
    @route("GET", r"/v1\.0/teams/(?P<team>[^/]+)/members")
    def list_team_members(self, request: Request) -> Reply:
        team, error = self._team(request)
        if denied := self._auth(request) or error:
            return denied
        members = [self._member(team, uid, r) for uid, r in self.team_members[team].items()]
        flt = (request.query.get("$filter") or [None])[0]
        if flt is not None:
            match = _MEMBER_FILTER.match(flt)
            require(match, f"unsupported $filter {flt!r}")
            assert match is not None
            members = [m for m in members if m["userId"].lower() == match.group(1).lower()]
        return self._page(request, members, f"teams('{team}')/members")

    @route("POST", r"/v1\.0/teams/(?P<team>[^/]+)/members")
    def add_team_member(self, request: Request) -> Reply:
        team, error = self._team(request)
        if denied := self._auth(request) or error:
            return denied
        uid = self._member_body(request)
        if "owner" not in self.team_members[team].get(self.me, []):
            return 403, graph_error("Forbidden", "Only team owners can add members.")
        if uid not in self.users:
            return 404, graph_error("NotFound", f"User {uid} not found")
        if uid in self.team_members[team]:
            self.duplicate_adds.append(("team", uid))
        self.team_members[team].setdefault(uid, [])
        return 201, self._member(team, uid, self.team_members[team][uid])

    @route("GET", r"/v1\.0/teams/(?P<team>[^/]+)/channels/(?P<cid>[^/]+)/members")
    def list_channel_members(self, request: Request) -> Reply:
        team, channel, denied = self._team_channel(request)
        if denied:
            return denied
        if channel["membershipType"] == "standard":
            roster = self.team_members[team]
        else:
            roster = channel["_members"]
        members = [self._member(team, uid, r) for uid, r in roster.items()]
        return self._page(request, members, "members")

    @route("POST", r"/v1\.0/teams/(?P<team>[^/]+)/channels/(?P<cid>[^/]+)/members")
    def add_channel_member(self, request: Request) -> Reply:
        team, channel, denied = self._team_channel(request)
        if denied:
            return denied
        uid = self._member_body(request)
        require(
            channel["membershipType"] in ("private", "shared"),
            "members can be added only to private or shared channels",
        )
        if uid not in self.team_members[team]:
            return 400, graph_error(
                "BadRequest", "User must be a member of the team to be added to a private channel."
            )
        if uid in channel["_members"]:
            self.duplicate_adds.append(("channel", uid))
        channel["_members"].setdefault(uid, [])
        return 201, self._member(team, uid, channel["_members"][uid])

    # --- messages -----------------------------------------------------------------------------
    def _check_message(self, request: Request) -> dict[str, Any]:
        """A chatMessage body as Graph takes it (channel and chat messages alike)."""
        body = request.json
        require(isinstance(body, dict), "body must be a chatMessage")
        require(set(body) <= MESSAGE_FIELDS, f"unexpected chatMessage properties {sorted(body)}")
        content = body.get("body")
        require(
            isinstance(content, dict)
            and content.get("contentType") == "html"
            and isinstance(content.get("content"), str),
            "body must be {contentType: html, content}",
        )
        html = content["content"]
        for tag in _HTML_TAG.findall(html):
            require(_ALLOWED_TAG.match(tag), f"unexpected html in the message body: {tag!r}")
        attachments = body.get("attachments") or []
        require(isinstance(attachments, list), "attachments must be a list")
        for attachment in attachments:
            require(isinstance(attachment, dict), "attachments must be objects")
            aid = attachment.get("id")
            require(isinstance(aid, str) and aid, "an attachment needs an id")
            require(
                f'<attachment id="{aid}"></attachment>' in html,
                "the attachment id must appear as <attachment id=…></attachment> in the body",
            )
            require(attachment.get("contentType") == CARD_TYPE, "contentType must be adaptive")
            require(attachment.get("contentUrl") is None, "contentUrl must be null for cards")
            raw = attachment.get("content")
            require(isinstance(raw, str), "a card's content must be a JSON string")
            try:
                card = json.loads(raw)
            except ValueError:
                card = None
            check_card(card, "attachment")
        for aid in re.findall(r'<attachment id="([^"]+)">', html):
            require(any(a.get("id") == aid for a in attachments), f"no attachment {aid}")
        mentions = body.get("mentions") or []
        require(isinstance(mentions, list), "mentions must be a list")
        ids = [int(i) for i in re.findall(r'<at id="(\d+)">', html)]
        require(sorted(ids) == sorted(m.get("id") for m in mentions), "<at id> without mention")
        for mention in mentions:
            user = (mention.get("mentioned") or {}).get("user") or {}
            require(isinstance(mention.get("mentionText"), str), "mentionText is required")
            require(_GUID.match(str(user.get("id") or "")), "mentioned.user.id must be a GUID")
            require(user.get("userIdentityType") == "aadUser", "userIdentityType must be aadUser")
        require(body.get("importance", "normal") in ("normal", "high", "urgent"), "importance")
        require(isinstance(body.get("summary", ""), str), "summary must be a string")
        return body

    @route("POST", r"/v1\.0/teams/(?P<team>[^/]+)/channels/(?P<cid>[^/]+)/messages")
    def post_message(self, request: Request) -> Reply:
        team, channel, denied = self._team_channel(request)
        if denied:
            return denied
        body = self._check_message(request)
        content = body["body"]
        attachments = body.get("attachments") or []
        mentions = body.get("mentions") or []
        roster = (
            self.team_members[team]
            if channel["membershipType"] == "standard"
            else channel["_members"]
        )
        if self.me not in roster:
            return 403, graph_error("Forbidden", "User is not a member of the channel.")
        mid = str(next(self._msg_ids))
        cid = channel["id"]
        message = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#teams('{team}')/"
            f"channels('{urllib.parse.quote(cid, safe='')}')/messages/$entity",
            "id": mid,
            "replyToId": None,
            "etag": mid,
            "messageType": "message",
            "createdDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "lastModifiedDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "lastEditedDateTime": None,
            "deletedDateTime": None,
            "subject": body.get("subject"),
            "summary": body.get("summary"),
            "chatId": None,
            "importance": body.get("importance", "normal"),
            "locale": "en-us",
            "webUrl": f"https://teams.microsoft.com/l/message/{urllib.parse.quote(cid, safe='')}/"
            f"{mid}?groupId={team}&tenantId={self.tenant_id}&createdTime={mid}&parentMessageId={mid}",
            "policyViolation": None,
            "eventDetail": None,
            "from": {
                "application": None,
                "device": None,
                "user": {
                    "id": self.me,
                    "displayName": self.users[self.me]["displayName"],
                    "userIdentityType": "aadUser",
                },
            },
            "body": content,
            "channelIdentity": {"teamId": team, "channelId": cid},
            "attachments": [
                {**a, "name": a.get("name"), "thumbnailUrl": None} for a in attachments
            ],
            "mentions": mentions,
            "reactions": [],
        }
        channel["_messages"].append(message)
        return 201, message

    # --- chats --------------------------------------------------------------------------------
    def one_on_one(self, a: str, b: str) -> dict[str, Any] | None:
        """The one-on-one chat of two users, if it exists."""
        for chat in self.chats.values():
            if chat["chatType"] == "oneOnOne" and chat["_members"] == {a.lower(), b.lower()}:
                return chat
        return None

    @route("POST", r"/v1\.0/chats")
    def create_chat(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        body = request.json
        require(isinstance(body, dict), "body must be a chat object")
        require(
            set(body) <= {"chatType", "members", "topic"},
            f"unexpected chat properties {sorted(body)}",
        )
        require(body.get("chatType") == "oneOnOne", "the adapter creates oneOnOne chats only")
        require("topic" not in body, "only group chats take a topic")
        members = body.get("members")
        require(isinstance(members, list) and len(members) == 2, "a oneOnOne chat has two members")
        uids: list[str] = []
        for member in members:
            require(isinstance(member, dict), "members must be objects")
            require(
                member.get("@odata.type") == "#microsoft.graph.aadUserConversationMember",
                "@odata.type must be #microsoft.graph.aadUserConversationMember",
            )
            require(member.get("roles") == ["owner"], 'each member of a chat has roles ["owner"]')
            match = _USER_BIND.match(str(member.get("user@odata.bind") or ""))
            require(match, "user@odata.bind must be https://graph.microsoft.com/v1.0/users('{id}')")
            assert match is not None
            require(
                set(member) == {"@odata.type", "roles", "user@odata.bind"},
                f"unexpected member properties {sorted(member)}",
            )
            uids.append(match.group(1).lower())
        require(len(set(uids)) == 2, "the two members of a oneOnOne chat must differ")
        require(self.me.lower() in uids, "the caller must be one of the chat's members")
        known = {uid.lower() for uid in self.users}
        for uid in uids:
            if uid not in known:
                return 404, graph_error("NotFound", f"User '{uid}' not found")
        chat = self.one_on_one(*uids)
        if chat is None:
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            cid = f"19:{'_'.join(sorted(uids))}@unq.gbl.spaces"
            chat = {
                "id": cid,
                "topic": None,
                "createdDateTime": now,
                "lastUpdatedDateTime": now,
                "chatType": "oneOnOne",
                "webUrl": f"https://teams.microsoft.com/l/chat/{urllib.parse.quote(cid, safe='')}/0"
                f"?tenantId={self.tenant_id}",
                "tenantId": self.tenant_id,
                "_members": set(uids),
                "_messages": [],
            }
            self.chats[cid] = chat
        answer = {k: v for k, v in chat.items() if not k.startswith("_")}
        answer["@odata.context"] = "https://graph.microsoft.com/v1.0/$metadata#chats/$entity"
        return 201, answer

    @route("POST", r"/v1\.0/chats/(?P<chat>[^/]+)/messages")
    def post_chat_message(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        assert request.match is not None
        chat = self.chats.get(urllib.parse.unquote(request.match["chat"]))
        if chat is None:
            return 404, graph_error("NotFound", "Chat not found")
        body = self._check_message(request)
        if self.me.lower() not in chat["_members"]:
            return 403, graph_error("Forbidden", "User is not a member of the chat.")
        mid = str(next(self._msg_ids))
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        message = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#chats("
            f"'{urllib.parse.quote(chat['id'], safe='')}')/messages/$entity",
            "id": mid,
            "replyToId": None,
            "etag": mid,
            "messageType": "message",
            "createdDateTime": now,
            "lastModifiedDateTime": now,
            "lastEditedDateTime": None,
            "deletedDateTime": None,
            "subject": body.get("subject"),
            "summary": body.get("summary"),
            "chatId": chat["id"],
            "importance": body.get("importance", "normal"),
            "locale": "en-us",
            "webUrl": None,
            "channelIdentity": None,
            "policyViolation": None,
            "eventDetail": None,
            "from": {
                "application": None,
                "device": None,
                "conversation": None,
                "user": {
                    "id": self.me,
                    "displayName": self.users[self.me]["displayName"],
                    "userIdentityType": "aadUser",
                },
            },
            "body": body["body"],
            "attachments": [
                {**a, "name": a.get("name"), "thumbnailUrl": None}
                for a in body.get("attachments") or []
            ],
            "mentions": body.get("mentions") or [],
            "reactions": [],
            "messageHistory": [],
        }
        chat["_messages"].append(message)
        return 201, message

    # --- tabs ---------------------------------------------------------------------------------
    @route("GET", r"/v1\.0/teams/(?P<team>[^/]+)/channels/(?P<cid>[^/]+)/tabs")
    def list_tabs(self, request: Request) -> Reply:
        _team, channel, denied = self._team_channel(request)
        if denied:
            return denied
        expand = "teamsApp" in (request.query.get("$expand") or [""])[0]
        tabs = [
            {k: v for k, v in tab.items() if expand or k != "teamsApp"} for tab in channel["_tabs"]
        ]
        return self._page(request, tabs, "tabs")

    @route("POST", r"/v1\.0/teams/(?P<team>[^/]+)/channels/(?P<cid>[^/]+)/tabs")
    def add_tab(self, request: Request) -> Reply:
        _team, channel, denied = self._team_channel(request)
        if denied:
            return denied
        body = request.json
        require(isinstance(body, dict), "body must be a teamsTab")
        require(isinstance(body.get("displayName"), str) and body["displayName"], "displayName")
        bind = str(body.get("teamsApp@odata.bind") or "")
        require(
            bind.endswith(f"/appCatalogs/teamsApps/{WEBSITE_TAB_APP}"),
            "teamsApp@odata.bind must name appCatalogs/teamsApps/com.microsoft.teamspace.tab.web",
        )
        config = body.get("configuration")
        require(isinstance(config, dict), "configuration is required")
        for key in ("contentUrl", "websiteUrl"):
            require(
                isinstance(config.get(key), str) and config[key].startswith("https://"),
                f"configuration.{key} must be an https URL",
            )
        require(
            config.get("entityId") is None and config.get("removeUrl") is None,
            "a website tab has null entityId and removeUrl",
        )
        tab = {
            "id": f"{secrets.token_hex(4)}-4d10-4bb5-9079-{secrets.token_hex(6)}",
            "displayName": body["displayName"],
            "configuration": dict(config),
            "sortOrderIndex": str(20 + len(channel["_tabs"])),
            "teamsApp": {
                "id": WEBSITE_TAB_APP,
                "displayName": "Website",
                "distributionMethod": "store",
            },
            "webUrl": f"https://teams.microsoft.com/l/channel/{urllib.parse.quote(channel['id'], safe='')}/tab",
        }
        channel["_tabs"].append(tab)
        return 201, {k: v for k, v in tab.items() if k != "teamsApp"}

    # --- users --------------------------------------------------------------------------------
    @route("GET", r"/v1\.0/me")
    def get_me(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        user = self.users[self.me]
        return 200, {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id)/$entity",
            "id": self.me,
            **({"displayName": user["displayName"]} if "$select" not in request.query else {}),
        }

    @route("GET", r"/v1\.0/users/(?P<uid>[^/]+)")
    def get_user(self, request: Request) -> Reply:
        if denied := self._auth(request):
            return denied
        assert request.match is not None
        user = self.users.get(request.match["uid"])
        if user is None:
            return 404, graph_error(
                "Request_ResourceNotFound",
                f"Resource '{request.match['uid']}' does not exist or one of its queried "
                "reference-property objects are not present.",
            )
        return 200, {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName)/$entity",
            "id": request.match["uid"],
            "displayName": user["displayName"],
        }


# --- incoming webhook -------------------------------------------------------------------------------


class FakeTeamsWebhook(FakeServer):
    """One channel's incoming webhook (`mode="connector"`: an Office 365 connector URL that
    answers 200 `1`) or Workflows trigger (`mode="workflow"`: answers 202)."""

    def __init__(self, mode: str = "connector") -> None:
        super().__init__()
        self.mode = mode
        self.signature = "s1gnatur3-" + secrets.token_hex(12)
        self.webhook_id = "8cc4b123-8f9a-4e4b-a848-cd5aab4ba5ff"
        self.hook_key = secrets.token_hex(16)
        self.payloads: list[dict[str, Any]] = []
        #: the next answers are a connector's 200 "Webhook message delivery failed … HTTP error N"
        self._refusals: list[int] = []

    @property
    def webhook_url(self) -> str:
        if self.mode == "workflow":
            return (
                f"{self.url}/workflows/{self.hook_key}/triggers/manual/paths/invoke"
                f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.signature}"
            )
        return (
            f"{self.url}/webhookb2/{self.webhook_id}@{TENANT_ID}/IncomingWebhook/"
            f"{self.hook_key}/{SERVICE_ACCOUNT}/{self.signature}"
        )

    def refuse_next(self, status: int) -> None:
        self._refusals.append(status)

    @property
    def cards(self) -> list[dict[str, Any]]:
        return [p["attachments"][0]["content"] for p in self.payloads]

    def _check(self, request: Request) -> dict[str, Any]:
        require(
            request.headers.get("content-type", "").startswith("application/json"),
            "Content-Type must be application/json",
        )
        body = request.json
        require(isinstance(body, dict), "the body must be a JSON object")
        require(set(WEBHOOK_EXAMPLE) <= set(body), "type and attachments are required")
        require(body.get("type") == WEBHOOK_EXAMPLE["type"], "type must be 'message'")
        attachments = body.get("attachments")
        require(isinstance(attachments, list) and attachments, "attachments must be a list")
        example = WEBHOOK_EXAMPLE["attachments"][0]
        first = attachments[0]
        require(isinstance(first, dict), "an attachment must be an object")
        require(first.get("contentType") == example["contentType"], "contentType must be adaptive")
        require("contentUrl" in first and first["contentUrl"] is None, "contentUrl must be null")
        check_card(first.get("content"), "attachments[0]")
        require(
            first["content"]["type"] == example["content"]["type"],
            "content.type must match the documented card",
        )
        return body

    def _answer(self, body: dict[str, Any]) -> Reply:
        self.payloads.append(body)
        if self._refusals:
            status = self._refusals.pop(0)
            text = (
                "Webhook message delivery failed with error: Microsoft Teams endpoint returned "
                f"HTTP error {status} with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,"
                "cv=deadbeefdeadbeefdeadbe.0.."
            )
            return 200, text.encode(), {"Content-Type": "text/plain; charset=utf-8"}
        if self.mode == "workflow":
            return 202, None
        return 200, b"1", {"Content-Type": "text/plain; charset=utf-8"}

    @route(
        "POST",
        r"/webhookb2/(?P<hook>[^/]+)/IncomingWebhook/(?P<key>[^/]+)/(?P<owner>[^/]+)/(?P<sig>[^/]+)",
    )
    def connector(self, request: Request) -> Reply:
        assert request.match is not None
        if self.mode != "connector" or request.match["sig"] != self.signature:
            return 404, {"error": {"code": "NotFound", "message": "Webhook not found"}}
        return self._answer(self._check(request))

    @route("POST", r"/workflows/(?P<key>[^/]+)/triggers/manual/paths/invoke")
    def workflow(self, request: Request) -> Reply:
        if self.mode != "workflow" or (request.query.get("sig") or [""])[0] != self.signature:
            return 401, {
                "error": {
                    "code": "DirectApiAuthorizationRequired",
                    "message": "The request must be authenticated only by Shared Access scheme.",
                }
            }
        return self._answer(self._check(request))


# --- Bot Framework ----------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeBotFramework(FakeServer):
    """The Bot Framework as a bot sees it, on one loopback server:

    - `GET /v1/.well-known/openidconfiguration` and its `jwks_uri` (login.botframework.com):
      the metadata and RSA signing keys (kty, use, kid, n, e, endorsements) the Bot Connector
      signs its tokens with ("Authentication with the Bot Connector API", steps 2-3);
    - `sign(...)`: an RS256 JWT as the Connector sends (iss https://api.botframework.com, aud
      the bot's app id, serviceUrl, nbf/exp), with this fake's key (or a stranger's);
    - `POST /{tenant}/oauth2/v2.0/token` (login.microsoftonline.com): the client-credentials
      grant (client_id, client_secret, scope https://api.botframework.com/.default);
    - `POST|PUT {serviceUrl}v3/conversations/{conversationId}/activities/{activityId}`
      (smba.trafficmanager.net, under `/amer/` as in the docs' activity): the bot's replies and
      card updates, with a token from the endpoint above, `type: message`, from/recipient/
      conversation set, Adaptive Card attachments valid as Teams takes them.
    """

    ISSUER = "https://api.botframework.com"
    SCOPE = "https://api.botframework.com/.default"

    def __init__(self, app_id: str, password: str, tenant: str = "botframework.com") -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        super().__init__()
        self.app_id = app_id
        self.password = password
        self.tenant = tenant
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "tocsin-test-" + secrets.token_hex(4)
        self.endorsements = ["msteams", "webchat", "emulator"]
        self.tokens: set[str] = set()
        #: (method, conversation id, activity id, body) of every reply / update
        self.sent: list[tuple[str, str, str, dict[str, Any]]] = []
        self._ids = itertools.count(1)

    @property
    def openid_url(self) -> str:
        return self.url + "/v1/.well-known/openidconfiguration"

    @property
    def service_url(self) -> str:
        return self.url + "/amer/"

    def rotate_key(self) -> None:
        """A new signing key under a new kid (the old one is no longer published)."""
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "tocsin-test-" + secrets.token_hex(4)

    def jwk(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64url(numbers.e.to_bytes(3, "big")),
            "endorsements": list(self.endorsements),
        }

    def sign(
        self,
        service_url: str | None = None,
        audience: str | None = None,
        issuer: str | None = None,
        expires_in: float = 3600,
        key: Any = None,
        kid: str | None = None,
        alg: str = "RS256",
    ) -> str:
        import time

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {"alg": alg, "typ": "JWT", "kid": kid or self.kid, "x5t": kid or self.kid}
        claims = {
            "serviceurl": service_url or self.service_url,  # as the Connector spells it
            "nbf": now - 300,
            "exp": int(now + expires_in),
            "iss": issuer or self.ISSUER,
            "aud": audience or self.app_id,
        }
        signed = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        ).encode()
        signature = (key or self.key).sign(signed, padding.PKCS1v15(), hashes.SHA256())
        return signed.decode() + "." + _b64url(signature)

    # --- login.botframework.com ---------------------------------------------------------------
    @route("GET", r"/v1/\.well-known/openidconfiguration")
    def openid(self, request: Request) -> Reply:
        return 200, {
            "issuer": self.ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": self.url + "/v1/.well-known/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }

    @route("GET", r"/v1/\.well-known/keys")
    def keys(self, request: Request) -> Reply:
        return 200, {"keys": [self.jwk()]}

    # --- login.microsoftonline.com ------------------------------------------------------------
    @route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token")
    def token(self, request: Request) -> Reply:
        require(
            request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"),
            "the token request must be form-encoded",
        )
        form = request.form
        assert request.match is not None
        require(request.match["tenant"] == self.tenant, f"tenant must be {self.tenant}")
        require(form.get("grant_type") == "client_credentials", "grant_type: client_credentials")
        require(form.get("scope") == self.SCOPE, f"scope must be {self.SCOPE}")
        if form.get("client_id") != self.app_id:
            return 400, token_error(
                "unauthorized_client",
                "AADSTS700016: Application with identifier was not found in the directory.",
            )
        if form.get("client_secret") != self.password:
            return 401, token_error(
                "invalid_client", "AADSTS7000215: Invalid client secret provided."
            )
        token = f"eyJ0eXAiOiJKV1Qi.bot-access-{next(self._ids)}.{secrets.token_hex(8)}"
        self.tokens.add(token)
        return 200, {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": token,
        }

    # --- the Bot Connector --------------------------------------------------------------------
    def _activity(self, request: Request, method: str) -> Reply:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return 401, {"message": "Authorization has been denied for this request."}
        require(
            request.headers.get("content-type", "").startswith("application/json"),
            "Content-Type must be application/json",
        )
        body = request.json
        require(isinstance(body, dict) and body.get("type") == "message", "type must be message")
        for field in ("from", "recipient", "conversation"):
            require(isinstance(body.get(field), dict) and body[field].get("id"), f"{field}.id")
        assert request.match is not None
        conversation = urllib.parse.unquote(request.match["conversation"])
        activity_id = urllib.parse.unquote(request.match["activity"])
        require(body["conversation"]["id"] == conversation, "conversation.id must match the URL")
        require(body.get("text") or body.get("attachments"), "text or attachments")
        for n, item in enumerate(body.get("attachments") or []):
            require(item.get("contentType") == CARD_TYPE, "attachments are Adaptive Cards")
            check_card(item.get("content"), f"attachments[{n}]")
        if method == "PUT":
            require(body.get("id") == activity_id, "an update names the activity it replaces")
        else:
            require(body.get("replyToId") == activity_id, "a reply names replyToId")
        self.sent.append((method, conversation, activity_id, body))
        return (200 if method == "PUT" else 201), {"id": f"1:{next(self._ids)}"}

    @route("POST", r"/amer/v3/conversations/(?P<conversation>[^/]+)/activities/(?P<activity>[^/]+)")
    def reply(self, request: Request) -> Reply:
        return self._activity(request, "POST")

    @route("PUT", r"/amer/v3/conversations/(?P<conversation>[^/]+)/activities/(?P<activity>[^/]+)")
    def update(self, request: Request) -> Reply:
        return self._activity(request, "PUT")

    def cards(self, method: str = "POST") -> list[dict[str, Any]]:
        return [
            body["attachments"][0]["content"]
            for m, _c, _a, body in self.sent
            if m == method and body.get("attachments")
        ]
