"""CloudFront signed cookies (custom policy): AWS's published format, checked against botocore's
CloudFrontSigner and `cryptography` directly; and `tocsin statuspage keygen`."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.signers import CloudFrontSigner
from click.testing import CliRunner
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from tocsin.services import cloudfront_cookies as cookies
from tocsin.services.cloudfront_cookies import (
    COOKIE_HASH_ALGORITHM,
    COOKIE_KEY_PAIR_ID,
    COOKIE_POLICY,
    COOKIE_SIGNATURE,
    build_policy,
    generate_key_pair,
    resource_matches,
    sign_cookies,
    signing_key_from_secret,
    verify_cookies,
)

from tests.helpers import REPO

DOMAIN = "https://d111111abcdef8.cloudfront.net"
RESOURCE = f"{DOMAIN}/status/internal/*"
KEY_ID = "K2JCJMDEHXQW5F"
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(hours=12)


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return generate_key_pair()


@pytest.fixture(scope="module")
def other_keys() -> tuple[bytes, bytes]:
    return generate_key_pair()


def signed(keys: tuple[bytes, bytes], **kwargs: Any) -> dict[str, str]:
    private_pem, _ = keys
    options: dict[str, Any] = {"resource": RESOURCE, "expires": EXPIRES, **kwargs}
    return sign_cookies(
        private_pem, KEY_ID, options.pop("resource"), options.pop("expires"), **options
    )


def ok(keys: tuple[bytes, bytes], values: dict[str, str], url: str, **kwargs: Any) -> bool:
    options: dict[str, Any] = {"now": NOW, **kwargs}
    return verify_cookies(keys[1], values, url, options.pop("now"), **options)


def undo_b64(value: str) -> bytes:
    """CloudFront's base64 back to bytes, by its documented substitutions."""
    return base64.b64decode(value.replace("-", "+").replace("_", "=").replace("~", "/"))


# --- keys -----------------------------------------------------------------------------------------
def test_key_pair_is_rsa_2048_in_the_pem_forms_cloudfront_takes(keys: tuple[bytes, bytes]) -> None:
    private_pem, public_pem = keys
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    private = serialization.load_pem_private_key(private_pem, password=None)
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 2048
    assert cookies.public_key_of(private_pem) == public_pem
    assert cookies.fingerprint(public_pem) == cookies.fingerprint(
        public_pem.replace(b"\n", b"\r\n")
    )


def test_the_secret_signs_with_the_key_matching_the_deployed_public_key(
    keys: tuple[bytes, bytes], other_keys: tuple[bytes, bytes]
) -> None:
    rotated = {"private_key": other_keys[0].decode(), "previous_private_key": keys[0].decode()}
    # before the deploy the functions still carry the old public key: the previous key signs
    assert signing_key_from_secret(rotated, keys[1]) == keys[0]
    assert signing_key_from_secret(rotated, other_keys[1]) == other_keys[0]
    assert signing_key_from_secret({"private_key": keys[0].decode()}, None) == keys[0]
    with pytest.raises(ValueError, match="keygen"):
        signing_key_from_secret({"private_key": other_keys[0].decode()}, keys[1])
    with pytest.raises(ValueError, match="private_key"):
        signing_key_from_secret({}, keys[1])


# --- the format -----------------------------------------------------------------------------------
def test_policy_is_compact_json_in_aws_order() -> None:
    policy = build_policy(RESOURCE, EXPIRES)
    epoch = int(EXPIRES.timestamp())
    assert policy == (
        '{"Statement":[{"Resource":"https://d111111abcdef8.cloudfront.net/status/internal/*",'
        f'"Condition":{{"DateLessThan":{{"AWS:EpochTime":{epoch}}}}}}}]}}'
    )
    assert " " not in policy and "\n" not in policy


def test_cookies_are_the_policy_and_its_rsa_sha1_signature_in_cloudfront_base64(
    keys: tuple[bytes, bytes],
) -> None:
    values = signed(keys)
    assert set(values) == {COOKIE_POLICY, COOKIE_SIGNATURE, COOKIE_KEY_PAIR_ID}
    assert values[COOKIE_KEY_PAIR_ID] == KEY_ID
    for value in (values[COOKIE_POLICY], values[COOKIE_SIGNATURE]):
        assert not set(value) & set("+=/"), "CloudFront's base64 has none of + = /"
    policy = undo_b64(values[COOKIE_POLICY])
    assert policy == build_policy(RESOURCE, EXPIRES).encode()
    public = serialization.load_pem_public_key(keys[1])
    assert isinstance(public, rsa.RSAPublicKey)
    signature = undo_b64(values[COOKIE_SIGNATURE])
    assert len(signature) == 256  # RSA 2048
    public.verify(signature, policy, padding.PKCS1v15(), hashes.SHA1())  # raises if not
    with pytest.raises(InvalidSignature):
        public.verify(signature, policy, padding.PKCS1v15(), hashes.SHA256())


