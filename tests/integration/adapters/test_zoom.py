"""The Zoom adapter against a fake Zoom that checks the Server-to-Server OAuth token request and
the meeting API calls against Zoom's published formats, answering with Zoom's published
examples (tests/fixtures/vendor/zoom)."""

from __future__ import annotations

import base64
import re
import socket
from collections.abc import Iterator

import pytest
from pydantic import ValidationError
from tocsin.integrations import zoom
from tocsin.integrations.ports import (
    BridgeRef,
    ConferencingPort,
    PermanentIntegrationError,
    RetryableIntegrationError,
)

from tests.fakes.zoom import CREATE_RESPONSE, GET_RESPONSE, FakeZoom

ACCOUNT_ID = "acc-Zx9f3kQ2"
CLIENT_ID = "zoom-client-id-7Hn2"
CLIENT_SECRET = "zoom-client-s3cr3t-Wq81"
BASIC = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
KEY = "inc-01j9zq5k3v8m2n4p6r8t0w2y4a"
TOPIC = "INC-42: Checkout errors"
MEETINGS = r"/v2/users/me/meetings"


@pytest.fixture
def fake() -> Iterator[FakeZoom]:
    with FakeZoom(account_id=ACCOUNT_ID, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as f:
        yield f


def make(fake: FakeZoom, **options: object) -> zoom.ZoomConferencing:
    opts = zoom.Options.model_validate(
        {"base_url": fake.url + "/v2", "oauth_url": fake.url, **options}
    )
    return zoom.build(opts, fake.secret)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def assert_no_secret(exc: BaseException, fake: FakeZoom | None = None) -> None:
    text = f"{exc} {exc!r} {getattr(exc, 'message', '')}"
    for secret in (CLIENT_SECRET, BASIC, ACCOUNT_ID, *(fake.tokens if fake else [])):
        assert secret not in text


def token_calls(fake: FakeZoom) -> list:
    return fake.calls("POST", "/oauth/token")


# --- create / find ----------------------------------------------------------------------------


def test_adapter_implements_the_conferencing_port(fake: FakeZoom) -> None:
    adapter = make(fake)
    assert isinstance(adapter, ConferencingPort)
    assert adapter.provider == zoom.PROVIDER == "zoom"
    assert zoom.PORT == "conferencing"
    assert zoom.SECRET_KEYS == ("account_id", "client_id", "client_secret")


def test_create_bridge_gets_a_token_and_sends_the_published_meeting_shape(fake: FakeZoom) -> None:
    ref = make(fake).create_bridge(KEY, TOPIC)

    # the token: account credentials grant in the query, Basic client_id:client_secret
    (token,) = token_calls(fake)
    assert token.query == {"grant_type": ["account_credentials"], "account_id": [ACCOUNT_ID]}
    assert token.headers["authorization"] == f"Basic {BASIC}"
    assert token.raw == b""
    # find first (nothing yet), then create
    assert [(r.method, r.path) for r in fake.requests[1:]] == [
        ("GET", MEETINGS),
        ("POST", MEETINGS),
    ]
    (sent,) = fake.calls("POST", MEETINGS)
    assert sent.headers["authorization"] == f"Bearer {fake.tokens[0]}"
    body = sent.json
    assert set(body) <= set(CREATE_RESPONSE)  # only fields of the published meeting object
    assert body["type"] == 2  # scheduled: can be listed, found again and rejoined
    assert body["topic"] == TOPIC
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", body["start_time"])
    assert body["agenda"].splitlines()[0] == f"tocsin-key: {KEY}"
    assert TOPIC in body["agenda"]
    settings = body["settings"]
    assert set(settings) <= set(CREATE_RESPONSE["settings"])
    assert settings["join_before_host"] is True
    assert settings["jbh_time"] == 0  # join any time before the host
    assert settings["waiting_room"] is False
    assert settings["approval_type"] == 2  # no registration

    meeting = fake.meetings[int(ref.id)]
    assert ref == BridgeRef(
        "zoom",
        str(meeting["id"]),
        meeting["join_url"],
        {
            "meeting_id": str(meeting["id"]),
            "passcode": CREATE_RESPONSE["password"],
            "dial_in": "+1 1000200200 (New York, US)",
        },
    )
    assert "start_url" not in str(ref) and "zak=" not in str(ref)  # the host link stays out
    assert fake.violations == []


def test_find_bridge_lists_scheduled_meetings_and_reads_the_match(fake: FakeZoom) -> None:
    fake.add_meeting("Weekly sync", "Agenda: numbers")
    created = make(fake).create_bridge(KEY, TOPIC)
    fake.add_meeting("Later meeting", "tocsin-key: inc-other")

    found = make(fake).find_bridge(KEY)  # a fresh adapter (another Lambda invocation)

    assert found == created
    listing = fake.calls("GET", MEETINGS)[-1]
    assert listing.query["type"] == ["scheduled"]
    assert listing.query["page_size"] == ["300"]
    assert "next_page_token" not in listing.query
    (read,) = fake.calls("GET", rf"/v2/meetings/{created.id}")
    assert read.headers["authorization"].startswith("Bearer ")
    assert fake.violations == []


def test_find_bridge_matches_the_whole_key_line_only(fake: FakeZoom) -> None:
    fake.add_meeting("Other incident", f"tocsin-key: {KEY}0")
    fake.add_meeting("Mentions it", f"We talked about tocsin-key: {KEY} yesterday")
    fake.add_meeting("No agenda")

    assert make(fake).find_bridge(KEY) is None
    assert fake.calls("GET", r"/v2/meetings/\d+") == []
    assert fake.violations == []


def test_find_bridge_follows_next_page_token(fake: FakeZoom) -> None:
    fake.page_limit = 2
    for n in range(5):
        fake.add_meeting(f"Meeting {n}", f"tocsin-key: inc-{n}")
    created = make(fake).create_bridge(KEY, TOPIC)  # the 6th meeting: on the third page

    found = make(fake).find_bridge(KEY)

    assert found == created
    lists = fake.calls("GET", MEETINGS)[-3:]
    assert "next_page_token" not in lists[0].query
    assert lists[1].query["next_page_token"][0].startswith("pg0002")
    assert lists[2].query["next_page_token"][0].startswith("pg0004")
    assert fake.violations == []


def test_create_is_idempotent_on_the_key(fake: FakeZoom) -> None:
    first = make(fake).create_bridge(KEY, TOPIC)
    second = make(fake).create_bridge(KEY, "INC-42: Checkout errors (retry)")

    assert second == first
    assert len(fake.calls("POST", MEETINGS)) == 1
    assert len(fake.meetings) == 1
    assert fake.violations == []


def test_the_answer_has_the_published_example_shape(fake: FakeZoom) -> None:
    ref = make(fake).create_bridge(KEY, TOPIC)
    stored = fake.meetings[int(ref.id)]
    assert set(stored) <= set(GET_RESPONSE)
    assert (
        stored["settings"]["global_dial_in_numbers"]
        == (GET_RESPONSE["settings"]["global_dial_in_numbers"])
    )


def test_long_topics_are_cut_to_zoom_limits(fake: FakeZoom) -> None:
    ref = make(fake).create_bridge(KEY, "INC-7:\n" + "x" * 3000)

    (sent,) = fake.calls("POST", MEETINGS)
    assert len(sent.json["topic"]) == 200 and sent.json["topic"].endswith("…")
    assert len(sent.json["agenda"]) <= 2000
    assert zoom.has_key(sent.json, KEY)
    assert make(fake).find_bridge(KEY) == ref
    assert fake.violations == []


def test_a_named_user_hosts_the_bridges(fake: FakeZoom) -> None:
    fake.user = "oncall-bridge@example.com"
    ref = make(fake, user="oncall-bridge@example.com").create_bridge(KEY, TOPIC)

    assert fake.calls("POST", r"/v2/users/oncall-bridge@example.com/meetings")
    assert make(fake, user="oncall-bridge@example.com").find_bridge(KEY) == ref
    assert fake.violations == []


def test_unknown_user_is_permanent(fake: FakeZoom) -> None:
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake, user="nobody@example.com").find_bridge(KEY)
    assert info.value.status == 404
    assert "User does not exist" in info.value.message


