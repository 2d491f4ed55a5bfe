"""Native paging by e-mail through Amazon SES (API v2 `SendEmail`, simple content).

One message per page: the subject `[SEV1] INC-42 <title>`, a plain-text part and an HTML part
with a prominent "Acknowledge" button (the page's signed ack link), the page's body, links and
details. Every value that reaches the HTML is escaped with `html.escape`, and only http(s) URLs
become links, so an alert title cannot inject markup or a `javascript:` link.

The sender (an address or `Name <address>`) must be an SES identity verified for sending (the
address or its domain); in the SES sandbox recipients must be verified too. The recipient's
address is personal data: the `PageRef.to` and every error show it masked (`a•••@example.com`).

SES errors: throttling (TooManyRequests, Throttling), internal errors, 5xx and connection
failures are retryable; rejected messages, unverified MAIL FROM domains, paused or suspended
sending, unknown configuration sets and invalid parameters are permanent.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from email.utils import formataddr, parseaddr
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tocsin.integrations.ports import Link, Page, PageRef, PermanentIntegrationError
from tocsin.integrations.sns_sms import aws_error, bare_title, mask_email, scrub_personal

PROVIDER = "ses"
PORT = "paging"
#: SES is reached with the function's own IAM role: no secret
SECRET_KEYS: tuple[str, ...] = ()

SUBJECT_MAX = 200
BODY_MAX = 10_000
MAX_LINKS = 20
MAX_DETAILS = 50
DETAIL_VALUE_MAX = 1_000
LABEL_MAX = 200
CHARSET = "UTF-8"

_EMAIL = re.compile(
    r"^(?=.{3,254}$)(?=[^@]{1,64}@)"
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$"
)
_CONFIGURATION_SET = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TAG_VALUE = re.compile(r"[^A-Za-z0-9_-]")
_HTTP_URL = re.compile(r"^https?://[^\s<>\"'`]+$")

#: the accent of the severity badge and the button
_SEVERITY_COLOURS = {"SEV1": "#b91c1c", "SEV2": "#c2410c", "SEV3": "#a16207"}
_DEFAULT_COLOUR = "#1d4ed8"

#: SES error codes -> what to do about them (for the timeline)
_SES_HINTS = {
    "MessageRejected": "SES refused the message: is the sender identity verified, and is the "
    "recipient verified while the account is in the SES sandbox?",
    "MailFromDomainNotVerified": "the sender identity's custom MAIL FROM domain is not verified",
    "AccountSendingPaused": "sending is paused for this AWS account",
    "SendingPaused": "sending is paused for this account or configuration set",
    "AccountSuspended": "SES suspended sending for this AWS account",
    "ConfigurationSetDoesNotExist": "the configuration set does not exist",
    "NotFound": "the configuration set (or the sender identity) does not exist",
    "AccessDenied": "the function's role may not ses:SendEmail from this identity",
}


def valid_email(address: str) -> bool:
    """Whether `address` looks like a deliverable e-mail address (`local@domain.tld`)."""
    return bool(_EMAIL.fullmatch(address or ""))


class Options(BaseModel):
    """`paging` options when a method uses `provider: ses`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the From address (`oncall@example.com` or `Tocsin <oncall@example.com>`): an SES
    #: identity verified for sending
    sender: str
    #: an SES configuration set (event publishing, dedicated IPs)
    configuration_set: str | None = None
    #: Reply-To addresses (the on-call team's list, say)
    reply_to: list[str] = Field(default_factory=list)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        name, address = parseaddr(value.strip())
        if not valid_email(address):
            raise ValueError("sender must be an e-mail address, or `Name <address>`")
        # a non-ASCII display name becomes an RFC 2047 encoded word, as SES requires
        return formataddr((name, address), charset="utf-8") if name else address

    @field_validator("configuration_set")
    @classmethod
    def _configuration_set(cls, value: str | None) -> str | None:
        if value is not None and not _CONFIGURATION_SET.fullmatch(value):
            raise ValueError("a configuration set name has 1-64 letters, digits, _ and -")
        return value

    @field_validator("reply_to")
    @classmethod
    def _reply_to(cls, value: list[str]) -> list[str]:
        addresses = [address.strip() for address in value]
        if not all(valid_email(address) for address in addresses):
            raise ValueError("reply_to must hold e-mail addresses")
        return list(dict.fromkeys(addresses))