def test_policy_and_signature_equal_botocores_cloudfront_signer(
    keys: tuple[bytes, bytes],
) -> None:
    private = serialization.load_pem_private_key(keys[0], password=None)
    assert isinstance(private, rsa.RSAPrivateKey)

    def rsa_signer(message: bytes) -> bytes:
        return private.sign(message, padding.PKCS1v15(), hashes.SHA1())

    signer = CloudFrontSigner(KEY_ID, rsa_signer)
    starts = NOW - timedelta(minutes=5)
    cases: list[dict[str, Any]] = [{}, {"starts": starts, "ip_address": "192.0.2.0/24"}]
    for extra in cases:
        boto_policy = signer.build_policy(
            RESOURCE,
            EXPIRES,
            date_greater_than=extra.get("starts"),
            ip_address=extra.get("ip_address"),
        )
        assert build_policy(RESOURCE, EXPIRES, **extra) == boto_policy
        url = signer.generate_presigned_url(
            f"{DOMAIN}/status/internal/index.html", policy=boto_policy
        )
        params = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
        values = signed(keys, **extra)
        assert values[COOKIE_POLICY] == params["Policy"]
        assert values[COOKIE_SIGNATURE] == params["Signature"]
        assert values[COOKIE_KEY_PAIR_ID] == params["Key-Pair-Id"]
    # a single address is a /32, as botocore writes it
    assert '"AWS:SourceIp":"192.0.2.7/32"' in build_policy(
        RESOURCE, EXPIRES, ip_address="192.0.2.7"
    )


def test_naive_times_are_refused(keys: tuple[bytes, bytes]) -> None:
    with pytest.raises(ValueError, match="timezone"):
        signed(keys, expires=datetime(2026, 11, 27, 12, 0))
    with pytest.raises(ValueError, match="key_pair_id"):
        sign_cookies(keys[0], "", RESOURCE, EXPIRES)


# --- verifying --------------------------------------------------------------------------------
def test_round_trip(keys: tuple[bytes, bytes]) -> None:
    values = signed(keys)
    assert ok(keys, values, f"{DOMAIN}/status/internal/index.html")
    assert ok(keys, values, f"{DOMAIN}/status/internal/api/v2/summary.json")
    assert ok(keys, values, f"{DOMAIN}/status/internal/index.html", key_pair_id=KEY_ID)


def test_the_wrong_key_pair_id_or_public_key_is_refused(
    keys: tuple[bytes, bytes], other_keys: tuple[bytes, bytes]
) -> None:
    values = signed(keys)
    url = f"{DOMAIN}/status/internal/index.html"
    assert not ok(keys, values, url, key_pair_id="KOTHER")
    assert not verify_cookies(other_keys[1], values, url, NOW)


def test_tampered_policy_or_signature_is_refused(keys: tuple[bytes, bytes]) -> None:
    values = signed(keys)
    url = f"{DOMAIN}/status/acme/index.html"
    policy = json.loads(undo_b64(values[COOKIE_POLICY]))
    policy["Statement"][0]["Resource"] = f"{DOMAIN}/status/*"  # widen it
    widened = {**values, COOKIE_POLICY: cookies.cloudfront_b64encode(json.dumps(policy).encode())}
    assert not ok(keys, widened, url)
    longer = json.loads(undo_b64(values[COOKIE_POLICY]))
    longer["Statement"][0]["Condition"]["DateLessThan"]["AWS:EpochTime"] += 86400 * 365
    extended = {
        **values,
        COOKIE_POLICY: cookies.cloudfront_b64encode(
            json.dumps(longer, separators=(",", ":")).encode()
        ),
    }
    assert not ok(keys, extended, f"{DOMAIN}/status/internal/index.html")
    signature = bytearray(undo_b64(values[COOKIE_SIGNATURE]))
    signature[10] ^= 0x01
    flipped = {**values, COOKIE_SIGNATURE: cookies.cloudfront_b64encode(bytes(signature))}
    assert not ok(keys, flipped, f"{DOMAIN}/status/internal/index.html")
    for broken in ({**values, COOKIE_SIGNATURE: "%%%"}, {**values, COOKIE_POLICY: "bm90IGpzb24_"}):
        assert not ok(keys, broken, f"{DOMAIN}/status/internal/index.html")