# --- tokens -----------------------------------------------------------------------------------


def test_the_token_is_cached_until_shortly_before_it_expires(fake: FakeZoom) -> None:
    clock = Clock()
    adapter = make(fake)
    adapter.clock = clock
    adapter.create_bridge(KEY, TOPIC)
    adapter.find_bridge(KEY)
    assert len(token_calls(fake)) == 1

    clock.now += fake.expires_in - zoom.TOKEN_MARGIN - 1  # still valid
    adapter.find_bridge(KEY)
    assert len(token_calls(fake)) == 1

    clock.now += 2  # within the margin: renewed before Zoom refuses it
    fake.revoke_tokens()  # Zoom would expire it now
    assert adapter.find_bridge(KEY) is not None
    assert len(token_calls(fake)) == 2
    last = fake.calls("GET", MEETINGS)[-1]
    assert last.headers["authorization"] == f"Bearer {fake.tokens[1]}"
    assert fake.violations == []


def test_a_401_with_a_cached_token_gets_a_new_token_once(fake: FakeZoom) -> None:
    adapter = make(fake)
    ref = adapter.create_bridge(KEY, TOPIC)
    fake.revoke_tokens()  # e.g. the app was deactivated and activated again

    assert adapter.find_bridge(KEY) == ref
    assert len(token_calls(fake)) == 2
    assert fake.violations == []


