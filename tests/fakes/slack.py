"""A fake Slack Web API: the methods the chat adapter calls, at /api/<method> like slack.com.

It checks what Slack checks (Authorization: Bearer xoxb-… header, form-encoded or JSON bodies
as slack_sdk sends them, channel names, topic length, Block Kit limits, the `im:write` scope of
conversations.open) and answers like the Web API reference pages: HTTP 200 with `{"ok": true, …}`, or `{"ok": false, "error": "<code>"}` (with
`errors` per user for conversations.invite, `needed` for missing_scope). It keeps state
(channels, direct-message conversations, members, messages, pins, bookmarks) so idempotency
tests see what really exists. conversations.open with one user opens the 1:1 DM (a `D…`
conversation with the bot and the user; the same one each time, `already_open` then) and
answers `{"ok": true, "channel": {"id": "D…"}}` as in the method's reference; chat.postMessage
posts to it like to a channel.

Ids and timestamps follow the shapes of the Slack payloads in tests/fixtures/vendor/slack/
(team T111 on `workspace-domain`, user W111, message ts like 1596183880.004200).

    with FakeSlack() as slack:
        adapter = build(Options(base_url=slack.url + "/api/"), {"bot_token": slack.token})
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
import urllib.parse
from collections import deque
from typing import Any

from tests.fakes.server import FakeServer, Reply, Request, require, route
from tests.helpers import load_fixture

_EVENT = load_fixture("slack/events_api_event_callback_message.json")
_ACTION = load_fixture("slack/interactivity_block_actions_payload.json")
_VIEW = load_fixture("slack/interactivity_view_submission_payload.json")

TEAM_ID: str = _EVENT["team_id"]  # T111
TEAM_DOMAIN: str = _ACTION["team"]["domain"]  # workspace-domain
TEAM_NAME: str = _ACTION["team"]["enterprise_name"]
HUMAN_ID: str = _EVENT["event"]["user"]  # W111, a member of the workspace
BOT_ID: str = _VIEW["view"]["bot_id"]  # B111
#: the bot's own user id (not in the fixtures: any U… id will do)
BOT_USER_ID = "U0TOCSIN01"
_TS_SECONDS, _TS_FRACTION = _EVENT["event"]["ts"].split(".")

MESSAGE_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)
_NAME_CHARS = re.compile(r"^[a-z0-9_-]+$")
_CHANNEL_TYPES = frozenset({"public_channel", "private_channel", "mpim", "im"})
#: the bot token's scopes (a Slack app with what the chat adapter needs)
BOT_SCOPES = frozenset(
    {
        "channels:manage",
        "channels:read",
        "channels:join",
        "groups:read",
        "groups:write",
        "chat:write",
        "im:write",
        "pins:write",
        "bookmarks:read",
        "bookmarks:write",
        "users:read",
    }
)
#: methods whose scope the fake checks -> the scope a 1:1 use of them needs
METHOD_SCOPES = {"conversations.open": "im:write"}


def validate_blocks(blocks: Any) -> str | None:
    """Why Slack would answer `invalid_blocks` for these message blocks, or None.

    Limits from the Block Kit reference: ≤ 50 blocks per message; header text plain_text
    ≤ 150; section text ≤ 3000, fields ≤ 10 each ≤ 2000; context ≤ 10 elements; actions ≤ 25
    elements; button text plain_text ≤ 75, url ≤ 3000, action_id ≤ 255; text objects 1-3000
    characters; block_id ≤ 255 and unique."""
    if not isinstance(blocks, list):
        return "blocks must be an array"
    if len(blocks) > 50:
        return f"{len(blocks)} blocks: a message takes at most 50"
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"blocks[{index}]"
        if not isinstance(block, dict):
            return f"{where} is not an object"
        kind = block.get("type")
        if kind not in MESSAGE_BLOCK_TYPES:
            return f"{where}: type {kind!r} is not a message block"
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > 255 or block_id in block_ids:
                return f"{where}: block_id missing, too long or repeated"
            block_ids.add(block_id)
        problem = _BLOCK_CHECKS.get(kind, lambda _b: None)(block)
        if problem:
            return f"{where} ({kind}): {problem}"
    return None


def _text_problem(obj: Any, max_len: int = 3000, plain_only: bool = False) -> str | None:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return "text must be a plain_text or mrkdwn text object"
    if plain_only and obj["type"] != "plain_text":
        return "text must be plain_text"
    text = obj.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= max_len:
        return f"text must be 1-{max_len} characters"
    if "emoji" in obj and obj["type"] != "plain_text":
        return "emoji is only for plain_text"
    if "verbatim" in obj and obj["type"] != "mrkdwn":
        return "verbatim is only for mrkdwn"
    unknown = set(obj) - {"type", "text", "emoji", "verbatim"}
    return f"unknown text object fields {sorted(unknown)}" if unknown else None


def _header_problem(block: dict[str, Any]) -> str | None:
    return _text_problem(block.get("text"), 150, plain_only=True)


def _section_problem(block: dict[str, Any]) -> str | None:
    if "text" not in block and "fields" not in block:
        return "a section needs text or fields"
    if "text" in block and (problem := _text_problem(block["text"])):
        return problem
    if "fields" in block:
        fields = block["fields"]
        if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
            return "fields must hold 1-10 text objects"
        for field in fields:
            if problem := _text_problem(field, 2000):
                return f"field: {problem}"
    return None


def _context_problem(block: dict[str, Any]) -> str | None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
        return "elements must hold 1-10 items"
    for element in elements:
        if isinstance(element, dict) and element.get("type") == "image":
            continue
        if problem := _text_problem(element):
            return problem
    return None


def _select_problem(element: dict[str, Any]) -> str | None:
    """static_select: placeholder plain_text ≤ 150, 1-100 options (text ≤ 75, value ≤ 150)."""
    placeholder = element.get("placeholder")
    if placeholder is not None and (problem := _text_problem(placeholder, 150, plain_only=True)):
        return f"placeholder {problem}"
    options = element.get("options")
    if not isinstance(options, list) or not 1 <= len(options) <= 100:
        return "static_select options must hold 1-100 items"
    for option in options:
        if not isinstance(option, dict):
            return "an option is not an object"
        if problem := _text_problem(option.get("text"), 75, plain_only=True):
            return f"option {problem}"
        value = option.get("value")
        if not isinstance(value, str) or not 1 <= len(value) <= 150:
            return "option value must be 1-150 characters"
    if "initial_option" in element and element["initial_option"] not in options:
        return "initial_option must be one of the options"
    return None


def _confirm_problem(confirm: Any) -> str | None:
    """A confirmation dialog: title ≤ 100, text ≤ 300, confirm/deny ≤ 30 (plain_text)."""
    if not isinstance(confirm, dict):
        return "confirm must be an object"
    for key, limit in (("title", 100), ("text", 300), ("confirm", 30), ("deny", 30)):
        if problem := _text_problem(confirm.get(key), limit, plain_only=key != "text"):
            return f"confirm.{key} {problem}"
    return None


def validate_modal(view: dict[str, Any]) -> str | None:
    """Why views.open would refuse this modal: type modal, title/submit/close plain_text ≤ 24,
    ≤ 100 blocks, callback_id ≤ 255, private_metadata ≤ 3000, input blocks with a label
    (≤ 2000) and a known element; a submit button whenever there is an input."""
    if view.get("type") != "modal":
        return "type must be modal"
    for key in ("title", "submit", "close"):
        if key in view and (problem := _text_problem(view[key], 24, plain_only=True)):
            return f"{key} {problem}"
    if "title" not in view:
        return "a modal needs a title"
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 100:
        return "blocks must hold 1-100 items"
    if len(str(view.get("callback_id", ""))) > 255:
        return "callback_id is longer than 255"
    if len(str(view.get("private_metadata", ""))) > 3000:
        return "private_metadata is longer than 3000"
    block_ids: set[str] = set()
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") not in {
            "input",
            "section",
            "context",
            "header",
        }:
            return "a modal block is not input/section/context/header"
        if block.get("block_id") in block_ids:
            return "block_id repeated"
        block_ids.add(block.get("block_id"))
        if block["type"] != "input":
            continue
        if problem := _text_problem(block.get("label"), 2000, plain_only=True):
            return f"input label {problem}"
        element = block.get("element") or {}
        kind = element.get("type")
        if kind == "static_select":
            if problem := _select_problem(element):
                return problem
        elif kind == "plain_text_input":
            if not 1 <= int(element.get("max_length", 3000)) <= 3000:
                return "plain_text_input max_length must be 1-3000"
        else:
            return f"input element {kind!r} is not one the fake knows"
        if "submit" not in view:
            return "a modal with inputs needs a submit button"
    return None


def _actions_problem(block: dict[str, Any]) -> str | None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
        return "elements must hold 1-25 items"
    action_ids: set[str] = set()
    for element in elements:
        confirm = element.get("confirm") if isinstance(element, dict) else None
        if confirm is not None and (problem := _confirm_problem(confirm)):
            return problem
        if isinstance(element, dict) and element.get("type") == "static_select":
            if problem := _select_problem(element):
                return problem
            continue
        if not isinstance(element, dict) or element.get("type") != "button":
            continue  # only buttons and selects are checked here
        if problem := _text_problem(element.get("text"), 75, plain_only=True):
            return f"button {problem}"
        url = element.get("url")
        if url is not None and (not isinstance(url, str) or not 1 <= len(url) <= 3000):
            return "button url must be 1-3000 characters"
        action_id = element.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str) or len(action_id) > 255 or action_id in action_ids:
                return "action_id too long or repeated"
            action_ids.add(action_id)
        if element.get("style") not in (None, "primary", "danger"):
            return "style must be primary or danger"
    return None


_BLOCK_CHECKS = {
    "header": _header_problem,
    "section": _section_problem,
    "context": _context_problem,
    "actions": _actions_problem,
}


def _flag(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


class FakeSlack(FakeServer):
    """Slack's Web API for one workspace, with the bot (BOT_USER_ID) installed."""

    def __init__(self, token: str = "xoxb-111-222-fakebottoken0000") -> None:
        super().__init__()
        self.token = token
        self._hook_seq = 0
        #: conversations.list page size the fake uses (≤ the caller's limit)
        self.page_size = 100
        self.users: set[str] = {HUMAN_ID, BOT_USER_ID}
        #: deactivated accounts (conversations.open answers user_disabled)
        self.disabled_users: set[str] = set()
        self.scopes: set[str] = set(BOT_SCOPES)
        #: user id -> the id of the bot's DM with that user
        self.ims: dict[str, str] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[str]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.pins: dict[str, list[str]] = {}
        self.bookmarks: dict[str, list[dict[str, Any]]] = {}
        #: file id -> (its Slack file object, its bytes), served at url_private_download
        self.files: dict[str, tuple[dict[str, Any], bytes]] = {}
        #: method -> queued answers `(status, body, headers)` given instead of the real one
        self._scripted: dict[str, deque[tuple[int, dict[str, Any], dict[str, str]]]] = {}
        self._ids = itertools.count(1)
        self._handlers = {
            "auth.test": self._auth_test,
            "conversations.create": self._conversations_create,
            "conversations.list": self._conversations_list,
            "conversations.setTopic": self._conversations_set_topic,
            "conversations.setPurpose": self._conversations_set_purpose,
            "conversations.invite": self._conversations_invite,
            "conversations.open": self._conversations_open,
            "chat.postMessage": self._chat_post_message,
            "pins.add": self._pins_add,
            "bookmarks.list": self._bookmarks_list,
            "bookmarks.add": self._bookmarks_add,
            "views.open": self._views_open,
        }
        #: modals opened with views.open (the view objects as sent)
        self.views: list[dict[str, Any]] = []
        self.used_triggers: set[str] = set()

    # --- scripting and seeding ----------------------------------------------------------------
    def answer_next(
        self,
        method: str,
        error: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        """The next call of `method` (after the auth check) gets `{"ok": false, "error": …}`."""
        body = {"ok": False, "error": error, **extra}
        self._scripted.setdefault(method, deque()).append((status, body, headers or {}))

    def add_users(self, *user_ids: str) -> None:
        self.users.update(user_ids)

    def add_channel(
        self,
        name: str,
        *,
        archived: bool = False,
        private: bool = False,
        bot_member: bool = True,
        members: tuple[str, ...] = (),
    ) -> str:
        """A channel that already exists (made by people, or by an earlier run)."""
        creator = BOT_USER_ID if bot_member else HUMAN_ID
        channel = self._new_channel(name, private, creator)
        channel["is_archived"] = archived
        self.members[channel["id"]] = list(
            dict.fromkeys(([BOT_USER_ID] if bot_member else []) + list(members))
        )
        return str(channel["id"])

    def add_file(
        self, name: str, content: bytes, mimetype: str, user: str = HUMAN_ID
    ) -> dict[str, Any]:
        """A file uploaded to the workspace, as the `files` entries of a `file_share` message
        carry it (the file object of Slack's files.info reference); its bytes are served at
        `url_private_download` to the bot token only."""
        file_id = f"F{next(self._ids):010X}"
        base = f"{self.url}/files-pri/{TEAM_ID}-{file_id}"
        filetype = name.rsplit(".", 1)[-1].lower() if "." in name else "binary"
        created = int(_TS_SECONDS) + len(self.files)
        file = {
            "id": file_id,
            "created": created,
            "timestamp": created,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": user,
            "user_team": TEAM_ID,
            "editable": False,
            "size": len(content),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": True,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{base}/{name}",
            "url_private_download": f"{base}/download/{name}",
            "permalink": f"https://{TEAM_DOMAIN}.slack.com/files/{user}/{file_id}/{name}",
            "is_starred": False,
            "has_rich_preview": False,
            "file_access": "visible",
        }
        self.files[file_id] = (file, content)
        return dict(file)

    def downloads(self) -> list[Request]:
        return self.calls("GET", r"/files-pri/.*")

    def calls_of(self, method: str) -> list[Request]:
        return self.calls(path=f"/api/{re.escape(method)}")

    def response_url(self, kind: str = "commands") -> str:
        """A response_url as Slack hands out with a slash command (`commands`) or an
        interaction (`actions`), on this server: hooks.slack.com/<kind>/T…/<id>/<secret>."""
        self._hook_seq += 1
        return f"{self.url}/{kind}/{TEAM_ID}/{100000 + self._hook_seq}/hook{self._hook_seq:04d}"

    def responses(self, url: str | None = None) -> list[dict[str, Any]]:
        """Messages posted to response URLs (to `url` only, when given), oldest first."""
        path = urllib.parse.urlsplit(url).path if url else None
        return [
            dict(r.json)
            for r in self.calls("POST", r"/(commands|actions)/.*")
            if (path is None or r.path == path) and isinstance(r.json, dict)
        ]

    # --- routing ------------------------------------------------------------------------------
    @route("POST", r"/(?P<kind>commands|actions)/(?P<team>T[A-Z0-9]+)/(?P<id>[0-9]+)/[A-Za-z0-9]+")
    def response_post(self, request: Request) -> Reply:
        """A message to a response_url (Slack's "Handling user interaction" guide): a JSON
        body with text/blocks, `response_type` (ephemeral | in_channel), `replace_original`,
        `delete_original`. Slack answers 200; bad blocks get 400 invalid_blocks."""
        require(
            request.headers.get("content-type", "").startswith("application/json"),
            "a response_url takes a JSON body",
        )
        body = request.json
        require(isinstance(body, dict), "the body must be a JSON object")
        require(
            body.get("response_type", "ephemeral") in {"ephemeral", "in_channel"},
            "response_type is ephemeral or in_channel",
        )
        require(
            bool(body.get("text") or body.get("blocks") or body.get("delete_original")),
            "a message needs text or blocks",
        )
        if "blocks" in body:
            problem = validate_blocks(body["blocks"])
            if problem:
                return 400, b"invalid_blocks", {"Content-Type": "text/plain"}
        return 200, b"ok", {"Content-Type": "text/plain"}

    @route("GET", r"/files-pri/(?P<team>T[A-Z0-9]+)-(?P<file>F[A-Z0-9]+)/download/(?P<name>[^/]+)")
    def file_download(self, request: Request) -> Reply:
        """url_private_download: "requires an Authorization header with the bot token"
        (Slack's "Working with files"); the token in a query string or none at all is a
        mistake of ours, recorded as a violation."""
        require(
            request.headers.get("authorization") == f"Bearer {self.token}",
            "files are downloaded with `Authorization: Bearer <bot token>`",
        )
        require("token" not in request.query, "the token belongs in the Authorization header")
        assert request.match is not None
        found = self.files.get(request.match["file"])
        if found is None or found[0]["name"] != request.match["name"]:
            return 404, b"file not found", {"Content-Type": "text/plain"}
        file, content = found
        return 200, content, {"Content-Type": file["mimetype"]}

    @route("POST", r"/api/(?P<method>[A-Za-z.]+)")
    def api_post(self, request: Request) -> Reply:
        return self._api(request)

    @route("GET", r"/api/(?P<method>[A-Za-z.]+)")
    def api_get(self, request: Request) -> Reply:
        return self._api(request)

    def _api(self, request: Request) -> Reply:
        assert request.match is not None
        method = request.match["method"]
        handler = self._handlers.get(method)
        require(handler is not None, f"method {method} is not one the chat adapter should call")
        params = self._params(request)
        header = request.headers.get("authorization")
        if header is None:
            return 200, {"ok": False, "error": "not_authed"}
        require(
            header.startswith("Bearer xoxb-"), "Authorization must be `Bearer xoxb-…` (a bot token)"
        )
        if header != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}
        queue = self._scripted.get(method)
        if queue:
            status, body, headers = queue.popleft()
            return status, body, headers
        needed = METHOD_SCOPES.get(method)
        if needed and needed not in self.scopes:
            return 200, {
                "ok": False,
                "error": "missing_scope",
                "needed": needed,
                "provided": ",".join(sorted(self.scopes)),
            }
        assert handler is not None
        return handler(params)

    def _params(self, request: Request) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            body = request.json
            require(isinstance(body, dict), "a JSON body must be an object")
            params: dict[str, Any] = dict(body)
        elif ctype.startswith("application/x-www-form-urlencoded"):
            params = request.form
        else:
            require(not request.raw, f"Content-Type {ctype!r} is not one Slack takes")
            params = {}
        for key, values in request.query.items():
            params.setdefault(key, values[0])
        require(
            "token" not in params, "the token belongs in the Authorization header, not the body"
        )
        return params

    # --- helpers ------------------------------------------------------------------------------
    def _new_channel(self, name: str, private: bool, creator: str) -> dict[str, Any]:
        n = next(self._ids)
        now = int(_TS_SECONDS) + n
        channel = {
            "id": f"C{n:08X}",
            "name": name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": private,
            "created": now,
            "creator": creator,
            "is_archived": False,
            "is_general": False,
            "unlinked": 0,
            "name_normalized": name,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "pending_shared": [],
            "is_pending_ext_shared": False,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
        }
        self.channels[channel["id"]] = channel
        self.members[channel["id"]] = [creator]
        return channel

    def _view(self, channel: dict[str, Any]) -> dict[str, Any]:
        members = self.members.get(channel["id"], [])
        return {**channel, "is_member": BOT_USER_ID in members, "num_members": len(members)}

    def _channel(
        self, params: dict[str, Any], key: str = "channel"
    ) -> tuple[dict[str, Any] | None, Reply | None]:
        channel_id = params.get(key)
        require(isinstance(channel_id, str) and channel_id, f"`{key}` is required")
        channel = self.channels.get(channel_id)
        if channel is None or (
            channel.get("is_private") and BOT_USER_ID not in self.members[channel["id"]]
        ):
            return None, (200, {"ok": False, "error": "channel_not_found"})
        return channel, None

    def _writable(
        self, params: dict[str, Any], key: str = "channel"
    ) -> tuple[dict[str, Any] | None, Reply | None]:
        channel, error = self._channel(params, key)
        if channel is None:
            return None, error
        if channel["is_archived"]:
            return None, (200, {"ok": False, "error": "is_archived"})
        if BOT_USER_ID not in self.members[channel["id"]]:
            return None, (200, {"ok": False, "error": "not_in_channel"})
        return channel, None

    def _ts(self) -> str:
        return f"{int(_TS_SECONDS) + next(self._ids)}.{_TS_FRACTION}"

    # --- methods ------------------------------------------------------------------------------
    def _auth_test(self, params: dict[str, Any]) -> Reply:
        return 200, {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": "tocsin",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _conversations_create(self, params: dict[str, Any]) -> Reply:
        name = params.get("name")
        if not name:
            return 200, {"ok": False, "error": "invalid_name_required"}
        require(isinstance(name, str), "`name` must be a string")
        if len(name) > 80:
            return 200, {"ok": False, "error": "invalid_name_maxlength"}
        if not _NAME_CHARS.match(name):
            return 200, {"ok": False, "error": "invalid_name_specials"}
        if not re.search(r"[a-z0-9]", name):
            return 200, {"ok": False, "error": "invalid_name_punctuation"}
        if any(c.get("name") == name for c in self.channels.values()):
            return 200, {"ok": False, "error": "name_taken"}
        channel = self._new_channel(name, _flag(params.get("is_private")), BOT_USER_ID)
        return 200, {"ok": True, "channel": self._view(channel)}

    def _conversations_list(self, params: dict[str, Any]) -> Reply:
        types = str(params.get("types") or "public_channel").split(",")
        if not set(types) <= _CHANNEL_TYPES:
            return 200, {"ok": False, "error": "invalid_types"}
        try:
            limit = int(params.get("limit") or 100)
        except ValueError:
            limit = 0
        if not 1 <= limit < 1000:
            return 200, {"ok": False, "error": "invalid_limit"}
        offset = 0
        if params.get("cursor"):
            try:
                offset = int(
                    base64.b64decode(str(params["cursor"])).decode().removeprefix("offset:")
                )
            except ValueError:
                return 200, {"ok": False, "error": "invalid_cursor"}
        exclude_archived = _flag(params.get("exclude_archived"))
        visible = [
            self._view(c)
            for c in self.channels.values()
            if not c.get("is_im")
            and (
                (
                    "private_channel" in types
                    and c["is_private"]
                    and BOT_USER_ID in self.members[c["id"]]
                )
                or ("public_channel" in types and not c["is_private"])
            )
            and not (exclude_archived and c["is_archived"])
        ]
        size = min(limit, self.page_size)
        page = visible[offset : offset + size]
        more = offset + size < len(visible)
        cursor = base64.b64encode(f"offset:{offset + size}".encode()).decode() if more else ""
        return 200, {"ok": True, "channels": page, "response_metadata": {"next_cursor": cursor}}

    def _set_text(self, params: dict[str, Any], key: str) -> Reply:
        channel, error = self._writable(params)
        if channel is None:
            assert error is not None
            return error
        value = params.get(key)
        require(isinstance(value, str), f"`{key}` is required")
        if len(value) > 250:
            return 200, {"ok": False, "error": "too_long"}
        channel[key] = {"value": value, "creator": BOT_USER_ID, "last_set": int(time.time())}
        return 200, {"ok": True, "channel": self._view(channel)}

    def _conversations_set_topic(self, params: dict[str, Any]) -> Reply:
        return self._set_text(params, "topic")

    def _conversations_set_purpose(self, params: dict[str, Any]) -> Reply:
        return self._set_text(params, "purpose")

    def _conversations_invite(self, params: dict[str, Any]) -> Reply:
        channel, error = self._writable(params)
        if channel is None:
            assert error is not None
            return error
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if not users:
            return 200, {"ok": False, "error": "no_user"}
        if len(users) > 1000:
            return 200, {"ok": False, "error": "too_many_users"}
        require(len(set(users)) == len(users), "the same user twice in `users`")
        members = self.members[channel["id"]]
        errors = []
        for user in users:
            if user == BOT_USER_ID:
                errors.append({"user": user, "ok": False, "error": "cant_invite_self"})
            elif user not in self.users:
                errors.append({"user": user, "ok": False, "error": "user_not_found"})
            elif user in members:
                errors.append({"user": user, "ok": False, "error": "already_in_channel"})
        if (
            errors
        ):  # one failed invite fails them all (conversations.invite "Partially failed calls")
            return 200, {"ok": False, "error": errors[0]["error"], "errors": errors}
        members.extend(users)
        return 200, {"ok": True, "channel": self._view(channel)}

    def _conversations_open(self, params: dict[str, Any]) -> Reply:
        if params.get("channel"):  # resume a DM by its id
            channel, error = self._channel(params)
            if channel is None or not channel.get("is_im"):
                return error or (
                    200,
                    {"ok": False, "error": "method_not_supported_for_channel_type"},
                )
            return 200, {
                "ok": True,
                "no_op": True,
                "already_open": True,
                "channel": {"id": channel["id"]},
            }
        raw = params.get("users")
        if not raw:
            return 200, {"ok": False, "error": "users_list_not_supplied"}
        require(isinstance(raw, str), "`users` is a comma-separated string of user ids")
        users = [u for u in str(raw).split(",") if u]
        require(len(users) == 1, "the chat adapter opens 1:1 DMs: one user in `users`")
        user = users[0]
        if user not in self.users:
            return 200, {"ok": False, "error": "user_not_found"}
        if user in self.disabled_users:
            return 200, {"ok": False, "error": "user_disabled"}
        already = user in self.ims
        if not already:
            n = next(self._ids)
            channel = {
                "id": f"D{n:08X}",
                "created": int(_TS_SECONDS) + n,
                "is_archived": False,
                "is_im": True,
                "is_org_shared": False,
                "context_team_id": TEAM_ID,
                "updated": (int(_TS_SECONDS) + n) * 1000,
                "user": user,
                "is_user_deleted": False,
                "priority": 0,
            }
            self.channels[channel["id"]] = channel
            self.members[channel["id"]] = [BOT_USER_ID, user]
            self.ims[user] = channel["id"]
        return 200, {
            "ok": True,
            "no_op": already,
            "already_open": already,
            "channel": {"id": self.ims[user]},
        }

    def dm(self, user: str) -> list[dict[str, Any]]:
        """The messages the bot posted in its DM with `user`."""
        channel_id = self.ims.get(user)
        return list(self.messages.get(channel_id, [])) if channel_id else []

    def _chat_post_message(self, params: dict[str, Any]) -> Reply:
        channel, error = self._writable(params)
        if channel is None:
            assert error is not None
            return error
        text = params.get("text")
        require(
            isinstance(text, str) and text, "`text` (the notification fallback) must always be set"
        )
        blocks = params.get("blocks")
        if isinstance(blocks, str):  # form-encoded callers send blocks as a JSON string
            blocks = json.loads(blocks)
        if blocks is not None and (problem := validate_blocks(blocks)):
            return 200, {
                "ok": False,
                "error": "invalid_blocks",
                "response_metadata": {"messages": [f"[ERROR] {problem}"]},
            }
        ts = self._ts()
        message = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "team": TEAM_ID,
            "text": text,
            "ts": ts,
            "blocks": blocks or [],
        }
        self.messages.setdefault(channel["id"], []).append(message)
        return 200, {"ok": True, "channel": channel["id"], "ts": ts, "message": message}

    def _views_open(self, params: dict[str, Any]) -> Reply:
        """views.open: a modal for a trigger_id (Slack: valid for 3 seconds, used once)."""
        trigger = params.get("trigger_id")
        require(isinstance(trigger, str) and trigger, "views.open needs a trigger_id")
        view = params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict) or (problem := validate_modal(view)):
            return 200, {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {
                    "messages": [f"[ERROR] {problem or 'view is not an object'}"]
                },
            }
        if trigger in self.used_triggers:
            return 200, {"ok": False, "error": "expired_trigger_id"}
        self.used_triggers.add(trigger)
        self.views.append(view)
        return 200, {"ok": True, "view": {**view, "id": f"V{next(self._ids):08d}"}}

    def _pins_add(self, params: dict[str, Any]) -> Reply:
        channel, error = self._writable(params)
        if channel is None:
            assert error is not None
            return error
        ts = params.get("timestamp")
        require(isinstance(ts, str) and ts, "`timestamp` is required to pin a message")
        if not any(m["ts"] == ts for m in self.messages.get(channel["id"], [])):
            return 200, {"ok": False, "error": "message_not_found"}
        pinned = self.pins.setdefault(channel["id"], [])
        if ts in pinned:
            return 200, {"ok": False, "error": "already_pinned"}
        pinned.append(ts)
        return 200, {"ok": True}

    def _bookmarks_list(self, params: dict[str, Any]) -> Reply:
        channel, error = self._channel(params, "channel_id")
        if channel is None:
            assert error is not None
            return error
        return 200, {"ok": True, "bookmarks": list(self.bookmarks.get(channel["id"], []))}

    def _bookmarks_add(self, params: dict[str, Any]) -> Reply:
        channel, error = self._writable(params, "channel_id")
        if channel is None:
            assert error is not None
            return error
        require(params.get("type") == "link", "bookmarks.add takes type=link")
        require(isinstance(params.get("title"), str) and params["title"], "`title` is required")
        require(
            isinstance(params.get("link"), str) and params["link"],
            "`link` is required for type=link",
        )
        bookmarks = self.bookmarks.setdefault(channel["id"], [])
        bookmark = {
            "id": f"Bk{next(self._ids):010X}",
            "channel_id": channel["id"],
            "title": params["title"],
            "link": params["link"],
            "emoji": params.get("emoji"),
            "icon_url": None,
            "type": "link",
            "entity_id": None,
            "date_created": int(time.time()),
            "date_updated": 0,
            "rank": "g",
            "last_updated_by_user_id": BOT_USER_ID,
            "last_updated_by_team_id": TEAM_ID,
            "shortcut_id": None,
            "app_id": None,
        }
        bookmarks.append(bookmark)
        return 200, {"ok": True, "bookmark": bookmark}
