"""Microsoft Teams chat-ops: `POST /v1/teams/messages` (the bot), `POST /v1/teams/webhook` (an
outgoing webhook), and the Teams jobs of the chat-ops queue. Routes of the `chatops` function
(handlers/chatops.py includes this router and hands `{"kind": "teams"}` jobs to `record`).

- The bot: the Bot Connector's JWT is verified first (integrations/teams_bot.py); a bad one
  gets 401 and nothing else happens. A verified activity is put on the chat-ops queue and
  acknowledged at once. The queue job claims the activity (conversation + activity id) so a
  redelivered activity acts once, puts incident-channel messages, edits, deletions and
  reactions on the capture, runs a command (a personal chat, or an @mention elsewhere) or a
  card button (`value: {"action", "value"}`) through ChatOps, and answers through the Bot
  Connector (a clicked card is replaced when the answer says so).
- The outgoing webhook: the HMAC of the raw body is verified first (401 otherwise). Teams
  waits 5 seconds for the answer and offers no way to answer later, so the command runs right
  here under a time guard: what is not done after WEBHOOK_BUDGET seconds is answered with
  "still working". Its cards have no buttons (a webhook cannot receive a click).

Neither tokens, the security token, the bot password nor message text are logged.
"""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from tocsin.handlers.container import container

logger = Logger(service="tocsin")
router = Router()
PROVIDER = "teams"
CHAT_PROVIDERS = frozenset({"teams", "teams_webhook"})
#: seconds an outgoing webhook request may take before it answers "still working" (Teams
#: gives up after 5; the rest is for the network and the Lambda's own overhead)
WEBHOOK_BUDGET = 4.0
#: activity types the queue does something with (others are acknowledged and dropped)
QUEUED = frozenset({"message", "messageUpdate", "messageDelete", "messageReaction"})


def _json(status: int, body: dict[str, Any] | None) -> Response[Any]:
    if body is None:
        return Response(status_code=status, content_type="text/plain", body="")
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _raw_body() -> bytes | None:
    event = router.current_event
    raw = event.get("body") or ""
    try:
        return base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
    except ValueError:
        return None


def _header(name: str) -> str | None:
    headers = {str(k).lower(): str(v) for k, v in (router.current_event.headers or {}).items()}
    return headers.get(name)


def _chat() -> tuple[Any, str | None]:
    """(the Teams chat options, the secret's name), or (None, None) when chat is not Teams."""
    from tocsin.integrations import teams

    chat = container().config.integrations.chat
    if chat.provider not in CHAT_PROVIDERS:
        return None, None
    model = teams.Options if chat.provider == teams.PROVIDER else teams.WebhookOptions
    return model.model_validate(chat.options), chat.secret


def _activity(body: bytes) -> dict[str, Any] | None:
    try:
        activity = json.loads(body)
    except ValueError:
        return None
    return activity if isinstance(activity, dict) else None


def _bad_request(why: str) -> Response[Any]:
    return _json(400, {"error": why})


def _unauthorized(why: str) -> Response[Any]:
    logger.warning("teams request refused", extra={"reason": why})
    return _json(401, {"error": "invalid or missing Teams credentials"})


# --- the bot ------------------------------------------------------------------------------------
@router.post("/v1/teams/messages")
def teams_messages() -> Response[Any]:
    from tocsin.handlers.chatops import _enqueue
    from tocsin.integrations.ports import IntegrationError
    from tocsin.integrations.teams_bot import BotAuthError, authenticator

    body = _raw_body()
    options, _secret = _chat()
    if options is None or options.bot is None:
        return _unauthorized("integrations.chat is not Teams with a bot")
    activity = _activity(body) if body is not None else None
    if activity is None:  # nothing to verify the token against
        return _unauthorized("the body is not an activity")
    try:
        authenticator(options.bot).verify(_header("authorization"), activity)
    except BotAuthError as exc:
        return _unauthorized(str(exc))
    except IntegrationError as exc:  # the signing keys could not be read: Teams retries 5xx
        logger.warning("teams bot keys unavailable", extra={"error": str(exc)[:300]})
        return _json(503, {"error": "cannot verify the request right now"})
    kind = str(activity.get("type") or "")
    if kind in QUEUED and activity.get("id") and (activity.get("conversation") or {}).get("id"):
        _enqueue({"kind": "teams", "activity": activity})
        logger.info("teams activity queued", extra={"activity_type": kind})
    return _json(200, None)


