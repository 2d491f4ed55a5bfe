"""Native paging by SMS through Amazon SNS (`Publish` with `PhoneNumber`).

One short, actionable text per page: `[Tocsin] SEV1 INC-42 checkout: <title>. Ack: <ack_url>`.
It is cut to fit one SMS segment when possible (160 GSM-7 characters; 70 when the text needs
UCS-2): the title is what gets cut, never the acknowledge link. Typographic characters that
would force UCS-2 (ellipsis, dashes, curly quotes and the like) are replaced with their GSM-7
equivalents first.

The recipient must be an E.164 number (`+` then 8-15 digits; spaces, dots, dashes and
parentheses are ignored). Phone numbers are personal data: the `PageRef.to` and every error
message show them masked (`+1555•••4567`), including numbers a vendor message echoes.

SNS errors: throttling, internal errors, KMS throttling, 5xx and connection failures are
retryable; everything else (invalid parameters, opted-out numbers, missing permissions, the SMS
sandbox) is permanent. SNS has no idempotency key for SMS: the response workflow sends one page
per escalation level and step, and the adapter does not retry on its own (the boto3 client's
standard retries aside).

The AWS error mapping and the masking helpers here are shared with the SES e-mail adapter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tocsin.integrations.ports import (
    IntegrationError,
    Page,
    PageRef,
    PermanentIntegrationError,
    RetryableIntegrationError,
)

PROVIDER = "sns"
PORT = "paging"
#: SNS is reached with the function's own IAM role: no secret
SECRET_KEYS: tuple[str, ...] = ()

# --- SMS limits -------------------------------------------------------------------------------
#: one segment: 160 GSM-7 septets, or 70 UCS-2 code units
GSM_SEGMENT = 160
UCS2_SEGMENT = 70
#: the title keeps at least this many characters, even when that takes a second segment
MIN_TITLE = 20
#: SNS refuses SMS messages above 1,600 bytes
MAX_SMS_BYTES = 1600
#: pieces of the head (incident id, service) are cut to this many characters
MAX_HEAD_PART = 40

#: the GSM 03.38 default alphabet (without the escape character) and its extension table
#: (each extension character takes two septets)
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = frozenset("^{}\\[~]|€\f")
#: characters that would force UCS-2 for no good reason -> GSM-7 equivalents
_GSM_REPLACEMENTS = str.maketrans(
    {
        "\u2026": "...",  # horizontal ellipsis
        "\u2010": "-",  # hyphen
        "\u2011": "-",  # non-breaking hyphen
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2212": "-",  # minus sign
        "\u2018": "'",  # left single quotation mark
        "\u2019": "'",  # right single quotation mark
        "\u201a": "'",  # single low-9 quotation mark
        "\u2032": "'",  # prime
        "\u201c": '"',  # left double quotation mark
        "\u201d": '"',  # right double quotation mark
        "\u201e": '"',  # double low-9 quotation mark
        "\u2033": '"',  # double prime
        "\u2022": "-",  # bullet
        "\u00b7": "-",  # middle dot
        "\u00a0": " ",  # no-break space
        "\u202f": " ",  # narrow no-break space
        "\t": " ",
    }
)

_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_PHONE_SEPARATORS = re.compile(r"[\s().\-]")
_SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]{1,11}$")
#: anything that looks like a phone number or an e-mail address inside a vendor's message
_PHONE_ANYWHERE = re.compile(r"\+?[0-9][0-9\s().\-]{6,}[0-9]")
_EMAIL_ANYWHERE = re.compile(r"[^\s@<>\"'(),;:\[\]]+@[^\s@<>\"'(),;:\[\]]+\.[A-Za-z]{2,}")

#: AWS error codes (without an "Exception" suffix) that mean "try again later"
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "Throttled",
        "ThrottlingException",
        "TooManyRequests",
        "RequestThrottled",
        "SlowDown",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalService",
        "ServiceUnavailable",
        "KMSThrottling",
        "RequestTimeout",
    }
)
#: SNS error codes -> what to do about them (for the timeline)
_SNS_HINTS = {
    "OptedOut": "the number opted out of SMS from this AWS account",
    "AuthorizationError": "the function's role may not sns:Publish to phone numbers, or the "
    "account is in the SMS sandbox and the number is not verified",
    "InvalidParameter": "SNS refused a parameter (the number, the sender ID or the "
    "origination number)",
    "ParameterValueInvalid": "SNS refused a parameter value",
    "KMSAccessDenied": "the function's role may not use the KMS key",
}


class Options(BaseModel):
    """`paging` options when a method uses `provider: sns`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: alphanumeric sender ID (up to 11 letters and digits, at least one letter), where the
    #: destination country supports them
    sender_id: str | None = None
    #: the number (E.164) pages are sent from: an origination number of the account
    origination_number: str | None = Field(default=None, pattern=_E164.pattern)
    #: Transactional: highest reliability (pages); Promotional: cheapest
    sms_type: Literal["Transactional", "Promotional"] = "Transactional"
    #: the most (USD) one SMS may cost; SNS does not send it otherwise
    max_price: float | None = Field(default=None, gt=0, le=10)

    @field_validator("sender_id")
    @classmethod
    def _sender_id(cls, value: str | None) -> str | None:
        if value is not None and not _SENDER_ID.fullmatch(value):
            raise ValueError(
                "a sender ID has 1-11 letters and digits (at least one letter, no spaces)"
            )
        return value