def test_a_401_that_persists_is_permanent_after_one_new_token(fake: FakeZoom) -> None:
    adapter = make(fake)
    adapter.find_bridge(KEY)
    fake.reject_all_tokens = True

    with pytest.raises(PermanentIntegrationError) as info:
        adapter.find_bridge(KEY)
    assert info.value.status == 401
    assert "Invalid access token" in info.value.message
    assert len(token_calls(fake)) == 2  # one renewal, not a loop
    assert_no_secret(info.value, fake)

    with pytest.raises(PermanentIntegrationError):  # a fresh token is not retried
        make(fake).find_bridge(KEY)
    assert len(token_calls(fake)) == 3


def test_wrong_client_secret_is_permanent_and_never_echoed(fake: FakeZoom) -> None:
    opts = zoom.Options(base_url=fake.url + "/v2", oauth_url=fake.url)
    adapter = zoom.build(opts, {**fake.secret, "client_secret": "wrong-" + CLIENT_SECRET})
    with pytest.raises(PermanentIntegrationError) as info:
        adapter.create_bridge(KEY, TOPIC)
    assert info.value.status == 400
    assert "invalid_client" in info.value.message
    assert "/oauth/token" in info.value.message
    assert "wrong-" not in str(info.value)
    assert_no_secret(info.value)
    assert fake.calls("POST", MEETINGS) == []


def test_a_secret_echoed_by_the_vendor_is_masked(fake: FakeZoom) -> None:
    adapter = make(fake)
    adapter.find_bridge(KEY)
    fake.fail_next(400, body={"code": 300, "message": f"bad request from {ACCOUNT_ID}"})
    with pytest.raises(PermanentIntegrationError) as info:
        adapter.find_bridge(KEY)
    assert "***" in info.value.message
    assert_no_secret(info.value, fake)


# --- errors -----------------------------------------------------------------------------------


def test_429_is_retryable_with_retry_after(fake: FakeZoom) -> None:
    adapter = make(fake)
    adapter.find_bridge(KEY)  # a token in hand: the next request is an API call
    fake.fail_next(
        429,
        headers={"Retry-After": "7"},
        body={"code": 429, "message": "You have reached the maximum per-second rate limit."},
    )
    with pytest.raises(RetryableIntegrationError) as info:
        adapter.create_bridge(KEY, TOPIC)
    assert info.value.status == 429
    assert info.value.retry_after == 7.0
    assert "GET /users/me/meetings" in info.value.message
    assert_no_secret(info.value, fake)


