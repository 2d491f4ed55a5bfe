"""Slack chat-ops: `POST /v1/slack/commands`, `/v1/slack/interactions`, `/v1/slack/events`, and
the queue. (Microsoft Teams' endpoints and jobs live in handlers/teams_chatops.py, included
here.)

One function, two event shapes:
- HTTP (API Gateway): verify the request's Slack signature first (401 and nothing else
  happens when it is bad, missing or older than 5 minutes), then acknowledge at once. `help`
  and unknown commands are answered right in the acknowledgement; everything else is put on
  the chat-ops queue and acknowledged with a short "working on it".
- Events API: `url_verification` is answered with its challenge; an `event_callback` is put
  on the queue once per `event_id` (Slack retries with `X-Slack-Retry-Num`: a retry of a
  queued event is acknowledged and dropped) and acknowledged with an empty 200.
- SQS (the queue's event source mapping): events are captured onto the incident's timeline
  (services/capture.py; idempotent, so two queued copies append once). Otherwise: do the work (look the incident up, check who may,
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
#: an error shown under a modal's input
MAX_MODAL_ERROR = 300


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
    if name == "declare" and len(words) == 1:
        return _open_declare_form(form)
    _enqueue(
        {
            "kind": "command",
            "user_id": form.get("user_id", ""),
            "user_name": form.get("user_name", ""),
            "channel_id": form.get("channel_id", ""),
            "channel_name": form.get("channel_name", ""),
            "text": text,
            "response_url": form.get("response_url", ""),
            "at": _now(),
        }
    )
    logger.info("slack command queued", extra={"command": name})
    return _ok({"response_type": "ephemeral", "text": f"Working on `/incident {name}`…"})


def _now() -> str:
    from tocsin.domain.clock import iso, utcnow

    return iso(utcnow())


def _open_declare_form(form: dict[str, str]) -> Response[Any]:
    """`/incident declare` alone: open the modal now (Slack's trigger_id lives 3 seconds).
    The channel and the command's response_url ride along in private_metadata, so the
    submission's answer reaches the person where they typed the command."""
    from tocsin.integrations.slack_chatops import declare_view
    from tocsin.services.chatops import SLASH

    c = container()
    metadata = json.dumps(
        {
            "channel_id": form.get("channel_id", ""),
            "channel_name": form.get("channel_name", ""),
            "response_url": form.get("response_url", ""),
        }
    )
    chat = c.adapters.get("chat")
    opener = getattr(chat, "open_view", None)
    trigger = form.get("trigger_id", "")
    fallback = f"or declare in one line: `{SLASH} declare SEV3 [service] <title>`."
    if opener is None or not trigger:
        return _ok({"response_type": "ephemeral", "text": f"I cannot open a form here: {fallback}"})
    try:
        opener(trigger, declare_view(c.chatops.declare_form(), metadata))
    except Exception as exc:  # IntegrationError (the message never holds the token)
        logger.warning("declare form not opened", extra={"error": str(exc)[:300]})
        return _ok(
            {"response_type": "ephemeral", "text": f"I could not open the form ({exc}); {fallback}"}
        )
    logger.info("slack declare form opened")
    return _ok()


def _view_submission(payload: dict[str, Any]) -> Response[Any]:
    """The declare modal was submitted: refuse bad fields inside the modal (Slack shows the
    errors under the inputs), else queue the declaration and close the modal."""
    from tocsin.integrations.slack_chatops import (
        DECLARE_CALLBACK,
        SERVICE,
        SEVERITY,
        TITLE,
        submitted_fields,
    )

    view = payload.get("view") or {}
    if not isinstance(view, dict) or view.get("callback_id") != DECLARE_CALLBACK:
        return _ok()
    config = container().config
    fields = submitted_fields(view)
    errors: dict[str, str] = {}
    if not fields.get(TITLE):
        errors[TITLE] = "A title, please."
    if fields.get(SEVERITY) not in config.severity_names:
        errors[SEVERITY] = f"One of {', '.join(config.severity_names)}."
    if fields.get(SERVICE) and config.service(fields[SERVICE]) is None:
        errors[SERVICE] = "Not a configured service."
    if not errors:  # who may declare at this severity: said under the input, nothing lost
        from tocsin.services.chatops import Request

        user = payload.get("user") or {}
        denied = container().chatops.declare_denied(
            Request(provider=PROVIDER, user_id=str(user.get("id") or "")),
            fields[SEVERITY],
            fields.get(SERVICE),
        )
        if denied:
            errors[SEVERITY] = denied[:MAX_MODAL_ERROR]
    if errors:
        return _ok({"response_action": "errors", "errors": errors})
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        metadata = {}
    metadata = metadata if isinstance(metadata, dict) else {}
    user = payload.get("user") or {}
    _enqueue(
        {
            "kind": "declare",
            "fields": fields,
            "view_id": str(view.get("id") or ""),
            "user_id": str(user.get("id") or ""),
            "user_name": str(user.get("username") or user.get("name") or ""),
            "channel_id": str(metadata.get("channel_id") or ""),
            "channel_name": str(metadata.get("channel_name") or ""),
            "response_url": str(metadata.get("response_url") or ""),
            "at": _now(),
        }
    )
    logger.info("slack declaration queued")
    return _ok()


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
    if isinstance(payload, dict) and payload.get("type") == "view_submission":
        return _view_submission(payload)
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return _ok()  # nothing of ours
    from tocsin.integrations.slack import REPEAT

    actions = [a for a in payload.get("actions") or [] if isinstance(a, dict)]
    ours = [a for a in actions if str(a.get("action_id") or "").split(REPEAT)[0] in ACTIONS]
    if not ours:
        return _ok()
    action = {**ours[0], "action_id": str(ours[0]["action_id"]).split(REPEAT)[0]}
    chosen = action.get("selected_option")
    value = chosen.get("value") if isinstance(chosen, dict) else action.get("value")
    user = payload.get("user") or {}
    _enqueue(
        {
            "kind": "action",
            "action": action["action_id"],
            "value": str(value or ""),
            "user_id": str(user.get("id") or ""),
            "user_name": str(user.get("username") or user.get("name") or ""),
            "channel_id": str((payload.get("channel") or {}).get("id") or ""),
            "response_url": str(payload.get("response_url") or ""),
            "at": _now(),
        }
    )
    logger.info("slack action queued", extra={"action": action["action_id"]})
    return _ok()


def _bad_request(error: str) -> Response[Any]:
    return Response(
        status_code=400, content_type=content_types.APPLICATION_JSON, body={"error": error}
    )


#: what of an event_callback envelope is queued (not the deprecated verification `token`)
_ENVELOPE_KEYS = ("type", "team_id", "api_app_id", "event", "event_id", "event_time")


@app.post("/v1/slack/events")
def slack_event() -> Response[Any]:
    ok, body = _verified()
    if not ok:
        return _unauthorized()
    try:
        envelope = json.loads(body)
    except ValueError:
        return _bad_request("body is not JSON")
    if not isinstance(envelope, dict):
        return _bad_request("body is not a JSON object")
    if envelope.get("type") == "url_verification":
        challenge = envelope.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            return _bad_request("url_verification without a challenge")
        return _ok({"challenge": challenge})
    if envelope.get("type") != "event_callback":
        return _ok()  # e.g. app_rate_limited: nothing to capture
    event_id = envelope.get("event_id")
    if not isinstance(event_id, str) or not event_id or not isinstance(envelope.get("event"), dict):
        return _bad_request("event_callback without event_id or event")
    headers = {str(k).lower(): str(v) for k, v in (app.current_event.headers or {}).items()}
    retry = {
        "retry": headers.get("x-slack-retry-num"),
        "reason": headers.get("x-slack-retry-reason"),
    }
    receipts = container().chat_event_receipts
    if not receipts.accept(PROVIDER, event_id):
        logger.info("slack event already queued", extra=retry)
        return _ok()
    _enqueue({"kind": "event", "envelope": {k: envelope.get(k) for k in _ENVELOPE_KEYS}})
    receipts.queued(PROVIDER, event_id)
    logger.info("slack event queued", extra={"type": envelope["event"].get("type"), **retry})
    return _ok()


# --- the queue ---------------------------------------------------------------------------------
def _answer(job: dict[str, Any], delivery: str) -> Any:
    from tocsin.domain.clock import parse_iso
    from tocsin.services.chatops import Request

    chatops = container().chatops
    at = job.get("at")
    request = Request(
        provider=PROVIDER,
        user_id=str(job.get("user_id") or ""),
        user_name=str(job.get("user_name") or ""),
        channel_id=str(job.get("channel_id") or ""),
        channel_name=str(job.get("channel_name") or ""),
        text=str(job.get("text") or ""),
        delivery=delivery,
        at=parse_iso(at) if isinstance(at, str) and at else None,
    )
    if job.get("kind") == "command":
        return chatops.command(request)
    if job.get("kind") == "declare":
        fields = job.get("fields") or {}
        return chatops.declare_incident(
            request,
            str(fields.get("title") or ""),
            str(fields.get("severity") or ""),
            fields.get("service") or None,
            str(fields.get("description") or ""),
            key=str(job.get("view_id") or "") or None,
        )
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


def _capture(job: dict[str, Any], last: bool) -> None:
    """An Events API event onto its incident's timeline (if its channel is an incident's)."""
    from tocsin.integrations.slack_events import chat_event

    envelope = job.get("envelope") or {}
    event = chat_event(envelope)
    if event is None:
        kind = (envelope.get("event") or {}).get("type")
        logger.info("slack event not captured", extra={"type": kind})
        return
    container().capture.capture(event, last_attempt=last)


def record_handler(record: SQSRecord) -> None:
    from tocsin.domain.errors import TocsinError
    from tocsin.integrations.ports import IntegrationError, PermanentIntegrationError
    from tocsin.services.chatops import Reply

    job = json.loads(record.body)
    if job.get("kind") == "teams":
        teams_chatops.record(record, job)
        return
    last = int(record.attributes.approximate_receive_count or 1) >= MAX_RECEIVES
    if job.get("kind") == "event":  # nobody to answer: a failure is retried, then kept (DLQ)
        try:
            _capture(job, last)
        except Exception:  # the errors name fields and files, never message text
            logger.exception("chat event not captured", extra={"request": record.message_id})
            raise
        return
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