# --- personal data ----------------------------------------------------------------------------


def normalize_phone(value: str) -> str | None:
    """`value` as E.164 (`+` and 8-15 digits, first digit not 0) with visual separators
    (spaces, dots, dashes, parentheses) removed, or None when it is not one."""
    number = _PHONE_SEPARATORS.sub("", value or "")
    return number if _E164.fullmatch(number) else None


def mask_phone(number: str) -> str:
    """`+15550104567` -> `+1555•••4567`: the country code and area, never the whole number."""
    digits = re.sub(r"[^0-9]", "", number)
    if len(digits) < 6:
        return "•••"
    last = 4 if len(digits) >= 10 else 2
    first = max(1, min(4, len(digits) - last - 3))
    plus = "+" if number.strip().startswith("+") else ""
    return f"{plus}{digits[:first]}•••{digits[-last:]}"


def mask_email(address: str) -> str:
    """`alice@example.com` -> `a•••@example.com`."""
    local, at, domain = (address or "").strip().rpartition("@")
    if not at or not local:
        return "•••"
    return f"{local[0]}•••@{domain}"


def scrub_personal(text: str) -> str:
    """Phone numbers and e-mail addresses anywhere in `text`, masked."""
    text = _EMAIL_ANYWHERE.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE_ANYWHERE.sub(lambda m: mask_phone(m.group(0)), text)


# --- AWS errors -------------------------------------------------------------------------------


def aws_error(
    provider: str,
    operation: str,
    exc: Exception,
    hints: Mapping[str, str] | None = None,
    scrub: Callable[[str], str] = scrub_personal,
) -> IntegrationError:
    """A botocore error as the ports' error: throttling, internal errors, 5xx and connection
    failures retryable, the rest permanent. The message names the operation and the AWS error
    code, with a hint when one is known; personal data in the vendor's text is masked."""
    from botocore.exceptions import (
        ClientError,
        NoCredentialsError,
        NoRegionError,
        ParamValidationError,
        PartialCredentialsError,
    )

    if isinstance(exc, ClientError):
        response: Mapping[str, Any] = exc.response
        error: Mapping[str, Any] = response.get("Error") or {}
        metadata: Mapping[str, Any] = response.get("ResponseMetadata") or {}
        code = str(error.get("Code") or "")
        short = code.removesuffix("Exception")
        raw_status = metadata.get("HTTPStatusCode")
        status = raw_status if isinstance(raw_status, int) else None
        text = scrub(str(error.get("Message") or ""))[:300]
        message = f"{operation} -> {code or status or 'error'}" + (f": {text}" if text else "")
        if short in RETRYABLE_CODES or code in RETRYABLE_CODES or status == 429:
            return RetryableIntegrationError(provider, message, status)
        if status is not None and status >= 500:
            return RetryableIntegrationError(provider, message, status)
        hint = (hints or {}).get(short)
        if hint:
            message += f" ({hint})"
        return PermanentIntegrationError(provider, message, status)
    if isinstance(
        exc, NoCredentialsError | PartialCredentialsError | NoRegionError | ParamValidationError
    ):
        return PermanentIntegrationError(
            provider, scrub(f"{operation}: {type(exc).__name__}: {exc}")[:400]
        )
    # connection refused / reset, timeouts, endpoint unreachable, …
    return RetryableIntegrationError(
        provider, scrub(f"{operation}: {type(exc).__name__}: {exc}")[:400]
    )


# --- the text ---------------------------------------------------------------------------------


def is_gsm(text: str) -> bool:
    """Whether `text` can be sent in the GSM-7 alphabet (160 characters per segment)."""
    return all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text)


def sms_units(text: str, gsm: bool | None = None) -> int:
    """What `text` takes of a segment: GSM-7 septets (extension characters count two), or
    UCS-2 code units (characters outside the BMP count two)."""
    if gsm is None:
        gsm = is_gsm(text)
    if gsm:
        return sum(2 if ch in GSM_EXTENDED else 1 for ch in text)
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def _clean(text: str) -> str:
    """One line, GSM-7 friendly where it costs nothing, no control characters."""
    text = text.translate(_GSM_REPLACEMENTS)
    text = "".join(
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or not unicodedata.category(ch).startswith("C")
    )
    return " ".join(text.split())


def _cut_units(text: str, budget: int, gsm: bool) -> str:
    """`text` cut to at most `budget` units, ending in ... (GSM-7) or … (UCS-2) when cut."""
    if sms_units(text, gsm) <= budget:
        return text
    marker = "..." if gsm else "…"
    room = budget - sms_units(marker, gsm)
    out: list[str] = []
    used = 0
    for ch in text:
        size = sms_units(ch, gsm)
        if used + size > room:
            break
        out.append(ch)
        used += size
    return "".join(out).rstrip() + marker


