"""The e-mail paging adapter (SES v2 SendEmail, simple content), against moto through the `aws`
fixture. moto refuses to send from an identity that is not verified (MessageRejected), like SES:
the tests verify the sender's domain first, and keep every sent message in the SES backend's
`sent_messages` (moto stores the HTML part of a simple message as its body)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from pydantic import ValidationError
from tocsin.integrations import ses_email
from tocsin.integrations.ports import (
    IntegrationError,
    Link,
    Page,
    PagingPort,
    PermanentIntegrationError,
    RetryableIntegrationError,
)

TO = "alice.oncall@example.org"
MASKED = "a•••@example.org"
SENDER = "pager@tocsin.example.com"
ACK = "https://tocsin.example.com/ack/01HZX5R8W8KQ3TB7M2N9PZV4AC?sig=4f3c2a1b&exp=1767225600"
HOSTILE = '<script>alert(1)</script> <a href="javascript:x">&amp; "q"</a>'


def page(**overrides: Any) -> Page:
    values: dict[str, Any] = {
        "key": "INC-42#1",
        "incident_id": "INC-42",
        "title": "SEV1 checkout: p99 latency above 2s",
        "severity": "SEV1",
        "urgency": "critical",
        "service": "checkout",
        "body": "Error rate above 50% since 10:02 UTC.\nPayments fail for EU customers.",
        "links": (
            Link("Incident", "https://tocsin.example.com/incidents/INC-42"),
            Link("Runbook", "https://wiki.example.com/rb/checkout"),
        ),
        "ack_url": ACK,
        "level": 1,
        "details": (("region", "eu-west-1"), ("alert", "HighErrorRate")),
    }
    values.update(overrides)
    return Page(**values)


@pytest.fixture
def ses(aws: Any) -> Any:
    """The sesv2 client, with the sender's domain verified (moto checks it, as SES does)."""
    from tocsin.dal.aws import client

    sesv2 = client("sesv2")
    sesv2.create_email_identity(EmailIdentity="tocsin.example.com")
    return sesv2


