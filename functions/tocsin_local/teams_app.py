"""The Microsoft Teams app package (`tocsin teams manifest`): manifest.json and its two icons,
zipped, ready for Teams admin center → Manage apps → Upload (or Developer Portal → Import).

The manifest follows the app manifest schema v1.19 (learn.microsoft.com/microsoftteams/
platform/resources/schema/manifest-schema): one bot (the Azure Bot's app id) in the team,
groupChat and personal scopes, its command menu made from services/chatops.COMMANDS (so the
menu lists exactly the commands that work), `validDomains` with the API's host, and the
resource-specific consent (RSC) permissions that let the bot receive every message of the
channels and chats it is installed in (ChannelMessage.Read.Group, ChatMessage.Read.Chat)
rather than only those that @mention it: what capturing the incident channel onto the
timeline needs. The icons are drawn here (no image library): a 192x192 colour icon and a
32x32 outline icon, white on transparent, as the schema requires.
"""

from __future__ import annotations

import io
import json
import re
import struct
import urllib.parse
import zipfile
import zlib
from typing import Any

MANIFEST_VERSION = "1.19"
SCHEMA = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
ACCENT = (0xB3, 0x26, 0x1E)  # a tocsin's red
COLOR_SIZE = 192
OUTLINE_SIZE = 32
#: manifest limits (commandLists: 10 commands, title 32, description 128; name.short 30)
MAX_COMMANDS = 10
#: the commands Teams suggests in its menu (at most 10; every command works when typed)
MENU = (
    "declare",
    "status",
    "sev",
    "update",
    "statuspage",
    "role",
    "page",
    "summary",
    "note",
    "help",
)
MAX_COMMAND_TITLE = 32
MAX_COMMAND_DESCRIPTION = 128
RSC_PERMISSIONS = ("ChannelMessage.Read.Group", "ChatMessage.Read.Chat")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class TeamsAppError(ValueError):
    """An argument the package cannot be made with."""


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def manifest(url: str, bot_id: str, version: str = "1.0.0") -> dict[str, Any]:
    from tocsin.services.chatops import COMMANDS

    if not _GUID.match(bot_id):
        raise TeamsAppError(f"--bot-id {bot_id!r} is not the Azure Bot's app id (a GUID)")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise TeamsAppError(f"--url {url!r} must be the https URL of the Tocsin API (ApiUrl)")
    base = url.rstrip("/")
    commands = [
        {
            "title": _cut(name, MAX_COMMAND_TITLE),
            "description": _cut(f"{args + ': ' if args else ''}{what}", MAX_COMMAND_DESCRIPTION),
        }
        for name, (args, what) in COMMANDS.items()
        if name in MENU
    ]
    scopes = ["team", "groupChat", "personal"]
    return {
        "$schema": SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": version,
        "id": bot_id.lower(),
        "developer": {
            "name": "Tocsin",
            "websiteUrl": base,
            "privacyUrl": base,
            "termsOfUseUrl": base,
        },
        "name": {"short": "Tocsin", "full": "Tocsin incident response"},
        "description": {
            "short": "Run incidents from Teams: status pages, timeline capture.",
            "full": (
                "Tocsin is the incident response platform your team runs in its own AWS "
                "account. Mention @Tocsin with a command (statuspage, help) in an incident "
                "channel or chat with it; cards carry the Publish and Cancel buttons. With the "
                "resource-specific permissions below, the incident channel's messages, edits "
                "and deletions go onto the incident's timeline."
            ),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#{:02X}{:02X}{:02X}".format(*ACCENT),
        "bots": [
            {
                "botId": bot_id.lower(),
                "scopes": scopes,
                "isNotificationOnly": False,
                "supportsFiles": False,
                "commandLists": [{"scopes": scopes, "commands": commands}],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [parts.hostname],
        "webApplicationInfo": {"id": bot_id.lower()},
        "authorization": {
            "permissions": {
                "resourceSpecific": [
                    {"name": name, "type": "Application"} for name in RSC_PERMISSIONS
                ]
            }
        },
    }


# --- icons --------------------------------------------------------------------------------------


def png(width: int, height: int, pixels: list[bytes]) -> bytes:
    """An 8-bit RGBA PNG from rows of `width * 4` bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + row for row in pixels)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _bell(x: float, y: float) -> bool:
    """A bell (the tocsin) in the unit square: dome, body widening down, rim, clapper."""
    if 0.44 <= x <= 0.56 and 0.12 <= y < 0.2:
        return True  # the crown
    if 0.2 <= y <= 0.72:
        half = 0.16 + 0.2 * ((y - 0.2) / 0.52) ** 1.5
        return abs(x - 0.5) <= half
    if 0.72 < y <= 0.78:
        return abs(x - 0.5) <= 0.4  # the rim
    return (x - 0.5) ** 2 + (y - 0.85) ** 2 <= 0.07**2  # the clapper


def _icon(size: int, background: tuple[int, int, int] | None) -> bytes:
    white = b"\xff\xff\xff\xff"
    clear = bytes(background) + b"\xff" if background else b"\x00\x00\x00\x00"
    rows = []
    for j in range(size):
        row = bytearray()
        for i in range(size):
            inside = _bell((i + 0.5) / size, (j + 0.5) / size)
            row += white if inside else clear
        rows.append(bytes(row))
    return png(size, size, rows)


def color_icon() -> bytes:
    """192x192, full colour: a white bell on the accent colour."""
    return _icon(COLOR_SIZE, ACCENT)


def outline_icon() -> bytes:
    """32x32, white on transparent (the only colours Teams allows in an outline icon)."""
    return _icon(OUTLINE_SIZE, None)


def package(url: str, bot_id: str, version: str = "1.0.0") -> bytes:
    """The app package: manifest.json, color.png and outline.png at the zip's root."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest(url, bot_id, version), indent=2))
        archive.writestr("color.png", color_icon())
        archive.writestr("outline.png", outline_icon())
    return buffer.getvalue()
