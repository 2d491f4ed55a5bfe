"""The Slack app manifest (`tocsin slack manifest`): installing the app is one paste.

Generated from the code, not retyped: the request URLs are the Slack routes of
`routes.ROUTES`, the bot events are the ones the transcript capture reads, and the bot scopes
are exactly those of the Web API methods the code calls (METHOD_SCOPES: a test checks that
every method the Slack modules call is in it, and that nothing else is), plus `files:read`
for copying shared files and the scopes the bot events need.

Both public and private incident channels are covered (`channels:*` and `groups:*`): the
Slack integration's `private_channels` option may switch between them after install.
"""

from __future__ import annotations

from typing import Any

from tocsin.integrations.slack_events import BOT_EVENTS
from tocsin.routes import ROUTES, Function

#: the Slack Web API methods Tocsin calls -> the bot scopes each needs (from each method's
#: reference page; public and private channels)
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "conversations.create": ("channels:manage", "groups:write"),
    "conversations.list": ("channels:read", "groups:read"),
    "conversations.setTopic": ("channels:manage", "groups:write"),
    "conversations.setPurpose": ("channels:manage", "groups:write"),
    "conversations.invite": ("channels:manage", "groups:write"),
    "conversations.open": ("im:write",),
    "chat.postMessage": ("chat:write",),
    "pins.add": ("pins:write",),
    "bookmarks.list": ("bookmarks:read",),
    "bookmarks.add": ("bookmarks:write",),
    "views.open": (),  # the declare form (no scope: the trigger_id is the permission)
}
#: downloading a shared file (`url_private_download` with the bot token)
FILE_SCOPES: tuple[str, ...] = ("files:read",)
#: the bot events the capture subscribes to -> the scope each needs (Events API reference)
EVENT_SCOPES: dict[str, str] = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
}
#: the slash command (`commands` scope)
COMMAND = "/incident"
DEFAULT_NAME = "Tocsin"
DESCRIPTION = "Incident response: run incidents and keep their timeline from Slack"


def slack_paths() -> dict[str, str]:
    """`commands`, `interactions`, `events` -> their path in the route table."""
    paths = {
        route.path.rsplit("/", 1)[-1]: route.path
        for route in ROUTES
        if route.function is Function.CHATOPS and route.path.startswith("/v1/slack/")
    }
    missing = {"commands", "interactions", "events"} - set(paths)
    if missing:  # pragma: no cover - the route table is code
        raise RuntimeError(f"the route table lacks the Slack routes {sorted(missing)}")
    return paths


def bot_scopes() -> list[str]:
    scopes = {scope for needed in METHOD_SCOPES.values() for scope in needed}
    scopes |= set(FILE_SCOPES) | {EVENT_SCOPES[event] for event in BOT_EVENTS}
    scopes.add("commands")
    return sorted(scopes)


def manifest(base_url: str, name: str = DEFAULT_NAME) -> dict[str, Any]:
    """The app manifest (Slack's manifest schema) for a Tocsin API at `base_url`."""
    base = base_url.rstrip("/")
    paths = slack_paths()
    return {
        "display_information": {"name": name[:35], "description": DESCRIPTION},
        "features": {
            "bot_user": {"display_name": name[:80], "always_online": True},
            "slash_commands": [
                {
                    "command": COMMAND,
                    "url": base + paths["commands"],
                    "description": "Run the incident from Slack",
                    "usage_hint": "help",
                    "should_escape": False,
                }
            ],
        },
        "oauth_config": {"scopes": {"bot": bot_scopes()}},
        "settings": {
            "event_subscriptions": {
                "request_url": base + paths["events"],
                "bot_events": sorted(BOT_EVENTS),
            },
            "interactivity": {"is_enabled": True, "request_url": base + paths["interactions"]},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }
