"""Shared helpers for the alert-source tests: loading the real vendor payloads."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import FIXTURES as FIXTURES_DIR


def load_fixture(path: str) -> Any:
    """The JSON-decoded fixture at `path`, relative to the fixtures dir ("aws/x.json")."""
    return json.loads((FIXTURES_DIR / path).read_text(encoding="utf-8"))


@pytest.fixture
def fixture() -> Callable[[str], Any]:
    """`fixture("alertmanager/x.json")` in a test loads that vendor payload."""
    return load_fixture


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES_DIR
