"""Slack chat-ops: `POST /v1/slack/commands`, `POST /v1/slack/interactions`, and the queue.
(Microsoft Teams' endpoints and jobs live in handlers/teams_chatops.py, included here.)

One function, two event shapes:
- HTTP (API Gateway): verify the request's Slack signature first (401 and nothing else
  happens when it is bad, missing or older than 5 minutes), then acknowledge at once. `help`
  and unknown commands are answered right in the acknowledgement; everything else is put on
  the chat-ops queue and acknowledged with a short "working on it".
- SQS (the queue's event source mapping): do the work (look the incident up, check who may,
  store the preview, publish) and answer through the request's `response_url`. Partial batch
  responses: a record that fails for a passing reason (AWS or Slack unavailable) is retried by
  SQS and lands in the dead-letter queue after the configured receives; one that fails for
  good is answered with the reason and not retried.

Secrets (the signing secret, the bot token) and request bodies are never logged; neither is
the response_url (it lets anyone post as the app for 30 minutes).
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from tocsin.handlers import teams_chatops
from tocsin.handlers.container import container
from tocsin.handlers.http import new_resolver

logger = Logger(service="tocsin")
app = new_resolver(validation=False)
app.include_router(teams_chatops.router)  # /v1/teams/messages, /v1/teams/webhook
processor = BatchProcessor(event_type=EventType.SQS)
PROVIDER = "slack"
#: receives after which a failing job is answered with its error (SQS then moves it to the
#: dead-letter queue; infra/chatops.py sets the same count)
MAX_RECEIVES = 3


def _ok(body: dict[str, Any] | None = None) -> Response[Any]:
    if body is None:  # Slack wants an empty 200 for interactions it should not show
        return Response(status_code=200, content_type="text/plain", body="")
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


def _unauthorized() -> Response[Any]:
    return Response(
        status_code=401,
        content_type=content_types.APPLICATION_JSON,
        body={"error": "invalid or missing Slack request signature"},
    )


def _verified() -> tuple[bool, bytes]:
    """The raw body, and whether Slack signed it (with the chat integration's
    `signing_secret`) less than 5 minutes ago."""
    from tocsin.integrations import slack

    event = app.current_event
    raw = event.get("body") or ""
    try:  # the bytes Slack signed (API Gateway base64-encodes some bodies)
        body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
    except ValueError:
        return False, b""
    c = container()
    chat = c.config.integrations.chat
    if chat.provider != PROVIDER or not chat.secret:
        logger.warning("slack request refused: integrations.chat is not slack with a secret")
        return False, body
    try:
        secret = slack.signing_secret(c.adapters.secrets.get(chat.secret))
    except Exception as exc:  # IntegrationError: a missing key; the secret's value is not in it
        logger.warning("slack request refused: no signing secret", extra={"error": str(exc)})
        return False, body
    ok = slack.verify_request(secret, body, dict(event.headers or {}))
    if not ok:
        logger.warning("slack request refused: bad, missing or stale signature")
    return ok, body


def _enqueue(job: dict[str, Any]) -> None:
    from tocsin.dal.aws import client

    url = container().settings.chatops_queue_url
    if not url:
        raise RuntimeError("TOCSIN_CHATOPS_QUEUE_URL is not set: chat-ops has no queue")
    client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(job))


@app.post("/v1/slack/commands")
def slack_command() -> Response[Any]:
    ok, body = _verified()
    if not ok:
        return _unauthorized()
    from tocsin.integrations.slack_chatops import render
    from tocsin.services.chatops import COMMANDS, help_reply

    form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    text = form.get("text", "")
    words = text.split(None, 1)
    name = words[0].lower() if words else "help"
    if name not in COMMANDS or name == "help":
        intro = "" if name == "help" else f"`/incident {name[:40]}` is not a command I know."
        return _ok(render(help_reply(intro)))
    _enqueue(
        {
            "kind": "command",
            "user_id": form.get("user_id", ""),
            "channel_id": form.get("channel_id", ""),
            "channel_name": form.get("channel_name", ""),
            "text": text,
            "response_url": form.get("response_url", ""),
        }
    )
    logger.info("slack command queued", extra={"command": name})
    return _ok({"response_type": "ephemeral", "text": f"Working on `/incident {name}`…"})


@app.post("/v1/slack/interactions")
def slack_interaction() -> Response[Any]:
    ok, body = _verified()
    if not ok:
        return _unauthorized()
    from tocsin.services.chatops import ACTIONS

    form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        payload = json.loads(form.get("payload") or "{}")
    except ValueError:
        return Response(
            status_code=400,
            content_type=content_types.APPLICATION_JSON,
            body={"error": "payload is not JSON"},
        )
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return _ok()  # nothing of ours (view submissions etc. come with later commands)
    actions = [a for a in payload.get("actions") or [] if isinstance(a, dict)]
    ours = [a for a in actions if a.get("action_id") in ACTIONS]
    if not ours:
        return _ok()
    action = ours[0]
    _enqueue(
        {
            "kind": "action",
            "action": action["action_id"],
            "value": str(action.get("value") or ""),
            "user_id": str((payload.get("user") or {}).get("id") or ""),
            "channel_id": str((payload.get("channel") or {}).get("id") or ""),
            "response_url": str(payload.get("response_url") or ""),
        }
    )
    logger.info("slack action queued", extra={"action": action["action_id"]})
    return _ok()


# --- the queue ---------------------------------------------------------------------------------
def _answer(job: dict[str, Any], delivery: str) -> Any:
    from tocsin.services.chatops import Request

    chatops = container().chatops
    request = Request(
        provider=PROVIDER,
        user_id=str(job.get("user_id") or ""),
        channel_id=str(job.get("channel_id") or ""),
        channel_name=str(job.get("channel_name") or ""),
        text=str(job.get("text") or ""),
        delivery=delivery,
    )
    if job.get("kind") == "command":
        return chatops.command(request)
    return chatops.act(request, str(job.get("action") or ""), str(job.get("value") or ""))


def _post(job: dict[str, Any], message: dict[str, Any]) -> None:
    from tocsin.integrations import slack

    options = slack.Options.model_validate(container().config.integrations.chat.options)
    slack.post_response(options, str(job.get("response_url") or ""), message)


def _tell(job: dict[str, Any], answer: Any) -> None:
    """Answer through the response_url. Slack refusing the message for good (an expired URL,
    blocks it rejects) is logged and the job ends: retrying would redo the work and still
    not reach the person. An outage (429/5xx) is raised: SQS retries the job, and a redone
    Publish shows the result it already had."""
    from tocsin.integrations.ports import PermanentIntegrationError
    from tocsin.integrations.slack_chatops import render

    try:
        _post(job, render(answer))
    except PermanentIntegrationError as exc:
        logger.warning("chat-ops answer not delivered", extra={"error": str(exc)[:300]})


def record_handler(record: SQSRecord) -> None:
    from tocsin.domain.errors import TocsinError
    from tocsin.integrations.ports import IntegrationError, PermanentIntegrationError
    from tocsin.services.chatops import Reply

    job = json.loads(record.body)
    if job.get("kind") == "teams":
        teams_chatops.record(record, job)
        return
    last = int(record.attributes.approximate_receive_count or 1) >= MAX_RECEIVES
    try:
        answer = _answer(job, record.message_id)
    except TocsinError as exc:  # for good, and meant for the person: say why
        logger.warning("chat-ops request refused", extra={"error": str(exc)[:300]})
        answer = Reply(f"That did not work: {str(exc)[:500]}")
    except PermanentIntegrationError as exc:  # for good; the detail stays in the log
        logger.warning("chat-ops request failed", extra={"error": str(exc)[:300]})
        answer = Reply(
            f"That did not work ({exc.provider} refused it; request {record.message_id})."
        )
    except Exception as exc:
        logger.exception("chat-ops request failed", extra={"request": record.message_id})
        if last or (isinstance(exc, IntegrationError) and not exc.retryable):
            _tell(job, Reply(f"That failed, please try again (request {record.message_id})."))
        raise
    _tell(job, answer)
    logger.info(
        "chat-ops answered", extra={"kind": job.get("kind"), "answer": type(answer).__name__}
    )


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
        return dict(response)
    return app.resolve(event, context)
