"""Durations in configuration: '90s', '30m', '2h', '1d', '1w', combinations from the largest
unit down ('1h30m', '1d12h'), ISO 8601 ('PT5M', how durations are serialized) or a number of
seconds."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator

_TERM = re.compile(r"\s*(\d+)\s*([a-zA-Z]+)\s*")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_ORDER = "wdhms"
_HELP = "a duration like '90s', '30m', '2h', '1d', '1w' or '1h30m'"


def parse_duration(value: object) -> object:
    """A timedelta from a duration string or a number of seconds (anything else is returned
    as is, for pydantic to judge). Raises ValueError for a malformed string."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        return value
    if value.strip().upper().startswith("P"):  # ISO 8601 (PT2S: how models serialize)
        return value.strip()
    if not value.strip():
        raise ValueError(f"{value!r} is not {_HELP}")
    total, position, last = 0, 0, -1
    while position < len(value):
        match = _TERM.match(value, position)
        unit = match.group(2).lower() if match else ""
        if not match or unit not in _UNITS or _ORDER.index(unit) <= last:
            raise ValueError(
                f"{value!r} is not {_HELP} (units w, d, h, m, s, each once, largest first)"
            )
        total += int(match.group(1)) * _UNITS[unit]
        last = _ORDER.index(unit)
        position = match.end()
    return timedelta(seconds=total)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
