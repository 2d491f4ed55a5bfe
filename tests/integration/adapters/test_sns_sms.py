"""The SMS paging adapter (SNS Publish to a phone number), against moto through the `aws`
fixture: moto keeps every SMS it was asked to send in its SNS backend's `sms_messages`."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
)
from pydantic import ValidationError
from tocsin.integrations import sns_sms
from tocsin.integrations.ports import (
    IntegrationError,
    Link,
    Page,
    PageRef,
    PagingPort,
    PermanentIntegrationError,
    RetryableIntegrationError,
)

PHONE = "+15550104567"
MASKED = "+1555•••4567"
ACK = "https://tocsin.example.com/ack/01HZX5R8W8KQ3TB7M2N9PZV4AC?sig=4f3c2a1b0e9d8c7b"


def page(**overrides: Any) -> Page:
    values: dict[str, Any] = {
        "key": "INC-42#1",
        "incident_id": "INC-42",
        "title": "SEV1 checkout: p99 latency above 2s",
        "severity": "SEV1",
        "urgency": "critical",
        "service": "checkout",
        "body": "Error rate above 50% since 10:02 UTC.",
        "links": (Link("Runbook", "https://wiki.example.com/rb/checkout"),),
        "ack_url": ACK,
        "level": 1,
    }
    values.update(overrides)
    return Page(**values)


def sent() -> dict[str, tuple[str, str]]:
    """message id -> (phone number, text) of every SMS moto was asked to send."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return dict(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages)


def sms(**options: Any) -> sns_sms.SnsSms:
    return sns_sms.build(sns_sms.Options(**options), {})