# --- the message ------------------------------------------------------------------------------


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _line(text: str) -> str:
    """One line: whitespace (newlines included) collapsed."""
    return " ".join((text or "").split())


def _http_url(url: str | None) -> str | None:
    url = (url or "").strip()
    return url if url and _HTTP_URL.fullmatch(url) else None


def subject(page: Page) -> str:
    """`[SEV1] INC-42 <title>` on one line, at most SUBJECT_MAX characters."""
    head = " ".join(p for p in (f"[{_line(page.severity)}]", _line(page.label)) if p)
    return _cut(f"{head} {_line(bare_title(page))}".strip(), SUBJECT_MAX)


def _facts(page: Page) -> list[str]:
    """`SEV1`, `INC-42`, the service and, past the first level, `escalation level 2`."""
    facts = [page.severity, page.label, page.service or ""]
    if page.level > 1:
        facts.append(f"escalation level {page.level}")
    return [_line(value) for value in facts if _line(value)]


def _links(page: Page) -> list[Link]:
    return [link for link in page.links if _http_url(link.url)][:MAX_LINKS]


def _details(page: Page) -> list[tuple[str, str]]:
    return [
        (_cut(_line(key), LABEL_MAX), _cut(str(value).strip(), DETAIL_VALUE_MAX))
        for key, value in page.details[:MAX_DETAILS]
        if _line(key) or str(value).strip()
    ]


def text_body(page: Page) -> str:
    """The plain-text part."""
    lines = [" · ".join(_facts(page)), _line(page.title), ""]
    ack = _http_url(page.ack_url)
    if ack:
        lines += [f"Acknowledge: {ack}", ""]
    body = _cut(page.body.strip(), BODY_MAX) if page.body else ""
    if body:
        lines += [body, ""]
    links = _links(page)
    if links:
        lines.append("Links")
        lines += [f"  {_cut(_line(link.label), LABEL_MAX) or 'Link'}: {link.url}" for link in links]
        lines.append("")
    details = _details(page)
    if details:
        lines.append("Details")
        lines += [f"  {key}: {_line(value)}" for key, value in details]
        lines.append("")
    lines.append(_footer(page))
    return "\n".join(lines)


def _footer(page: Page) -> str:
    level = f" (escalation level {page.level})" if page.level > 1 else ""
    return f"You are receiving this page from Tocsin because you are on call{level}."