# --- the outgoing webhook -----------------------------------------------------------------------
@router.post("/v1/teams/webhook")
def teams_webhook() -> Response[Any]:
    from tocsin.integrations.teams_bot import outgoing_webhook_token, stale, verify_hmac

    started = time.monotonic()
    body = _raw_body()
    options, secret_name = _chat()
    if options is None or not secret_name or body is None:
        return _unauthorized("integrations.chat is not Teams with a secret")
    try:
        key = outgoing_webhook_token(container().adapters.secrets.get(secret_name))
    except Exception as exc:  # IntegrationError; the secret's value is not in it
        return _unauthorized(f"no security token: {str(exc)[:200]}")
    if not verify_hmac(key, body, _header("authorization")):
        return _unauthorized("bad or missing HMAC")
    activity = _activity(body)
    if activity is None:
        return _bad_request("the body is not a JSON activity")
    if stale(activity):
        return _unauthorized("the activity's timestamp is more than 5 minutes off (a replay?)")
    return _json(200, _webhook_answer(activity, started))


def _webhook_answer(activity: dict[str, Any], started: float) -> dict[str, Any]:
    from tocsin.integrations.teams_chatops import command_text, message, render
    from tocsin.services.chatops import COMMANDS, SLASH, help_reply

    text = command_text(activity)
    words = text.split(None, 1)
    name = words[0].lower() if words else "help"
    if name not in COMMANDS or name == "help":
        intro = "" if name == "help" else f"`{SLASH} {name[:40]}` is not a command I know."
        return message(render(help_reply(intro), buttons=False))
    request = _request(activity, text, str(activity.get("id") or ""))
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(_run, lambda: container().chatops.command(request))
    pool.shutdown(wait=False)
    try:
        answer = future.result(timeout=max(0.1, WEBHOOK_BUDGET - (time.monotonic() - started)))
    except FutureTimeout:
        logger.warning("teams webhook answer late", extra={"command": name})
        return {
            "type": "message",
            "text": f"Still working on {SLASH} {name}: Teams waits only 5 seconds. Try again "
            "in a minute (or ask the Tocsin bot, which answers when it is done).",
        }
    logger.info("teams webhook answered", extra={"command": name, "answer": type(answer).__name__})
    return message(render(answer, buttons=False))


def _run(work: Any) -> Any:
    """Run a ChatOps call; failures meant for the person become a Reply, others a short
    "failed" (the outgoing webhook has no queue to retry on)."""
    from tocsin.domain.errors import TocsinError
    from tocsin.integrations.ports import PermanentIntegrationError
    from tocsin.services.chatops import Reply

    try:
        return work()
    except TocsinError as exc:
        return Reply(f"That did not work: {str(exc)[:500]}")
    except PermanentIntegrationError as exc:
        logger.warning("teams chat-ops request failed", extra={"error": str(exc)[:300]})
        return Reply(f"That did not work ({exc.provider} refused it).")
    except Exception:
        logger.exception("teams chat-ops request failed")
        return Reply("That failed, please try again.")


# --- shared -------------------------------------------------------------------------------------
def _channel_id(activity: dict[str, Any]) -> str:
    """The channel as the channel directory knows it: Graph-made incident channels are
    `{team group id}/{channel id}` (ChannelRef.id); chats are their conversation id."""
    from tocsin.integrations.teams_chatops import teams_channel_id

    channel = teams_channel_id(activity)
    if not channel:
        return str((activity.get("conversation") or {}).get("id") or "")
    options, _ = _chat()
    team = getattr(options, "team_id", None)
    return f"{team}/{channel}" if team else channel


def _request(activity: dict[str, Any], text: str, delivery: str) -> Any:
    from tocsin.domain.clock import parse_iso
    from tocsin.integrations.teams_chatops import user_of
    from tocsin.services.chatops import Request

    channel = (activity.get("channelData") or {}).get("channel") or {}
    sender = activity.get("from") or {}
    try:
        at = parse_iso(str(activity.get("timestamp") or "")) if activity.get("timestamp") else None
    except ValueError:
        at = None
    return Request(
        provider=PROVIDER,
        user_id=user_of(activity),
        user_name=str(sender.get("name") or "") if isinstance(sender, dict) else "",
        at=at,
        channel_id=_channel_id(activity),
        channel_name=str(channel.get("name") or "") if isinstance(channel, dict) else "",
        text=text,
        delivery=delivery,
    )


# --- the queue ----------------------------------------------------------------------------------
def _capture(event: Any) -> None:
    """Hand a chat event to the transcript capture (services/capture.py). Teams' files are
    recorded with their links (no download: the bot cannot read SharePoint files)."""
    container().capture.capture(event)


def _incident_event(activity: dict[str, Any]) -> Any | None:
    """The chat event of a message, edit, deletion or reaction in an incident channel (with
    the channel directory's channel id), or None."""
    from dataclasses import replace

    from tocsin.integrations.teams_chatops import teams_chat_event

    event = teams_chat_event(activity)
    if event is None:
        return None
    channel_id = _channel_id(activity)
    if container().chatops.channels.incident_of(PROVIDER, channel_id) is None:
        return None  # not an incident channel: nothing of it is kept
    return replace(event, channel_id=channel_id)


