"""The Google Meet adapter against a fake Google (OAuth token endpoint + Calendar API v3) that
checks requests against the published formats and answers with a real captured event's shape
(tests/fixtures/vendor/google_calendar)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import datetime

import pytest
from pydantic import ValidationError
from tocsin.integrations import google_meet
from tocsin.integrations.ports import (
    BridgeRef,
    ConferencingPort,
    PermanentIntegrationError,
    RetryableIntegrationError,
)

from tests.fakes.google import (
    EVENT,
    FORBIDDEN,
    NOT_FOUND,
    USER_RATE_LIMIT,
    FakeGoogle,
    calendar_error,
)

CLIENT_ID = "1234567890-abc123def456.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-google-client-s3cr3t"
REFRESH_TOKEN = "1//0google-refresh-s3cr3t-token"
KEY = "inc-01j9zq5k3v8m2n4p6r8t0w2y4a"
TOPIC = "INC-42: Checkout errors"
EVENTS = "/calendar/v3/calendars/primary/events"


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    server = FakeGoogle(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN
    )
    with server:
        yield server


def make(fake: FakeGoogle, **options: object) -> google_meet.GoogleMeetConferencing:
    opts = google_meet.Options.model_validate(
        {"base_url": fake.url + "/calendar/v3", "token_url": fake.url + "/token", **options}
    )
    adapter = google_meet.build(opts, fake.secret)
    adapter.pending_wait = 0.0  # no real waiting in tests
    return adapter


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def assert_no_secret(exc: BaseException, fake: FakeGoogle | None = None) -> None:
    text = f"{exc} {exc!r} {getattr(exc, 'message', '')}"
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, *(fake.tokens if fake else [])):
        assert secret not in text


def token_calls(fake: FakeGoogle) -> list:
    return fake.calls("POST", "/token")


def inserts(fake: FakeGoogle, path: str = EVENTS) -> list:
    return fake.calls("POST", path)


# --- create / find ----------------------------------------------------------------------------


def test_adapter_implements_the_conferencing_port(fake: FakeGoogle) -> None:
    adapter = make(fake)
    assert isinstance(adapter, ConferencingPort)
    assert adapter.provider == google_meet.PROVIDER == "google_meet"
    assert google_meet.PORT == "conferencing"
    assert google_meet.SECRET_KEYS == ("client_id", "client_secret", "refresh_token")


def test_create_bridge_refreshes_a_token_and_inserts_an_event_with_a_meet_request(
    fake: FakeGoogle,
) -> None:
    ref = make(fake).create_bridge(KEY, TOPIC)

    (token,) = token_calls(fake)
    assert token.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert token.form == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
    }
    eid = google_meet.event_id(KEY)
    # find first (404), then insert
    assert [(r.method, r.path) for r in fake.requests[1:]] == [
        ("GET", f"{EVENTS}/{eid}"),
        ("POST", EVENTS),
    ]
    (sent,) = inserts(fake)
    assert sent.headers["authorization"] == f"Bearer {fake.tokens[0]}"
    assert sent.query == {"conferenceDataVersion": ["1"]}
    body = sent.json
    assert body["id"] == eid
    assert body["summary"] == TOPIC
    assert body["conferenceData"] == {
        "createRequest": {
            "requestId": google_meet.request_id(KEY),
            "conferenceSolutionKey": {"type": "hangoutsMeet"},
        }
    }
    assert body["extendedProperties"] == {"private": {"tocsinKey": KEY}}
    for edge in ("start", "end"):
        assert body[edge]["timeZone"] == "UTC"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", body[edge]["dateTime"])
    start = datetime.fromisoformat(body["start"]["dateTime"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(body["end"]["dateTime"].replace("Z", "+00:00"))
    assert (end - start).total_seconds() == 60 * 60

    event = fake.events[eid]
    code = event["conferenceData"]["conferenceId"]
    assert ref == BridgeRef(
        "google_meet",
        eid,
        f"https://meet.google.com/{code}",
        {
            "meeting_code": code,
            "dial_in": "+49 40 8081618734 (DE)",
            "phone_pin": "678190650",
            "more_phone_numbers": f"https://tel.meet/{code}?pin=9759553023326",
            "calendar_event": event["htmlLink"],
        },
    )
    assert fake.violations == []


def test_the_answer_has_the_captured_event_shape(fake: FakeGoogle) -> None:
    make(fake).create_bridge(KEY, TOPIC)
    event = fake.events[google_meet.event_id(KEY)]
    assert set(event) - {"extendedProperties", "description"} <= set(EVENT)
    assert [e["entryPointType"] for e in event["conferenceData"]["entryPoints"]] == [
        e["entryPointType"] for e in EVENT["conferenceData"]["entryPoints"]
    ]
    assert (
        event["conferenceData"]["conferenceSolution"]
        == EVENT["conferenceData"]["conferenceSolution"]
    )
    assert event["conferenceData"]["createRequest"]["status"] == {"statusCode": "success"}


def test_find_bridge_gets_the_event_by_its_derived_id(fake: FakeGoogle) -> None:
    created = make(fake).create_bridge(KEY, TOPIC)

    found = make(fake).find_bridge(KEY)  # a fresh adapter (another Lambda invocation)

    assert found == created
    assert make(fake).find_bridge("inc-other") is None
    gets = fake.calls("GET", rf"{EVENTS}/[a-v0-9]+")
    assert gets[-1].path == f"{EVENTS}/{google_meet.event_id('inc-other')}"
    assert fake.violations == []


def test_create_is_idempotent_on_the_key(fake: FakeGoogle) -> None:
    first = make(fake).create_bridge(KEY, TOPIC)
    second = make(fake).create_bridge(KEY, "INC-42: Checkout errors (retry)")

    assert second == first
    assert len(inserts(fake)) == 1
    assert len(fake.events) == 1
    assert fake.violations == []


def test_a_409_duplicate_id_returns_the_existing_event(fake: FakeGoogle) -> None:
    created = make(fake).create_bridge(KEY, TOPIC)
    adapter = make(fake)
    adapter.find_bridge("inc-warm-up")  # a token in hand: the next request is the find
    fake.fail_next(404, body=NOT_FOUND)  # the find misses it (e.g. a concurrent create)

    again = adapter.create_bridge(KEY, TOPIC)

    assert again == created
    assert len(inserts(fake)) == 2  # the second insert was answered 409 duplicate
    assert len(fake.events) == 1
    assert fake.violations == []


def test_a_calendar_id_with_an_address_is_encoded_in_the_path(fake: FakeGoogle) -> None:
    fake.calendar_id = "c_ops-bridges@group.calendar.google.com"
    adapter = make(fake, calendar_id="c_ops-bridges@group.calendar.google.com")
    ref = adapter.create_bridge(KEY, TOPIC)

    path = "/calendar/v3/calendars/c_ops-bridges%40group.calendar.google.com/events"
    assert len(inserts(fake, path)) == 1
    assert adapter.find_bridge(KEY) == ref
    assert fake.violations == []


def test_event_duration_is_an_option(fake: FakeGoogle) -> None:
    make(fake, event_duration_minutes=180).create_bridge(KEY, TOPIC)
    body = inserts(fake)[0].json
    start = datetime.fromisoformat(body["start"]["dateTime"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(body["end"]["dateTime"].replace("Z", "+00:00"))
    assert (end - start).total_seconds() == 180 * 60


# --- the conference is created asynchronously -------------------------------------------------


def test_a_pending_conference_is_read_once_more(fake: FakeGoogle) -> None:
    fake.pending_answers = 1  # the insert answer says pending, the next read has the link

    ref = make(fake).create_bridge(KEY, TOPIC)

    assert ref.join_url.startswith("https://meet.google.com/")
    eid = google_meet.event_id(KEY)
    assert [(r.method, r.path) for r in fake.requests[1:]] == [
        ("GET", f"{EVENTS}/{eid}"),
        ("POST", EVENTS),
        ("GET", f"{EVENTS}/{eid}"),
    ]
    assert fake.violations == []


def test_a_conference_still_pending_is_retryable_and_found_on_retry(fake: FakeGoogle) -> None:
    fake.pending_answers = 2
    adapter = make(fake)

    with pytest.raises(RetryableIntegrationError) as info:
        adapter.create_bridge(KEY, TOPIC)
    assert "pending" in info.value.message
    assert info.value.retry_after == google_meet.PENDING_RETRY_AFTER

    # the step is retried: find_bridge now sees the link, nothing is inserted again
    ref = adapter.find_bridge(KEY) or adapter.create_bridge(KEY, TOPIC)
    assert ref.join_url.startswith("https://meet.google.com/")
    assert len(inserts(fake)) == 1
    assert fake.violations == []


def test_find_bridge_on_a_pending_conference_is_retryable(fake: FakeGoogle) -> None:
    fake.pending_answers = 3
    with pytest.raises(RetryableIntegrationError):
        make(fake).create_bridge(KEY, TOPIC)
    with pytest.raises(RetryableIntegrationError):
        make(fake).find_bridge(KEY)
    assert make(fake).find_bridge(KEY) is not None


def test_a_failed_conference_is_permanent(fake: FakeGoogle) -> None:
    fake.conference_fails = True
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake).create_bridge(KEY, TOPIC)
    assert "failure" in info.value.message
    assert fake.violations == []


def test_a_deleted_event_is_not_found_and_not_silently_recreated(fake: FakeGoogle) -> None:
    make(fake).create_bridge(KEY, TOPIC)
    fake.delete_event(google_meet.event_id(KEY))

    assert make(fake).find_bridge(KEY) is None
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake).create_bridge(KEY, TOPIC)
    assert "deleted" in info.value.message
    assert len(fake.events) == 1


# --- tokens -----------------------------------------------------------------------------------


def test_the_access_token_is_cached_until_shortly_before_it_expires(fake: FakeGoogle) -> None:
    clock = Clock()
    adapter = make(fake)
    adapter.clock = clock
    adapter.create_bridge(KEY, TOPIC)
    adapter.find_bridge(KEY)
    assert len(token_calls(fake)) == 1

    clock.now += fake.expires_in - google_meet.TOKEN_MARGIN - 1
    adapter.find_bridge(KEY)
    assert len(token_calls(fake)) == 1

    clock.now += 2  # inside the margin: a new token before Google refuses the old one
    fake.revoke_tokens()
    assert adapter.find_bridge(KEY) is not None
    assert len(token_calls(fake)) == 2
    assert fake.calls("GET")[-1].headers["authorization"] == f"Bearer {fake.tokens[1]}"
    assert fake.violations == []


def test_a_401_with_a_cached_token_gets_a_new_token_once(fake: FakeGoogle) -> None:
    adapter = make(fake)
    ref = adapter.create_bridge(KEY, TOPIC)
    fake.revoke_tokens()

    assert adapter.find_bridge(KEY) == ref
    assert len(token_calls(fake)) == 2
    assert fake.violations == []


def test_a_401_that_persists_is_permanent(fake: FakeGoogle) -> None:
    adapter = make(fake)
    adapter.find_bridge(KEY)
    fake.reject_all_tokens = True

    with pytest.raises(PermanentIntegrationError) as info:
        adapter.find_bridge(KEY)
    assert info.value.status == 401
    assert "Invalid Credentials" in info.value.message
    assert len(token_calls(fake)) == 2
    assert_no_secret(info.value, fake)


def test_a_revoked_refresh_token_is_permanent_and_never_echoed(fake: FakeGoogle) -> None:
    opts = google_meet.Options(base_url=fake.url + "/calendar/v3", token_url=fake.url + "/token")
    adapter = google_meet.build(opts, {**fake.secret, "refresh_token": "1//0revoked-token"})
    with pytest.raises(PermanentIntegrationError) as info:
        adapter.create_bridge(KEY, TOPIC)
    assert info.value.status == 400
    assert "invalid_grant" in info.value.message
    assert "POST /token" in info.value.message
    assert "revoked-token" not in str(info.value)
    assert_no_secret(info.value)
    assert fake.events == {}


def test_a_wrong_client_secret_is_permanent(fake: FakeGoogle) -> None:
    opts = google_meet.Options(base_url=fake.url + "/calendar/v3", token_url=fake.url + "/token")
    adapter = google_meet.build(opts, {**fake.secret, "client_secret": "GOCSPX-wrong"})
    with pytest.raises(PermanentIntegrationError) as info:
        adapter.find_bridge(KEY)
    assert info.value.status == 401
    assert "invalid_client" in info.value.message
    assert "GOCSPX-wrong" not in str(info.value)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_token_endpoint_overload_is_retryable(fake: FakeGoogle, status: int) -> None:
    fake.fail_next(status, headers={"Retry-After": "4"})
    with pytest.raises(RetryableIntegrationError) as info:
        make(fake).find_bridge(KEY)
    assert info.value.status == status
    assert info.value.retry_after == 4.0
    assert_no_secret(info.value)


# --- errors -----------------------------------------------------------------------------------


def test_429_is_retryable_with_retry_after(fake: FakeGoogle) -> None:
    adapter = make(fake)
    adapter.find_bridge("inc-warm-up")
    fake.fail_next(
        429,
        headers={"Retry-After": "7"},
        body=calendar_error(429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"),
    )
    with pytest.raises(RetryableIntegrationError) as info:
        adapter.create_bridge(KEY, TOPIC)
    assert info.value.status == 429
    assert info.value.retry_after == 7.0
    assert_no_secret(info.value, fake)


def test_403_rate_limits_are_retryable(fake: FakeGoogle) -> None:
    adapter = make(fake)
    adapter.find_bridge("inc-warm-up")
    fake.fail_next(403, headers={"Retry-After": "2"}, body=USER_RATE_LIMIT)
    with pytest.raises(RetryableIntegrationError) as info:
        adapter.create_bridge(KEY, TOPIC)
    assert info.value.status == 403
    assert info.value.retry_after == 2.0
    assert "userRateLimitExceeded" in info.value.message


def test_other_403_is_permanent(fake: FakeGoogle) -> None:
    adapter = make(fake)
    adapter.find_bridge("inc-warm-up")
    fake.fail_next(403, body=FORBIDDEN)
    with pytest.raises(PermanentIntegrationError) as info:
        adapter.create_bridge(KEY, TOPIC)
    assert info.value.status == 403
    assert_no_secret(info.value, fake)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(fake: FakeGoogle, status: int) -> None:
    adapter = make(fake)
    adapter.find_bridge("inc-warm-up")
    fake.fail_next(status, body=calendar_error(status, "backendError", "Backend Error"))
    with pytest.raises(RetryableIntegrationError) as info:
        adapter.create_bridge(KEY, TOPIC)
    assert info.value.status == status
    assert_no_secret(info.value, fake)


def test_400_is_permanent(fake: FakeGoogle) -> None:
    adapter = make(fake)
    adapter.find_bridge("inc-warm-up")
    fake.fail_next(400, body=calendar_error(400, "invalid", "Invalid conference type value."))
    with pytest.raises(PermanentIntegrationError) as info:
        adapter.create_bridge(KEY, TOPIC)
    assert info.value.status == 400
    assert "Invalid conference type value" in info.value.message
    assert_no_secret(info.value, fake)


def test_an_unknown_calendar_is_permanent(fake: FakeGoogle) -> None:
    adapter = make(fake, calendar_id="nobody@example.com")
    assert adapter.find_bridge(KEY) is None  # events.get answers 404 for both
    with pytest.raises(PermanentIntegrationError) as info:
        adapter.create_bridge(KEY, TOPIC)
    assert info.value.status == 404


def test_unreachable_google_is_retryable(fake: FakeGoogle) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    opts = google_meet.Options(
        base_url=f"http://127.0.0.1:{port}/calendar/v3", token_url=f"http://127.0.0.1:{port}/token"
    )
    with pytest.raises(RetryableIntegrationError) as info:
        google_meet.build(opts, fake.secret).find_bridge(KEY)
    assert_no_secret(info.value)


@pytest.mark.parametrize("missing", ["client_id", "client_secret", "refresh_token"])
def test_missing_secret_key_is_a_clear_permanent_error(missing: str) -> None:
    secret = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
    }
    del secret[missing]
    with pytest.raises(PermanentIntegrationError) as info:
        google_meet.build(google_meet.Options(), secret)
    assert missing in str(info.value)
    assert_no_secret(info.value)
    assert CLIENT_ID not in str(info.value)


# --- options and helpers ----------------------------------------------------------------------


def test_options_defaults_and_validation() -> None:
    opts = google_meet.Options()
    assert opts.base_url == "https://www.googleapis.com/calendar/v3"
    assert opts.token_url == "https://oauth2.googleapis.com/token"
    assert (opts.calendar_id, opts.event_duration_minutes) == ("primary", 60)
    with pytest.raises(ValidationError):
        google_meet.Options.model_validate({"event_duration_minutes": 0})
    with pytest.raises(ValidationError):
        google_meet.Options.model_validate({"calendar_id": " "})
    with pytest.raises(ValidationError):
        google_meet.Options.model_validate({"service_account": "x"})


def test_event_ids_are_valid_deterministic_and_distinct() -> None:
    keys = [KEY, "inc-1", "inc 1", "INC-1", "x" * 5000, ""]
    ids = [google_meet.event_id(k) for k in keys]
    assert all(re.fullmatch(r"[a-v0-9]{5,1024}", i) for i in ids)
    assert len(set(ids)) == len(keys)
    assert google_meet.event_id(KEY) == google_meet.event_id(KEY)
    assert google_meet.request_id(KEY) == google_meet.request_id(KEY)
    assert google_meet.request_id(KEY) != google_meet.request_id("inc-1")


def test_meet_link_falls_back_to_the_video_entry_point() -> None:
    event = {k: v for k, v in EVENT.items() if k != "hangoutLink"}
    assert google_meet.meet_link(event) == "https://meet.google.com/mqx-jyfg-uoc"
    assert google_meet.meet_link({"id": "x"}) is None
