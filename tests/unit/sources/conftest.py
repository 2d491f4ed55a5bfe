"""Shared helpers for the alert-source tests: loading the vendor payloads in shared/fixtures."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

#: real vendor payloads (see SOURCES.md there); TOCSIN_FIXTURES overrides the location
FIXTURES_DIR = Path(
    os.environ.get("TOCSIN_FIXTURES")
    or Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"
)


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
