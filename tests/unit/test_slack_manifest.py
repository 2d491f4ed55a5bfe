"""`tocsin slack manifest`: the Slack app is configured from the code (routes, events, the
Web API methods called), so a new Slack route or method cannot be forgotten in it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner
from tocsin.integrations import slack_manifest
from tocsin.integrations.slack_events import BOT_EVENTS
from tocsin.routes import ROUTES

from tests.fakes.slack import FakeSlack

FUNCTIONS = Path(slack_manifest.__file__).resolve().parents[2]
BASE = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
#: a Web API call in the Slack modules: `self._call("conversations.create", self._client.…`
_CALL = re.compile(
    r'_call\(\s*"(?P<method>[a-z]+\.[A-Za-z]+)",\s*self\._client(?:_quick)?\.(?P<fn>\w+)'
)


def called_methods() -> dict[str, str]:
    """Every Slack Web API method the runtime code calls -> the slack_sdk function used."""
    found: dict[str, str] = {}
    for path in (FUNCTIONS / "tocsin").rglob("*.py"):
        text = path.read_text()
        for match in _CALL.finditer(text):
            found[match["method"]] = match["fn"]
        # any WebClient call outside `_call` would escape this table
        direct = re.findall(r"self\._client(?:_quick)?\.(\w+)\(", text)
        assert not direct, f"{path.name} calls slack_sdk without _call: {direct}"
    return found


def test_every_method_the_code_calls_has_its_scopes_in_the_table_and_no_more() -> None:
    called = called_methods()
    assert "chat.postMessage" in called and "conversations.create" in called  # the regex works
    assert set(called) == set(slack_manifest.METHOD_SCOPES)
    for method, fn in called.items():  # the name on the table is the function really called
        assert fn.replace("_", ".", 1) == method  # slack_sdk: chat_postMessage


def test_the_fake_slack_serves_only_methods_of_the_table() -> None:
    assert set(FakeSlack()._handlers) <= set(slack_manifest.METHOD_SCOPES)


def test_the_bot_scopes_cover_methods_files_and_events_exactly() -> None:
    manifest = slack_manifest.manifest(BASE)
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    needed = {s for scopes_ in slack_manifest.METHOD_SCOPES.values() for s in scopes_}
    assert needed <= scopes
    assert "files:read" in scopes  # copying shared files
    assert {"channels:history", "groups:history", "reactions:read"} <= scopes
    assert "commands" in scopes
    assert scopes == needed | {
        "files:read",
        "commands",
        "channels:history",
        "groups:history",
        "reactions:read",
    }
    assert manifest["oauth_config"]["scopes"]["bot"] == sorted(scopes)


def test_every_slack_route_is_in_the_manifest_at_the_base_url() -> None:
    manifest = slack_manifest.manifest(BASE + "/")
    urls = {
        manifest["features"]["slash_commands"][0]["url"],
        manifest["settings"]["interactivity"]["request_url"],
        manifest["settings"]["event_subscriptions"]["request_url"],
    }
    slack_routes = {BASE + r.path for r in ROUTES if r.path.startswith("/v1/slack/")}
    assert urls == slack_routes
    assert len(slack_routes) == 3
    assert manifest["features"]["slash_commands"][0]["command"] == "/incident"
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == sorted(BOT_EVENTS)
    assert {"message.channels", "message.groups", "reaction_added", "reaction_removed"} == set(
        BOT_EVENTS
    )


def test_the_cli_prints_the_manifest_as_json() -> None:
    from tocsin_local.cli import main

    result = CliRunner().invoke(main, ["slack", "manifest", "--url", BASE, "--name", "Ops Bot"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed == slack_manifest.manifest(BASE, "Ops Bot")
    assert printed["display_information"]["name"] == "Ops Bot"
    # the API's --url (TOCSIN_URL) is the default
    result = CliRunner().invoke(main, ["--url", BASE, "slack", "manifest"])
    assert json.loads(result.output)["settings"]["event_subscriptions"]["request_url"] == (
        BASE + "/v1/slack/events"
    )


def test_the_cli_wants_a_url(monkeypatch: object) -> None:
    from tocsin_local.cli import main

    result = CliRunner(env={"TOCSIN_URL": None}).invoke(main, ["slack", "manifest"])
    assert result.exit_code == 2 and "--url" in result.output
    result = CliRunner().invoke(main, ["slack", "manifest", "--url", "ftp://x"])
    assert result.exit_code == 2