@pytest.fixture
def requests(ses: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The parameters of every SendEmail call (they still reach moto)."""
    real = ses.send_email
    calls: list[dict[str, Any]] = []

    def send_email(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(ses, "send_email", send_email)
    return calls


def sent() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def mailer(**options: Any) -> ses_email.SesEmail:
    return ses_email.build(ses_email.Options(**{"sender": SENDER, **options}), {})


def failing_send(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    from tocsin.dal.aws import client

    def send_email(**kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(client("sesv2"), "send_email", send_email)


def client_error(code: str, message: str = "", status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "SendEmail")


# --- module contract --------------------------------------------------------------------------


def test_module_contract() -> None:
    assert (ses_email.PROVIDER, ses_email.PORT, ses_email.SECRET_KEYS) == ("ses", "paging", ())
    options = ses_email.Options(sender=SENDER)
    assert options.configuration_set is None and options.reply_to == []
    adapter = mailer()
    assert isinstance(adapter, PagingPort) and adapter.provider == "ses"


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"sender": "not an address"},
        {"sender": "Tocsin <nobody>"},
        {"sender": SENDER, "configuration_set": "has spaces"},
        {"sender": SENDER, "reply_to": ["team@example.com", "nope"]},
        {"sender": SENDER, "unknown": 1},
    ],
)
def test_options_are_validated(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ses_email.Options(**options)


def test_sender_with_a_display_name() -> None:
    assert ses_email.Options(sender="Tocsin <p@x.example>").sender == "Tocsin <p@x.example>"
    encoded = ses_email.Options(sender="Tócsin Pager <p@x.example>").sender
    assert encoded.endswith(" <p@x.example>") and encoded.startswith("=?utf-8?")
    assert ses_email.Options(sender=SENDER, reply_to=[" a@x.example ", "a@x.example"]).reply_to == [
        "a@x.example"
    ]


# --- sending ----------------------------------------------------------------------------------


def test_send_emails_the_page_and_returns_a_masked_ref(requests: list[dict[str, Any]]) -> None:
    ref = mailer().send(page(), TO)
    assert ref.provider == "ses" and ref.to == MASKED and ref.id
    [message] = sent()
    assert message.id == ref.id
    assert message.source == SENDER
    assert message.destinations == {"ToAddresses": [TO]}
    assert message.subject == "[SEV1] INC-42 p99 latency above 2s"
    [request] = requests
    assert set(request) == {"FromEmailAddress", "Destination", "Content"}
    simple = request["Content"]["Simple"]
    assert simple["Subject"] == {"Data": message.subject, "Charset": "UTF-8"}
    assert simple["Body"]["Html"]["Data"] == message.body  # moto keeps the HTML part
    assert simple["Body"]["Html"]["Charset"] == simple["Body"]["Text"]["Charset"] == "UTF-8"


def test_the_html_part_has_a_prominent_acknowledge_link(aws: Any, ses: Any) -> None:
    mailer().send(page(), TO)
    body = sent()[0].body
    buttons = re.findall(r'<a href="([^"]+)"[^>]*>Acknowledge</a>', body)
    assert buttons == [html.escape(ACK, quote=True)]
    assert html.unescape(buttons[0]) == ACK
    assert 'href="https://tocsin.example.com/incidents/INC-42"' in body
    assert ">Runbook</a>" in body
    assert "<th" in body and "eu-west-1" in body and "HighErrorRate" in body
    assert "SEV1 &middot; INC-42 &middot; checkout" in body
    assert body.startswith("<!DOCTYPE html>")


def test_the_text_part(requests: list[dict[str, Any]]) -> None:
    mailer().send(page(level=2), TO)
    text = requests[0]["Content"]["Simple"]["Body"]["Text"]["Data"]
    assert text.splitlines()[:4] == [
        "SEV1 · INC-42 · checkout · escalation level 2",
        "SEV1 checkout: p99 latency above 2s",
        "",
        f"Acknowledge: {ACK}",
    ]
    assert "Payments fail for EU customers." in text
    assert "  Runbook: https://wiki.example.com/rb/checkout" in text
    assert "  region: eu-west-1" in text
    assert "(escalation level 2)" in text


def test_every_value_is_escaped_in_the_html(aws: Any, ses: Any) -> None:
    hostile_page = page(
        title=HOSTILE,
        service="<b>svc</b>",
        body=HOSTILE,
        links=(
            Link(HOSTILE, "https://ok.example/x?a=1&b=2"),
            Link("js", "javascript:alert(1)"),
            Link("quote", 'https://ok.example/"onmouseover="x'),
        ),
        details=((HOSTILE, HOSTILE),),
    )
    mailer().send(hostile_page, TO)
    body = sent()[0].body
    assert "<script>" not in body and "<b>" not in body
    hrefs = re.findall(r'href="([^"]*)"', body)
    assert hrefs and all(h.startswith("https://") for h in hrefs)
    assert not any("onmouseover" in h for h in hrefs)
    assert "quote</a>" not in body  # a URL with a quote in it is no link
    assert html.escape(HOSTILE, quote=True) in body
    assert 'href="https://ok.example/x?a=1&amp;b=2"' in body
    # only our own tags remain
    tags = set(re.findall(r"</?([a-zA-Z0-9]+)", body))
    assert tags <= {"html", "head", "meta", "title", "body", "div", "p", "h1", "h2", "a", "ul"} | {
        "li",
        "table",
        "tr",
        "th",
        "td",
    }


def test_an_ack_link_that_is_not_http_is_left_out(aws: Any, ses: Any) -> None:
    mailer().send(page(ack_url="javascript:alert(1)"), TO)
    assert "Acknowledge</a>" not in sent()[0].body and "javascript" not in sent()[0].body


def test_a_long_title_keeps_the_subject_short_and_the_ack_link_whole(
    requests: list[dict[str, Any]],
) -> None:
    title = "SEV1 checkout: " + "payments failing for EU customers " * 20
    mailer().send(page(title=title + "\r\nBcc: evil@example.com"), TO)
    subject = requests[0]["Content"]["Simple"]["Subject"]["Data"]
    assert len(subject) <= ses_email.SUBJECT_MAX and subject.endswith("…")
    assert "\n" not in subject and "\r" not in subject
    assert f'href="{html.escape(ACK)}"' in sent()[0].body
    assert f"Acknowledge: {ACK}" in requests[0]["Content"]["Simple"]["Body"]["Text"]["Data"]


def test_reply_to_and_configuration_set(requests: list[dict[str, Any]], ses: Any) -> None:
    ses.create_configuration_set(ConfigurationSetName="tocsin-pages")
    mailer(reply_to=["oncall-team@example.com"], configuration_set="tocsin-pages").send(
        page(incident_id="INC 42/a"), TO
    )
    request = requests[0]
    assert request["ReplyToAddresses"] == ["oncall-team@example.com"]
    assert request["ConfigurationSetName"] == "tocsin-pages"
    assert request["EmailTags"] == [{"Name": "tocsin_incident", "Value": "INC_42_a"}]
    assert len(sent()) == 1


@pytest.mark.parametrize(
    "to",
    [
        None,
        "",
        "alice",
        "alice@",
        "@example.com",
        "alice@example",
        "alice@@example.com",
        "alice@exa mple.com",
        "alice example@example.com",
        ".alice@example.com",
        "alice..b@example.com",
        "Alice <alice@example.com>",
        "alice@example.com, bob@example.com",
        "+15550104567",
    ],
)
def test_a_recipient_that_is_not_an_address_is_permanent(
    requests: list[dict[str, Any]], to: str | None
) -> None:
    with pytest.raises(PermanentIntegrationError, match="not an e-mail address") as info:
        mailer().send(page(), to)
    if to:
        assert to not in str(info.value)
    assert requests == [] and sent() == []


def test_an_unverified_sender_is_permanent_and_masks_addresses(aws: Any) -> None:
    """No identity verified (no `ses` fixture): moto answers MessageRejected like SES."""
    with pytest.raises(PermanentIntegrationError) as info:
        mailer().send(page(), TO)
    message = str(info.value)
    assert "MessageRejected" in message and "verified" in message
    assert TO not in message and SENDER not in message
    assert MASKED in message


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("TooManyRequestsException", 429, RetryableIntegrationError),
        ("Throttling", 400, RetryableIntegrationError),
        ("InternalFailure", 500, RetryableIntegrationError),
        ("ServiceUnavailable", 503, RetryableIntegrationError),
        ("MessageRejected", 400, PermanentIntegrationError),
        ("MailFromDomainNotVerifiedException", 400, PermanentIntegrationError),
        ("AccountSendingPausedException", 400, PermanentIntegrationError),
        ("SendingPausedException", 400, PermanentIntegrationError),
        ("AccountSuspendedException", 400, PermanentIntegrationError),
        ("NotFoundException", 404, PermanentIntegrationError),
        ("BadRequestException", 400, PermanentIntegrationError),
        ("AccessDeniedException", 403, PermanentIntegrationError),
    ],
)
def test_client_errors_are_mapped(
    aws: Any, monkeypatch: pytest.MonkeyPatch, code: str, status: int, kind: type
) -> None:
    failing_send(monkeypatch, client_error(code, f"Address blacklisted: {TO}", status))
    with pytest.raises(IntegrationError) as info:
        mailer().send(page(), TO)
    assert type(info.value) is kind
    assert info.value.provider == "ses" and info.value.status == status
    assert code in info.value.message and "SendEmail" in info.value.message
    assert TO not in str(info.value) and MASKED in str(info.value)


def test_permanent_errors_say_what_to_do(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_send(monkeypatch, client_error("MailFromDomainNotVerifiedException"))
    with pytest.raises(PermanentIntegrationError, match="MAIL FROM domain is not verified"):
        mailer().send(page(), TO)
    failing_send(monkeypatch, client_error("AccountSendingPausedException"))
    with pytest.raises(PermanentIntegrationError, match="sending is paused"):
        mailer().send(page(), TO)


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com/"),
        ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com/"),
    ],
)
def test_connection_failures_are_retryable(
    aws: Any, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    failing_send(monkeypatch, exc)
    with pytest.raises(RetryableIntegrationError, match=type(exc).__name__):
        mailer().send(page(), TO)


def test_acknowledge_and_resolve_send_nothing(requests: list[dict[str, Any]]) -> None:
    adapter = mailer()
    adapter.acknowledge(page())
    adapter.resolve(page())
    assert requests == [] and sent() == []