def bare_title(page: Page) -> str:
    """The page title without a leading `SEV1 `, `SEV1 checkout: ` or `checkout: ` that the
    text already shows (Page titles read "SEV1 checkout: p99 latency above 2s")."""
    title = " ".join(page.title.split())
    severity = " ".join(page.severity.split())
    prefixes = []
    if page.service:
        prefixes += [f"{severity} {page.service}:", f"{page.service}:"]
    if severity:
        prefixes += [f"{severity}:", f"{severity} -", f"{severity} "]
    for prefix in prefixes:
        if title.lower().startswith(prefix.lower()):
            rest = title[len(prefix) :].strip()
            if rest:
                return rest
    return title


def sms_text(page: Page) -> str:
    """`[Tocsin] SEV1 INC-42 checkout: <title>. Ack: <ack_url>`, in one segment when the title
    can keep at least MIN_TITLE characters; the ack link is never cut."""
    head_parts = [_clean(part)[:MAX_HEAD_PART] for part in (page.severity, page.label) if part]
    head = "[Tocsin] " + " ".join(p for p in head_parts if p)
    if page.service:
        head += " " + _clean(page.service)[:MAX_HEAD_PART]
    head += ": "
    title = _clean(bare_title(page)) or "incident"
    tail = f" Ack: {page.ack_url.strip()}" if page.ack_url else ""

    def whole(title_text: str) -> str:
        ends = title_text.endswith((".", "!", "?", "…"))
        return head + title_text + ("" if ends or not tail else ".") + tail

    text = whole(title)
    gsm = is_gsm(text)
    segment = GSM_SEGMENT if gsm else UCS2_SEGMENT
    if sms_units(text, gsm) <= segment:
        return text
    fixed = sms_units(whole(""), gsm) - (1 if tail else 0)  # the period comes back below
    budget = max(MIN_TITLE, segment - fixed - (1 if tail else 0))
    cut = _cut_units(title, budget, gsm)
    return whole(cut)


# --- adapter ----------------------------------------------------------------------------------


class SnsSms:
    """The paging port by SMS through SNS. `sns` is a boto3 SNS client (default: the shared
    one of `tocsin.dal.aws`, looked up at each send so tests and local mode can swap it)."""

    provider = PROVIDER

    def __init__(self, options: Options, sns: Any = None) -> None:
        self.options = options
        self._sns = sns

    def _client(self) -> Any:
        if self._sns is not None:
            return self._sns
        from tocsin.dal.aws import client

        return client("sns")

    def attributes(self) -> dict[str, dict[str, str]]:
        """The SMS MessageAttributes for every page."""
        attributes = {
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": self.options.sms_type}
        }
        if self.options.sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {
                "DataType": "String",
                "StringValue": self.options.sender_id,
            }
        if self.options.origination_number:
            attributes["AWS.MM.SMS.OriginationNumber"] = {
                "DataType": "String",
                "StringValue": self.options.origination_number,
            }
        if self.options.max_price is not None:
            attributes["AWS.SNS.SMS.MaxPrice"] = {
                "DataType": "Number",
                "StringValue": f"{self.options.max_price:.5f}".rstrip("0").rstrip("."),
            }
        return attributes

    # --- PagingPort ---------------------------------------------------------------------------
    def send(self, page: Page, to: str | None) -> PageRef:
        number = normalize_phone(to or "")
        if number is None:
            raise PermanentIntegrationError(
                PROVIDER,
                "send: the recipient is not an E.164 phone number (+, country code and number: "
                "8-15 digits, e.g. +14155550100)",
            )
        text = sms_text(page)
        if len(text.encode()) > MAX_SMS_BYTES:
            raise PermanentIntegrationError(
                PROVIDER,
                f"send: the text is longer than SNS's {MAX_SMS_BYTES} bytes for an SMS "
                f"(the ack link alone has {len(page.ack_url or '')} characters)",
            )
        masked = mask_phone(number)

        def scrub(message: str) -> str:
            return scrub_personal(message.replace(number, masked))

        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client().publish(
                PhoneNumber=number, Message=text, MessageAttributes=self.attributes()
            )
        except (ClientError, BotoCoreError) as exc:
            raise aws_error(PROVIDER, f"Publish to {masked}", exc, _SNS_HINTS, scrub) from None
        message_id = answer.get("MessageId") if isinstance(answer, dict) else None
        if not message_id:
            raise PermanentIntegrationError(PROVIDER, "Publish: answer without MessageId")
        return PageRef(PROVIDER, str(message_id), masked)

    def acknowledge(self, page: Page) -> None:
        """An SMS cannot be taken back: nothing to do."""

    def resolve(self, page: Page) -> None:
        """Nothing to do: the acknowledge link stops working once the escalation ends."""


def build(options: Options, secret: Mapping[str, str]) -> SnsSms:
    return SnsSms(options)