def _addressed(activity: dict[str, Any]) -> bool:
    """A card click, a message in a chat with the bot, or one that @mentions it."""
    from tocsin.integrations.teams_chatops import mentions_bot

    if activity.get("type") != "message":
        return False
    value = activity.get("value")
    if isinstance(value, dict) and isinstance(value.get("action"), str):
        return True
    personal = (activity.get("conversation") or {}).get("conversationType") == "personal"
    return personal or mentions_bot(activity)


def _work(activity: dict[str, Any], delivery: str) -> Any:
    """Run the command, or the card click, the activity carries (it is `_addressed`)."""
    from tocsin.integrations.teams_chatops import command_text

    value = activity.get("value")
    chatops = container().chatops
    if isinstance(value, dict) and isinstance(value.get("action"), str):
        from tocsin.integrations.teams_chatops import DECLARE_SUBMIT

        request = _request(activity, "", delivery)
        if value["action"] == DECLARE_SUBMIT:  # the declare card: its inputs ride along
            from dataclasses import replace

            from tocsin.services.chatops import Reply

            answer = chatops.declare_incident(
                request,
                str(value.get("title") or ""),
                str(value.get("severity") or ""),
                str(value.get("service") or "") or None,
                str(value.get("description") or ""),
                key=f"form-{value.get('form')}" if value.get("form") else None,
            )
            return replace(answer, replace=True) if isinstance(answer, Reply) else answer
        return chatops.act(request, value["action"], str(value.get("value") or ""))
    return chatops.command(_request(activity, command_text(activity), delivery))


def _delivery_id(activity: dict[str, Any]) -> str:
    """What a redelivery of this activity repeats and nothing else does: an edit and a deletion
    carry the id of the message they change (and each edit the same one), so the type, event
    type and timestamp are part of it."""
    conversation = str((activity.get("conversation") or {}).get("id") or "")
    event_type = str((activity.get("channelData") or {}).get("eventType") or "")
    return "#".join(
        (
            conversation,
            str(activity.get("type") or ""),
            event_type,
            str(activity.get("id") or ""),
            str(activity.get("timestamp") or ""),
        )
    )


def record(rec: SQSRecord, job: dict[str, Any]) -> None:
    """One Teams job of the chat-ops queue (the same failure rules as Slack's: a passing
    failure is retried by SQS and told on the last receive; a lasting one is answered)."""
    from tocsin.dal.chatops import DeliveryClaims
    from tocsin.domain.errors import TocsinError
    from tocsin.handlers.chatops import MAX_RECEIVES
    from tocsin.integrations.ports import IntegrationError, PermanentIntegrationError
    from tocsin.services.chatops import Reply

    activity = job.get("activity") or {}
    delivery = _delivery_id(activity)
    addressed = _addressed(activity)
    event = _incident_event(activity)
    if not addressed and event is None:
        return  # chatter in another channel (with RSC the bot hears it all): nothing to do
    table = container().settings.table_name
    if not DeliveryClaims(table).claim(PROVIDER, delivery, rec.message_id):
        logger.info("teams activity already handled", extra={"request": rec.message_id})
        return
    if event is not None:
        _capture(event)
    if not addressed:
        return
    last = int(rec.attributes.approximate_receive_count or 1) >= MAX_RECEIVES
    try:
        answer = _work(activity, rec.message_id)
    except TocsinError as exc:
        logger.warning("chat-ops request refused", extra={"error": str(exc)[:300]})
        answer = Reply(f"That did not work: {str(exc)[:500]}")
    except PermanentIntegrationError as exc:
        logger.warning("chat-ops request failed", extra={"error": str(exc)[:300]})
        answer = Reply(f"That did not work ({exc.provider} refused it; request {rec.message_id}).")
    except Exception as exc:
        logger.exception("chat-ops request failed", extra={"request": rec.message_id})
        if last or (isinstance(exc, IntegrationError) and not exc.retryable):
            _tell(activity, Reply(f"That failed, please try again (request {rec.message_id})."))
        raise
    _tell(activity, answer)
    logger.info("teams chat-ops answered", extra={"answer": type(answer).__name__})


def _tell(activity: dict[str, Any], answer: Any) -> None:
    """Answer through the Bot Connector: replace the clicked card when the answer says so,
    else reply. Teams refusing for good (the bot was removed) is logged and the job ends."""
    from tocsin.integrations.ports import PermanentIntegrationError
    from tocsin.integrations.teams_bot import bot_password, connector
    from tocsin.integrations.teams_chatops import message, render, replaces

    options, secret_name = _chat()
    if options is None or options.bot is None or not secret_name:
        logger.warning("teams answer not sent: no bot is configured")
        return
    try:
        bot = connector(options.bot, bot_password(container().adapters.secrets.get(secret_name)))
        card = message(render(answer))
        clicked = activity.get("replyToId")
        if replaces(answer) and isinstance(activity.get("value"), dict) and clicked:
            bot.update(activity, str(clicked), card)
        else:
            bot.reply(activity, card)
    except PermanentIntegrationError as exc:
        logger.warning("chat-ops answer not delivered", extra={"error": str(exc)[:300]})
