"""CloudFront signed cookies (custom policy) for private status pages: issue, and check them as
CloudFront does (local mode emulates CloudFront with `verify_cookies`).

Format (Amazon CloudFront Developer Guide, "Set signed cookies using a custom policy"):

- `CloudFront-Policy`: the policy statement, JSON without whitespace,
  `{"Statement":[{"Resource":"<url, * and ? wildcards>","Condition":{"DateLessThan":
  {"AWS:EpochTime":<int>}, ...}}]}`, in CloudFront's URL-safe base64;
- `CloudFront-Signature`: RSA (PKCS#1 v1.5) signature of the policy bytes with SHA-1, in
  CloudFront's URL-safe base64 (an optional `CloudFront-Hash-Algorithm: SHA256` cookie selects
  SHA-256 instead; `verify_cookies` honours it, `sign_cookies` uses the SHA-1 default);
- `CloudFront-Key-Pair-Id`: the id of the CloudFront public key (in the distribution's trusted
  key group) whose private key signed.

CloudFront's base64 is standard base64 with `+` -> `-`, `=` -> `_` and `/` -> `~`. The policy is
built exactly as botocore's `CloudFrontSigner.build_policy` builds it (same key order).

The private key lives in a Secrets Manager secret, `{"private_key": "<PEM>"}`, written by
`tocsin statuspage keygen` (plus `"previous_private_key"` after a rotation, until the stack is
deployed with the new public key). `signing_key_from_secret` picks the one that matches the
public key deployed with the functions (`config/statuspage-cookies.pub.pem`), so a rotation
never signs with a key CloudFront does not trust yet.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

COOKIE_POLICY = "CloudFront-Policy"
COOKIE_SIGNATURE = "CloudFront-Signature"
COOKIE_KEY_PAIR_ID = "CloudFront-Key-Pair-Id"
COOKIE_HASH_ALGORITHM = "CloudFront-Hash-Algorithm"
#: a canned-policy cookie (not issued by Tocsin; `verify_cookies` rejects it)
COOKIE_EXPIRES = "CloudFront-Expires"
#: the public key file in the configuration directory (the stack's key group trusts it)
PUBLIC_KEY_FILE = "statuspage-cookies.pub.pem"
#: keys of the Secrets Manager secret that holds the private key
SECRET_PRIVATE_KEY = "private_key"
SECRET_PREVIOUS_PRIVATE_KEY = "previous_private_key"
#: CloudFront accepts RSA 2048 public keys in key groups (and ECDSA P-256, not used here)
KEY_SIZE = 2048
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"SHA1": hashes.SHA1, "SHA256": hashes.SHA256}
_CONDITIONS = frozenset({"DateLessThan", "DateGreaterThan", "IpAddress"})


# --- keys -------------------------------------------------------------------------------------
def generate_key_pair() -> tuple[bytes, bytes]:
    """A new RSA 2048 key pair: (private key PEM, PKCS#8 unencrypted; public key PEM,
    SubjectPublicKeyInfo `-----BEGIN PUBLIC KEY-----`, the encoding CloudFront takes)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private_pem, _public_pem(key.public_key())