def test_missing_cookies_are_refused(keys: tuple[bytes, bytes]) -> None:
    values = signed(keys)
    for name in values:
        partial = {k: v for k, v in values.items() if k != name}
        assert not ok(keys, partial, f"{DOMAIN}/status/internal/index.html")
    canned = {
        "CloudFront-Expires": "1900000000",
        **{k: v for k, v in values.items() if k != COOKIE_POLICY},
    }
    assert not ok(keys, canned, f"{DOMAIN}/status/internal/index.html")


def test_expiry_and_start_are_honoured(keys: tuple[bytes, bytes]) -> None:
    url = f"{DOMAIN}/status/internal/index.html"
    values = signed(keys)
    assert ok(keys, values, url, now=EXPIRES - timedelta(seconds=1))
    assert not ok(keys, values, url, now=EXPIRES)
    assert not ok(keys, values, url, now=EXPIRES + timedelta(days=1))
    later = signed(keys, starts=NOW + timedelta(hours=1))
    assert not ok(keys, later, url)
    assert ok(keys, later, url, now=NOW + timedelta(hours=1))


def test_ip_condition_is_honoured_when_the_viewer_ip_is_known_and_refused_otherwise(
    keys: tuple[bytes, bytes],
) -> None:
    url = f"{DOMAIN}/status/internal/index.html"
    values = signed(keys, ip_address="192.0.2.0/24")
    assert ok(keys, values, url, source_ip="192.0.2.55")
    assert not ok(keys, values, url, source_ip="198.51.100.1")
    assert not ok(keys, values, url)


def test_sha256_signatures_are_checked_when_the_hash_algorithm_cookie_says_so(
    keys: tuple[bytes, bytes],
) -> None:
    policy = build_policy(RESOURCE, EXPIRES).encode()
    private = cookies.load_private_key(keys[0])
    values = {
        COOKIE_POLICY: cookies.cloudfront_b64encode(policy),
        COOKIE_SIGNATURE: cookies.cloudfront_b64encode(
            private.sign(policy, padding.PKCS1v15(), hashes.SHA256())
        ),
        COOKIE_KEY_PAIR_ID: KEY_ID,
    }
    url = f"{DOMAIN}/status/internal/index.html"
    assert not ok(keys, values, url)  # SHA-1 is the default
    assert ok(keys, {**values, COOKIE_HASH_ALGORITHM: "SHA256"}, url)
    assert not ok(keys, {**values, COOKIE_HASH_ALGORITHM: "MD5"}, url)


def test_wrong_resource_is_refused(keys: tuple[bytes, bytes]) -> None:
    values = signed(keys)
    assert not ok(keys, values, f"{DOMAIN}/status/public/index.html")
    assert not ok(keys, values, f"{DOMAIN}/status/internal-2/index.html")
    assert not ok(keys, values, "https://d999.cloudfront.net/status/internal/index.html")
    assert not ok(keys, values, f"{DOMAIN.replace('https', 'http')}/status/internal/index.html")
    exact = signed(keys, resource=f"{DOMAIN}/status/internal/index.html")
    assert ok(keys, exact, f"{DOMAIN}/status/internal/index.html")
    assert not ok(keys, exact, f"{DOMAIN}/status/internal/history.atom")


def test_wildcards_match_as_cloudfront_documents() -> None:
    assert resource_matches(RESOURCE, f"{DOMAIN}/status/internal/")
    assert resource_matches(RESOURCE, f"{DOMAIN}/status/internal/a/b/c.json?x=1")
    assert not resource_matches(RESOURCE, f"{DOMAIN}/status/internal")
    assert resource_matches("http*://d1.cloudfront.net/*", "https://d1.cloudfront.net/x")
    assert resource_matches("http*://d1.cloudfront.net/*", "http://d1.cloudfront.net/x")
    assert resource_matches(
        "https://d1.cloudfront.net/file-?.txt", "https://d1.cloudfront.net/file-1.txt"
    )
    assert not resource_matches(
        "https://d1.cloudfront.net/file-?.txt", "https://d1.cloudfront.net/file-12.txt"
    )
    # everything else is literal (regex characters included) and case-sensitive
    assert not resource_matches("https://d1.cloudfront.net/a.b", "https://d1.cloudfront.net/aXb")
    assert not resource_matches("https://d1.cloudfront.net/A/*", "https://d1.cloudfront.net/a/x")


# --- tocsin statuspage keygen ---------------------------------------------------------------------
@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    for key in ("AWS_ENDPOINT_URL", "MOTO_PORT", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="eu-west-1")


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    for path in (REPO / "config").glob("*.yaml"):
        (directory / path.name).write_text(path.read_text())
    return directory


