"""Thin helpers over the low-level DynamoDB client: (de)serialization and error checks."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from tocsin.domain.errors import InvalidRequestError

_SER = TypeSerializer()
_DESER = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def ser(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _SER.serialize(_to_dynamo(v)) for k, v in item.items() if v is not None}


def ser_value(value: Any) -> dict[str, Any]:
    serialized: dict[str, Any] = _SER.serialize(_to_dynamo(value))  # type: ignore[assignment]
    return serialized


def deser(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_DESER.deserialize(v)) for k, v in item.items()}


def is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def cancellation_codes(exc: ClientError) -> list[str]:
    """Per-item reasons of a TransactionCanceledException ('None' for items that were fine)."""
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return []
    reasons = exc.response.get("CancellationReasons") or []
    if reasons:
        return [str(reason.get("Code", "None")) for reason in reasons]
    # some backends only put the reasons in the message: "... [ConditionalCheckFailed, None]"
    message = exc.response.get("Error", {}).get("Message", "")
    if "[" in message:
        inner = message[message.rindex("[") + 1 : message.rindex("]")]
        return [part.strip() for part in inner.split(",")]
    return []


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, json.JSONDecodeError):
        raise InvalidRequestError("invalid pagination cursor") from None


def _is_key(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    )


def decode_key_cursor(cursor: str, required: tuple[str, ...] = ("pk", "sk")) -> dict[str, str]:
    """A cursor that is one DynamoDB key (as our pages return them), or a 400."""
    value = decode_cursor(cursor)
    if not _is_key(value) or any(name not in value for name in required):
        raise InvalidRequestError("invalid pagination cursor")
    return dict(value)


def decode_keys_cursor(cursor: str, partitions: set[str]) -> dict[str, dict[str, str]]:
    """A cursor of several partitions' keys (merged listings), or a 400."""
    value = decode_cursor(cursor)
    if not isinstance(value, dict) or not all(
        k in partitions and _is_key(v) for k, v in value.items()
    ):
        raise InvalidRequestError("invalid pagination cursor")
    return dict(value)


def query_all(ddb: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item a Query finds, following its pages, deserialized."""
    items: list[dict[str, Any]] = []
    while True:
        resp = ddb.query(**kwargs)
        items += [deser(raw) for raw in resp.get("Items", [])]
        if "LastEvaluatedKey" not in resp:
            return items
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