def load_private_key(private_key_pem: bytes | str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(_bytes(private_key_pem), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the CloudFront cookie key must be an RSA private key")
    return key


def load_public_key(public_key_pem: bytes | str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(_bytes(public_key_pem))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the CloudFront cookie key must be an RSA public key")
    return key


def normalize_public_key(public_key_pem: bytes | str) -> bytes:
    """The RSA public key re-encoded as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`,
    the only PEM form CloudFront takes); ValueError when it is not an RSA public key."""
    return _public_pem(load_public_key(public_key_pem))


def public_key_of(private_key_pem: bytes | str) -> bytes:
    """The public key PEM of a private key."""
    return _public_pem(load_private_key(private_key_pem).public_key())


def fingerprint(public_key_pem: bytes | str) -> str:
    """SHA-256 (hex) of the public key's DER SubjectPublicKeyInfo: the same key gives the same
    fingerprint whatever its PEM line breaks."""
    der = load_public_key(public_key_pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def signing_key_from_secret(secret: Mapping[str, Any], public_key_pem: bytes | str | None) -> bytes:
    """The private key PEM to sign with, from the secret's `private_key` and (during a rotation)
    `previous_private_key`: the one whose public key is `public_key_pem` (the key the deployed
    stack's key group trusts). Without a public key to match, `private_key`."""
    candidates = [
        secret[name]
        for name in (SECRET_PRIVATE_KEY, SECRET_PREVIOUS_PRIVATE_KEY)
        if isinstance(secret.get(name), str) and secret[name]
    ]
    if not candidates:
        raise ValueError(f"the cookie secret has no {SECRET_PRIVATE_KEY!r}")
    if public_key_pem is None:
        return _bytes(candidates[0])
    wanted = fingerprint(public_key_pem)
    for candidate in candidates:
        if fingerprint(public_key_of(candidate)) == wanted:
            return _bytes(candidate)
    raise ValueError(
        "no private key in the cookie secret matches the deployed public key "
        f"({PUBLIC_KEY_FILE}): run `tocsin statuspage keygen` and deploy"
    )


# --- signing ----------------------------------------------------------------------------------
def build_policy(
    resource: str,
    expires: datetime,
    *,
    starts: datetime | None = None,
    ip_address: str | None = None,
) -> str:
    """The custom policy statement, compact JSON (the bytes that are signed)."""
    condition: dict[str, Any] = {"DateLessThan": {"AWS:EpochTime": _epoch(expires)}}
    if ip_address:
        network = ipaddress.ip_network(
            ip_address if "/" in ip_address else f"{ip_address}/32", strict=False
        )
        condition["IpAddress"] = {"AWS:SourceIp": str(network)}
    if starts is not None:
        condition["DateGreaterThan"] = {"AWS:EpochTime": _epoch(starts)}
    policy = {"Statement": [{"Resource": resource, "Condition": condition}]}
    return json.dumps(policy, separators=(",", ":"))


def sign_cookies(
    private_key_pem: bytes,
    key_pair_id: str,
    resource: str,
    expires: datetime,
    *,
    starts: datetime | None = None,
    ip_address: str | None = None,
) -> dict[str, str]:
    """The three cookie values that let a viewer read `resource` (which may contain `*` and `?`
    wildcards, e.g. `https://d111.cloudfront.net/status/internal/*`) until `expires`."""
    if not key_pair_id:
        raise ValueError("key_pair_id is required (the CloudFront public key's id)")
    policy = build_policy(resource, expires, starts=starts, ip_address=ip_address).encode()
    signature = load_private_key(private_key_pem).sign(policy, padding.PKCS1v15(), hashes.SHA1())
    return {
        COOKIE_POLICY: cloudfront_b64encode(policy),
        COOKIE_SIGNATURE: cloudfront_b64encode(signature),
        COOKIE_KEY_PAIR_ID: key_pair_id,
    }


def cloudfront_b64encode(data: bytes) -> str:
    return (
        base64.b64encode(data).decode("ascii").replace("+", "-").replace("=", "_").replace("/", "~")
    )


def cloudfront_b64decode(value: str) -> bytes:
    standard = value.replace("-", "+").replace("_", "=").replace("~", "/")
    return base64.b64decode(standard.encode("ascii"), validate=True)


# --- verifying (what CloudFront does) -----------------------------------------------------------
def verify_cookies(
    public_key_pem: bytes,
    cookies: Mapping[str, str],
    url: str,
    now: datetime,
    key_pair_id: str | None = None,
    *,
    source_ip: str | None = None,
) -> bool:
    """Whether CloudFront would serve `url` (scheme, host, path and query) at `now` to a viewer
    sending `cookies`: the signature over the policy is valid for `public_key_pem`, the key pair
    id is `key_pair_id` (when given), the policy's Resource matches `url` (`*`: any characters,
    `?`: one character), DateLessThan has not passed and DateGreaterThan has. A policy with an
    IpAddress condition is honoured when `source_ip` is given and rejected otherwise. Canned
    policies (`CloudFront-Expires`), unknown conditions and malformed values are rejected."""
    try:
        return _verify(public_key_pem, cookies, url, now, key_pair_id, source_ip)
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeError):
        return False


def _verify(
    public_key_pem: bytes,
    cookies: Mapping[str, str],
    url: str,
    now: datetime,
    key_pair_id: str | None,
    source_ip: str | None,
) -> bool:
    encoded_policy = cookies.get(COOKIE_POLICY)
    encoded_signature = cookies.get(COOKIE_SIGNATURE)
    cookie_key_id = cookies.get(COOKIE_KEY_PAIR_ID)
    if not encoded_policy or not encoded_signature or not cookie_key_id:
        return False
    if key_pair_id is not None and cookie_key_id != key_pair_id:
        return False
    algorithm = _HASHES.get(cookies.get(COOKIE_HASH_ALGORITHM) or "SHA1")
    if algorithm is None:
        return False
    policy = cloudfront_b64decode(encoded_policy)
    signature = cloudfront_b64decode(encoded_signature)
    try:
        load_public_key(public_key_pem).verify(signature, policy, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        return False
    statements = json.loads(policy)["Statement"]
    if not isinstance(statements, list) or len(statements) != 1:
        return False
    [statement] = statements
    resource, condition = statement["Resource"], statement["Condition"]
    if not isinstance(resource, str) or not isinstance(condition, dict):
        return False
    if set(condition) - _CONDITIONS or "DateLessThan" not in condition:
        return False
    moment = _epoch(now)
    if not moment < _epoch_value(condition["DateLessThan"]):
        return False
    if "DateGreaterThan" in condition and moment < _epoch_value(condition["DateGreaterThan"]):
        return False
    if "IpAddress" in condition:
        allowed = ipaddress.ip_network(condition["IpAddress"]["AWS:SourceIp"], strict=False)
        if source_ip is None or ipaddress.ip_address(source_ip) not in allowed:
            return False
    return resource_matches(resource, url)


def resource_matches(resource: str, url: str) -> bool:
    """CloudFront's wildcard match of a policy Resource against a URL (case-sensitive)."""
    pattern = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in resource
    )
    return re.fullmatch(pattern, url, flags=re.DOTALL) is not None


# --- helpers ----------------------------------------------------------------------------------
def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("use a timezone-aware datetime (UTC)")
    return int(moment.timestamp())


def _epoch_value(value: Any) -> int:
    epoch = value["AWS:EpochTime"]
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        raise ValueError("AWS:EpochTime must be an integer")
    return epoch


def _public_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _bytes(value: bytes | str) -> bytes:
    return value.encode("ascii") if isinstance(value, str) else value