@pytest.fixture
def publishes(aws: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The parameters of every Publish call (moto does not keep SMS attributes); the calls
    still reach moto."""
    from tocsin.dal.aws import client

    sns = client("sns")
    real = sns.publish
    calls: list[dict[str, Any]] = []

    def publish(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(sns, "publish", publish)
    return calls


def client_error(code: str, message: str = "", status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message, "Type": "Sender"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "Publish")


def failing_publish(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    from tocsin.dal.aws import client

    def publish(**kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(client("sns"), "publish", publish)


# --- module contract --------------------------------------------------------------------------


def test_module_contract() -> None:
    assert (sns_sms.PROVIDER, sns_sms.PORT, sns_sms.SECRET_KEYS) == ("sns", "paging", ())
    options = sns_sms.Options()
    assert options.sms_type == "Transactional"
    assert options.sender_id is None and options.origination_number is None
    assert options.max_price is None
    adapter = sms()
    assert isinstance(adapter, PagingPort) and adapter.provider == "sns"


@pytest.mark.parametrize(
    "options",
    [
        {"sender_id": "Tocsin Pager"},  # a space
        {"sender_id": "TocsinPager1"},  # 12 characters
        {"sender_id": "12345"},  # no letter
        {"sender_id": ""},
        {"origination_number": "18005550100"},
        {"origination_number": "+1 800 555 0100"},
        {"sms_type": "Urgent"},
        {"max_price": 0},
        {"unknown": 1},
    ],
)
def test_options_are_validated(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        sns_sms.Options(**options)


def test_options_accept_a_sender_id_and_an_origination_number() -> None:
    options = sns_sms.Options(
        sender_id="Tocsin1", origination_number="+18005550100", sms_type="Promotional"
    )
    assert options.sender_id == "Tocsin1" and options.sms_type == "Promotional"


# --- sending ----------------------------------------------------------------------------------


def test_send_publishes_one_sms_and_returns_a_masked_ref(publishes: list[dict[str, Any]]) -> None:
    ref = sms().send(page(), PHONE)
    assert isinstance(ref, PageRef)
    assert ref.provider == "sns" and ref.to == MASKED
    messages = sent()
    assert list(messages) == [ref.id]
    number, text = messages[ref.id]
    assert number == PHONE
    assert text == f"[Tocsin] SEV1 INC-42 checkout: p99 latency above 2s. Ack: {ACK}"
    assert sns_sms.is_gsm(text) and sns_sms.sms_units(text) <= 160
    assert publishes == [
        {
            "PhoneNumber": PHONE,
            "Message": text,
            "MessageAttributes": {
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
            },
        }
    ]


def test_sender_id_origination_number_and_max_price_are_sent_as_attributes(
    publishes: list[dict[str, Any]],
) -> None:
    adapter = sms(
        sender_id="Tocsin",
        origination_number="+18005550100",
        sms_type="Promotional",
        max_price=0.5,
    )
    adapter.send(page(), PHONE)
    assert publishes[0]["MessageAttributes"] == {
        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Promotional"},
        "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "Tocsin"},
        "AWS.MM.SMS.OriginationNumber": {"DataType": "String", "StringValue": "+18005550100"},
        "AWS.SNS.SMS.MaxPrice": {"DataType": "Number", "StringValue": "0.5"},
    }
    assert len(sent()) == 1


def test_visual_separators_in_the_number_are_ignored(aws: Any) -> None:
    ref = sms().send(page(), " +1 (555) 010-4567 ")
    assert sent()[ref.id][0] == PHONE
    assert ref.to == MASKED


@pytest.mark.parametrize(
    "to",
    [
        None,
        "",
        "5550104567",  # no country code
        "+0155501045",  # a country code cannot start with 0
        "+1234567",  # 7 digits
        "+1234567890123456",  # 16 digits
        "+1555abc4567",
        "tel:+15550104567",
        "alice@example.com",
        "+1555010456\uff17",  # a full-width digit 7
    ],
)
def test_a_recipient_that_is_not_e164_is_permanent_and_nothing_is_sent(
    publishes: list[dict[str, Any]], to: str | None
) -> None:
    with pytest.raises(PermanentIntegrationError, match=r"E\.164") as info:
        sms().send(page(), to)
    assert info.value.provider == "sns"
    if to:
        assert to not in str(info.value)
    assert publishes == [] and sent() == {}


# --- the text ---------------------------------------------------------------------------------


def test_a_long_title_is_cut_and_the_ack_link_stays_whole(aws: Any) -> None:
    title = "SEV1 checkout: " + "payments failing for EU customers after the deploy " * 6
    ref = sms().send(page(title=title), PHONE)
    text = sent()[ref.id][1]
    assert text.endswith(f"... Ack: {ACK}")
    assert text.startswith("[Tocsin] SEV1 INC-42 checkout: payments failing")
    assert sns_sms.sms_units(text) <= sns_sms.GSM_SEGMENT
    assert sns_sms.sms_units(text) >= sns_sms.GSM_SEGMENT - 3  # the room was used


def test_a_very_long_ack_link_is_never_cut_the_title_keeps_a_minimum() -> None:
    long_ack = ACK + "&pad=" + "x" * 200
    text = sns_sms.sms_text(page(ack_url=long_ack, title="SEV1 checkout: " + "y" * 300))
    assert text.endswith(f" Ack: {long_ack}")
    title = text.split("checkout: ", 1)[1].split(" Ack:", 1)[0]
    assert title == "y" * (sns_sms.MIN_TITLE - 3) + "..."


def test_a_short_page_is_sent_as_is_without_an_ack_link() -> None:
    text = sns_sms.sms_text(page(ack_url=None, service=None, title="Disk full on db-1"))
    assert text == "[Tocsin] SEV1 INC-42: Disk full on db-1"


def test_the_title_keeps_its_own_punctuation() -> None:
    text = sns_sms.sms_text(page(title="Checkout down!"))
    assert "Checkout down! Ack: " in text


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("SEV1 checkout: p99 high", "p99 high"),
        ("checkout: p99 high", "p99 high"),
        ("SEV1: p99 high", "p99 high"),
        ("SEV1 p99 high", "p99 high"),
        ("p99 high", "p99 high"),
        ("SEV1", "SEV1"),  # nothing left after the prefix: kept whole
        ("SEV10 errors in checkout", "SEV10 errors in checkout"),  # not the severity
        ("checkouts: slow", "checkouts: slow"),  # not the service
    ],
)
def test_the_text_does_not_repeat_severity_and_service(title: str, expected: str) -> None:
    assert sns_sms.bare_title(page(title=title)) == expected


def test_typographic_characters_do_not_force_ucs2() -> None:
    title = "SEV1 checkout: \u201cpayments\u201d \u2013 failing\u2026 again \u2019"
    text = sns_sms.sms_text(page(title=title))
    assert sns_sms.is_gsm(text)
    assert '"payments" - failing... again \'' in text


def test_control_characters_and_newlines_are_flattened() -> None:
    text = sns_sms.sms_text(page(title="line one\nline\ttwo\x00\x07 end"))
    assert "line one line two end" in text
    assert "\n" not in text and "\x00" not in text


def test_a_non_gsm_title_fits_one_ucs2_segment_when_possible() -> None:
    text = sns_sms.sms_text(
        page(
            title="決済エラー率が50%を超えました。" * 4,
            service=None,
            ack_url="https://t.example/a/1",
        )
    )
    assert not sns_sms.is_gsm(text)
    assert sns_sms.sms_units(text) <= sns_sms.UCS2_SEGMENT
    assert text.endswith("… Ack: https://t.example/a/1")


def test_gsm_extension_characters_count_twice() -> None:
    assert sns_sms.sms_units("[a]") == 5
    assert sns_sms.sms_units("€") == 2
    assert sns_sms.sms_units("abc") == 3
    assert sns_sms.sms_units("é😀", gsm=False) == 3
    text = sns_sms.sms_text(page(title="SEV1 checkout: " + "{x}" * 100))
    assert sns_sms.sms_units(text) <= sns_sms.GSM_SEGMENT


def test_a_text_longer_than_sns_allows_is_permanent(publishes: list[dict[str, Any]]) -> None:
    with pytest.raises(PermanentIntegrationError, match="1600 bytes"):
        sms().send(page(ack_url="https://t.example/" + "a" * 1700), PHONE)
    assert publishes == []


# --- personal data ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+15550104567", "+1555•••4567"),
        ("+447700900123", "+4477•••0123"),
        ("+4930123456", "+493•••3456"),
        ("+12345678", "+123•••78"),
        ("+861391234567890", "+8613•••7890"),
    ],
)
def test_mask_phone(number: str, masked: str) -> None:
    assert sns_sms.mask_phone(number) == masked
    digits = number[1:]
    assert digits not in sns_sms.mask_phone(number)


def test_mask_email_and_scrub() -> None:
    assert sns_sms.mask_email("alice@example.com") == "a•••@example.com"
    assert sns_sms.mask_email("not-an-address") == "•••"
    scrubbed = sns_sms.scrub_personal("to +15550104567 or bob.smith@corp.example.org: failed")
    assert scrubbed == "to +1555•••4567 or b•••@corp.example.org: failed"


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("Throttling", 400, RetryableIntegrationError),
        ("Throttled", 429, RetryableIntegrationError),
        ("ThrottledException", 429, RetryableIntegrationError),
        ("InternalError", 500, RetryableIntegrationError),
        ("InternalFailure", 500, RetryableIntegrationError),
        ("ServiceUnavailable", 503, RetryableIntegrationError),
        ("KMSThrottling", 400, RetryableIntegrationError),
        ("KMSThrottlingException", 400, RetryableIntegrationError),
        ("SomethingNew", 502, RetryableIntegrationError),
        ("InvalidParameter", 400, PermanentIntegrationError),
        ("ParameterValueInvalid", 400, PermanentIntegrationError),
        ("OptedOut", 400, PermanentIntegrationError),
        ("AuthorizationError", 403, PermanentIntegrationError),
        ("KMSAccessDenied", 400, PermanentIntegrationError),
        ("InvalidClientTokenId", 403, PermanentIntegrationError),
    ],
)
def test_client_errors_are_mapped(
    aws: Any, monkeypatch: pytest.MonkeyPatch, code: str, status: int, kind: type
) -> None:
    echo = f"Invalid parameter: PhoneNumber Reason: {PHONE} is not valid to publish to"
    failing_publish(monkeypatch, client_error(code, echo, status))
    with pytest.raises(IntegrationError) as info:
        sms().send(page(), PHONE)
    assert type(info.value) is kind
    assert info.value.provider == "sns" and info.value.status == status
    assert code in info.value.message and "Publish" in info.value.message
    assert PHONE not in str(info.value) and PHONE[1:] not in str(info.value)
    assert MASKED in str(info.value)


def test_permanent_errors_say_what_to_do(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    failing_publish(monkeypatch, client_error("OptedOut", "Phone number is opted out"))
    with pytest.raises(PermanentIntegrationError, match="opted out of SMS from this AWS account"):
        sms().send(page(), PHONE)
    failing_publish(monkeypatch, client_error("AuthorizationError", "", 403))
    with pytest.raises(PermanentIntegrationError, match="SMS sandbox"):
        sms().send(page(), PHONE)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (EndpointConnectionError(endpoint_url="https://sns.us-east-1.amazonaws.com/"), True),
        (ConnectTimeoutError(endpoint_url="https://sns.us-east-1.amazonaws.com/"), True),
        (NoCredentialsError(), False),
    ],
)
def test_botocore_errors_are_mapped(
    aws: Any, monkeypatch: pytest.MonkeyPatch, exc: Exception, kind: bool
) -> None:
    failing_publish(monkeypatch, exc)
    with pytest.raises(IntegrationError) as info:
        sms().send(page(), PHONE)
    assert info.value.retryable is kind
    assert type(exc).__name__ in info.value.message


def test_acknowledge_and_resolve_send_nothing(publishes: list[dict[str, Any]]) -> None:
    adapter = sms()
    adapter.acknowledge(page())
    adapter.resolve(dataclasses.replace(page(), level=2))
    assert publishes == [] and sent() == {}


def test_the_text_names_the_incident_by_its_ref_not_its_internal_id() -> None:
    text = sns_sms.sms_text(page(incident_id="inc-01m8e3yenx60wjrdjxzknmegjs", ref="INC-42"))
    assert text.startswith("[Tocsin] SEV1 INC-42 checkout: p99 latency above 2s.")
    assert "inc-01m8" not in text