def test_429_on_the_token_endpoint_is_retryable(fake: FakeZoom) -> None:
    fake.fail_next(429, headers={"Retry-After": "3"})
    with pytest.raises(RetryableIntegrationError) as info:
        make(fake).find_bridge(KEY)
    assert info.value.retry_after == 3.0
    assert "/oauth/token" in info.value.message
    assert_no_secret(info.value)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(fake: FakeZoom, status: int) -> None:
    adapter = make(fake)
    adapter.find_bridge(KEY)
    fake.fail_next(status)
    with pytest.raises(RetryableIntegrationError) as info:
        adapter.create_bridge(KEY, TOPIC)
    assert info.value.status == status
    assert_no_secret(info.value, fake)


@pytest.mark.parametrize("status", [400, 403, 404])
def test_client_errors_are_permanent(fake: FakeZoom, status: int) -> None:
    adapter = make(fake)
    adapter.find_bridge(KEY)
    fake.fail_next(status, body={"code": 4711, "message": "Invalid access token, no scopes."})
    with pytest.raises(PermanentIntegrationError) as info:
        adapter.create_bridge(KEY, TOPIC)
    assert info.value.status == status
    assert not info.value.retryable
    assert_no_secret(info.value, fake)
    assert fake.calls("POST", MEETINGS) == []


def test_a_refused_create_is_permanent(fake: FakeZoom) -> None:
    fake.reject_create = (
        400,
        {
            "code": 300,
            "message": "Validation Failed.",
            "errors": [{"field": "settings.jbh_time", "message": "Invalid field."}],
        },
    )
    with pytest.raises(PermanentIntegrationError) as info:
        make(fake).create_bridge(KEY, TOPIC)
    assert info.value.status == 400
    assert "Validation Failed" in info.value.message
    assert "POST /users/me/meetings" in info.value.message
    assert len(fake.calls("POST", MEETINGS)) == 1  # not retried
    assert_no_secret(info.value, fake)


def test_unreachable_zoom_is_retryable(fake: FakeZoom) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    opts = zoom.Options(
        base_url=f"http://127.0.0.1:{port}/v2", oauth_url=f"http://127.0.0.1:{port}"
    )
    with pytest.raises(RetryableIntegrationError) as info:
        zoom.build(opts, fake.secret).find_bridge(KEY)
    assert_no_secret(info.value)


@pytest.mark.parametrize("missing", ["account_id", "client_id", "client_secret"])
def test_missing_secret_key_is_a_clear_permanent_error(missing: str) -> None:
    secret = {"account_id": ACCOUNT_ID, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    del secret[missing]
    with pytest.raises(PermanentIntegrationError) as info:
        zoom.build(zoom.Options(), secret)
    assert missing in str(info.value)
    assert_no_secret(info.value)
    assert CLIENT_ID not in str(info.value)


# --- options and helpers ----------------------------------------------------------------------


def test_options_defaults_and_validation() -> None:
    opts = zoom.Options()
    assert (opts.base_url, opts.oauth_url, opts.user) == (
        "https://api.zoom.us/v2",
        "https://zoom.us",
        "me",
    )
    with pytest.raises(ValidationError):
        zoom.Options.model_validate({"user": "  "})
    with pytest.raises(ValidationError):
        zoom.Options.model_validate({"meeting_type": 1})


def test_details_keep_what_people_need_to_join() -> None:
    meeting = {
        "id": 123,
        "password": "abc",
        "pstn_password": "987654",
        "start_url": "https://zoom.example/s/123?zak=secret-host-key",
        "settings": {
            "global_dial_in_numbers": [
                {"number": f"+1 555 000 {n}", "city": "Town", "country": "US"} for n in range(8)
            ]
        },
    }
    out = zoom.details(meeting)
    assert out["meeting_id"] == "123"
    assert out["passcode"] == "abc"
    assert out["phone_passcode"] == "987654"
    assert out["dial_in"].count("+1 555") == zoom.DIAL_IN_MAX
    assert "zak" not in str(out)
    assert zoom.details({"id": 1}) == {"meeting_id": "1"}