def html_body(page: Page) -> str:
    """The HTML part: inline styles only (mail clients drop style sheets), every value
    escaped, only http(s) links."""

    def esc(value: str) -> str:
        return html.escape(value, quote=True)

    colour = _SEVERITY_COLOURS.get(page.severity.strip().upper(), _DEFAULT_COLOUR)
    facts = " &middot; ".join(esc(value) for value in _facts(page))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(subject(page))}</title></head>",
        '<body style="margin:0;padding:0;background:#f4f4f5;">',
        '<div style="max-width:600px;margin:0 auto;padding:24px;background:#ffffff;'
        "font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
        'color:#18181b;line-height:1.5;">',
        f'<p style="margin:0 0 8px;font-size:13px;font-weight:bold;color:{colour};">{facts}</p>',
        f'<h1 style="margin:0 0 20px;font-size:20px;">{esc(_line(page.title))}</h1>',
    ]
    ack = _http_url(page.ack_url)
    if ack:
        parts.append(
            f'<p style="margin:0 0 24px;"><a href="{esc(ack)}" style="display:inline-block;'
            f"padding:12px 28px;background:{colour};color:#ffffff;font-size:16px;"
            'font-weight:bold;text-decoration:none;border-radius:6px;">Acknowledge</a></p>'
        )
    if page.body and page.body.strip():
        parts.append(
            '<p style="margin:0 0 20px;white-space:pre-wrap;">'
            f"{esc(_cut(page.body.strip(), BODY_MAX))}</p>"
        )
    links = _links(page)
    if links:
        parts.append('<h2 style="margin:0 0 8px;font-size:15px;">Links</h2>')
        parts.append('<ul style="margin:0 0 20px;padding-left:20px;">')
        parts += [
            f'<li><a href="{esc(link.url)}" style="color:#1d4ed8;">'
            f"{esc(_cut(_line(link.label), LABEL_MAX) or link.url)}</a></li>"
            for link in links
        ]
        parts.append("</ul>")
    details = _details(page)
    if details:
        parts.append('<h2 style="margin:0 0 8px;font-size:15px;">Details</h2>')
        parts.append('<table style="margin:0 0 20px;border-collapse:collapse;font-size:14px;">')
        parts += [
            '<tr><th style="text-align:left;padding:4px 12px 4px 0;vertical-align:top;">'
            f'{esc(key)}</th><td style="padding:4px 0;white-space:pre-wrap;">{esc(value)}</td>'
            "</tr>"
            for key, value in details
        ]
        parts.append("</table>")
    parts.append(
        f'<p style="margin:24px 0 0;font-size:12px;color:#71717a;">{esc(_footer(page))}</p>'
    )
    parts.append("</div></body></html>")
    return "\n".join(parts)


# --- adapter ----------------------------------------------------------------------------------


class SesEmail:
    """The paging port by e-mail through SES v2. `ses` is a boto3 `sesv2` client (default: the
    shared one of `tocsin.dal.aws`, looked up at each send)."""

    provider = PROVIDER

    def __init__(self, options: Options, ses: Any = None) -> None:
        self.options = options
        self._ses = ses

    def _client(self) -> Any:
        if self._ses is not None:
            return self._ses
        from tocsin.dal.aws import client

        return client("sesv2")

    def request(self, page: Page, to: str) -> dict[str, Any]:
        """The SendEmail parameters for `page` to `to`."""
        params: dict[str, Any] = {
            "FromEmailAddress": self.options.sender,
            "Destination": {"ToAddresses": [to]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": subject(page), "Charset": CHARSET},
                    "Body": {
                        "Text": {"Data": text_body(page), "Charset": CHARSET},
                        "Html": {"Data": html_body(page), "Charset": CHARSET},
                    },
                }
            },
        }
        if self.options.reply_to:
            params["ReplyToAddresses"] = list(self.options.reply_to)
        if self.options.configuration_set:
            params["ConfigurationSetName"] = self.options.configuration_set
            incident = _TAG_VALUE.sub("_", page.incident_id)[:256]
            if incident:  # for the configuration set's event destinations
                params["EmailTags"] = [{"Name": "tocsin_incident", "Value": incident}]
        return params

    # --- PagingPort ---------------------------------------------------------------------------
    def send(self, page: Page, to: str | None) -> PageRef:
        address = (to or "").strip()
        if not valid_email(address):
            raise PermanentIntegrationError(
                PROVIDER, "send: the recipient is not an e-mail address (local@domain)"
            )
        masked = mask_email(address)

        def scrub(message: str) -> str:
            return scrub_personal(message.replace(address, masked))

        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client().send_email(**self.request(page, address))
        except (ClientError, BotoCoreError) as exc:
            raise aws_error(PROVIDER, f"SendEmail to {masked}", exc, _SES_HINTS, scrub) from None
        message_id = answer.get("MessageId") if isinstance(answer, dict) else None
        if not message_id:
            raise PermanentIntegrationError(PROVIDER, "SendEmail: answer without MessageId")
        return PageRef(PROVIDER, str(message_id), masked)

    def acknowledge(self, page: Page) -> None:
        """A sent e-mail cannot be taken back: nothing to do."""

    def resolve(self, page: Page) -> None:
        """Nothing to do: the acknowledge link stops working once the escalation ends."""


def build(options: Options, secret: Mapping[str, str]) -> SesEmail:
    return SesEmail(options)