def keygen(*args: str) -> Any:
    from tocsin_local.cli import main

    return CliRunner().invoke(main, ["statuspage", "keygen", *args], catch_exceptions=False)


def assert_no_private_key_in(output: str, *private_pems: str) -> None:
    assert "PRIVATE KEY" not in output
    for pem in private_pems:
        for line in pem.splitlines()[1:-1]:
            assert line not in output


def test_keygen_stores_the_private_key_in_secrets_manager_and_writes_the_public_key(
    secretsmanager: Any, config_dir: Path
) -> None:
    from tocsin.config_loader import load_config

    name = load_config(config_dir).status_pages.cookie_secret
    result = keygen("--config-dir", str(config_dir))
    assert result.exit_code == 0, result.output

    secret = json.loads(secretsmanager.get_secret_value(SecretId=name)["SecretString"])
    assert set(secret) == {"private_key"}
    public_pem = (config_dir / cookies.PUBLIC_KEY_FILE).read_bytes()
    assert cookies.public_key_of(secret["private_key"]) == public_pem
    assert name in result.stdout and cookies.PUBLIC_KEY_FILE in result.stdout
    assert_no_private_key_in(result.stdout + result.stderr, secret["private_key"])
    # the pair works end to end
    values = sign_cookies(secret["private_key"].encode(), KEY_ID, RESOURCE, EXPIRES)
    assert verify_cookies(public_pem, values, f"{DOMAIN}/status/internal/", NOW)


def test_keygen_again_puts_a_new_version_and_keeps_the_old_key_as_previous(
    secretsmanager: Any, config_dir: Path
) -> None:
    assert keygen("--config-dir", str(config_dir), "--secret-name", "team/cookies").exit_code == 0
    first = json.loads(secretsmanager.get_secret_value(SecretId="team/cookies")["SecretString"])
    result = keygen("--config-dir", str(config_dir), "--secret-name", "team/cookies")
    assert result.exit_code == 0, result.output
    second = json.loads(secretsmanager.get_secret_value(SecretId="team/cookies")["SecretString"])
    assert second["previous_private_key"] == first["private_key"]
    assert second["private_key"] != first["private_key"]
    public_pem = (config_dir / cookies.PUBLIC_KEY_FILE).read_bytes()
    assert signing_key_from_secret(second, public_pem).decode() == second["private_key"]
    assert "replaced" in result.stdout
    assert_no_private_key_in(
        result.stdout + result.stderr, first["private_key"], second["private_key"]
    )
    versions = secretsmanager.list_secret_version_ids(SecretId="team/cookies")["Versions"]
    assert len(versions) == 2


def test_keygen_can_write_the_private_key_to_a_new_owner_only_file(
    config_dir: Path, tmp_path: Path
) -> None:
    private_path, public_path = tmp_path / "cookies.pem", tmp_path / "out" / "cookies.pub.pem"
    result = keygen(
        "--config-dir",
        str(config_dir),
        "--private-key-out",
        str(private_path),
        "--public-key",
        str(public_path),
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(private_path).st_mode) == 0o600
    private_pem = private_path.read_bytes()
    assert cookies.public_key_of(private_pem) == public_path.read_bytes()
    assert not (config_dir / cookies.PUBLIC_KEY_FILE).exists()
    assert_no_private_key_in(result.stdout + result.stderr, private_pem.decode())
    # never overwrites a key file
    again = keygen("--config-dir", str(config_dir), "--private-key-out", str(private_path))
    assert again.exit_code != 0 and "exists" in again.output
    assert private_path.read_bytes() == private_pem
    assert not (config_dir / cookies.PUBLIC_KEY_FILE).exists(), "no public key without its pair"


def test_keygen_writes_no_public_key_when_the_private_key_cannot_be_stored(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import NoCredentialsError

    def refuse(*_: Any, **__: Any) -> Any:
        raise NoCredentialsError()

    monkeypatch.setattr("boto3.client", refuse)
    result = keygen("--config-dir", str(config_dir), "--secret-name", "x")
    assert result.exit_code != 0
    assert "credentials" in result.output.lower()
    assert not (config_dir / cookies.PUBLIC_KEY_FILE).exists()
    assert_no_private_key_in(result.output)


def test_keygen_takes_a_secret_or_a_file_not_both(config_dir: Path, tmp_path: Path) -> None:
    result = keygen(
        "--config-dir",
        str(config_dir),
        "--secret-name",
        "x",
        "--private-key-out",
        str(tmp_path / "k.pem"),
    )
    assert result.exit_code == 2 and "not both" in result.output
