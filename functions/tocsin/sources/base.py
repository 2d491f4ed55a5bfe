"""What every alert source module provides.

A source module (one per monitoring system) holds:
- its pydantic payload model(s), following the vendor's published format;
- `parse(body, headers) -> SourceResult`: validate and normalize into `Alert`s, raising
  `PayloadFormatError` (naming the field and the problem) for anything that does not match;
- the fingerprint (identity across deliveries), group key and resolve condition.

Modules are imported lazily by name (see `tocsin.sources.get_source`) so the intake Lambda
only pays for the source it is serving.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol, TypeVar

from pydantic import BaseModel, BeforeValidator, Field, ValidationError

from tocsin.domain.alerts import Alert
from tocsin.domain.errors import PayloadFormatError


@dataclass(frozen=True)
class SourceResult:
    alerts: list[Alert] = field(default_factory=list)
    #: SNS SubscriptionConfirmation: the URL to GET to confirm the subscription
    confirm_subscription_url: str | None = None
    #: a payload the source sends that carries no alert (e.g. an SNS UnsubscribeConfirmation)
    ignored_reason: str | None = None


class SourceModule(Protocol):
    SOURCE: str

    def parse(self, body: Any, headers: Mapping[str, str]) -> SourceResult: ...


M = TypeVar("M", bound=BaseModel)


def validate(source: str, model: type[M], body: Any) -> M:
    """Validate `body` against `model`, turning pydantic's error into a PayloadFormatError."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise PayloadFormatError(source, describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{loc}: {err['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def parse_time(value: str | int | float | None) -> datetime | None:
    """Vendor timestamps: ISO-8601 strings (Go's zero time means 'unset') or epoch s/ms."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        num = float(value)
        if num > 1e11:  # milliseconds
            num /= 1000.0
        try:
            return datetime.fromtimestamp(num, UTC)
        except (OverflowError, OSError, ValueError):  # out of range, NaN, inf
            return None
    text = str(value)
    if text.startswith("0001-01-01"):
        return None
    # Go emits nanoseconds; Python parses at most microseconds
    if "." in text:
        head, _, tail = text.partition(".")
        zone = tail.lstrip("0123456789")  # only the fraction's digits, not the offset's
        digits = tail[: len(tail) - len(zone)]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- pydantic field types shared by the source models -------------------------------------


def _vendor_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("expected an ISO-8601 timestamp or epoch seconds/milliseconds")
    parsed = parse_time(value)
    if parsed is None and value != "" and not str(value).startswith("0001-01-01"):
        raise ValueError(f"not a valid timestamp: {str(value)[:40]!r}")
    return parsed


#: A vendor timestamp (see `parse_time`): unset ("", null, Go's zero time) is None; anything
#: else that does not parse is a validation error naming the field.
VendorTime = Annotated[datetime | None, BeforeValidator(_vendor_time)]


def _label_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise ValueError("expected a string, number or boolean")
    return value


#: A label value: strings as they are, numbers and booleans as text ("3", "true").
LabelText = Annotated[str, BeforeValidator(_label_text)]


def _identifier(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


#: An id the vendor may send as a string or an integer; always text, usable as a fingerprint.
Identifier = Annotated[str, Field(min_length=1, max_length=255), BeforeValidator(_identifier)]
