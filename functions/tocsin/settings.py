"""Runtime settings from the environment, read on first use (never at import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ENV_TABLE = "TOCSIN_TABLE"
ENV_BUCKET = "TOCSIN_ARTIFACT_BUCKET"
ENV_STATE_MACHINE = "TOCSIN_STATE_MACHINE_ARN"
ENV_CONFIG_DIR = "TOCSIN_CONFIG_DIR"


@dataclass(frozen=True)
class Settings:
    table_name: str
    artifact_bucket: str
    state_machine_arn: str
    config_dir: Path


def _default_config_dir() -> Path:
    here = Path(__file__).resolve().parent
    # Lambda bundle: /var/task/config beside the package; repository: <repo>/config
    for candidate in (here.parent / "config", here.parent.parent / "config"):
        if candidate.is_dir():
            return candidate
    return here.parent.parent / "config"


@cache
def get_settings() -> Settings:
    missing = [name for name in (ENV_TABLE, ENV_BUCKET) if not os.environ.get(name)]
    if missing:
        raise RuntimeError(f"missing environment variables: {', '.join(missing)}")
    config_dir = os.environ.get(ENV_CONFIG_DIR)
    return Settings(
        table_name=os.environ[ENV_TABLE],
        artifact_bucket=os.environ[ENV_BUCKET],
        state_machine_arn=os.environ.get(ENV_STATE_MACHINE, ""),
        config_dir=Path(config_dir) if config_dir else _default_config_dir(),
    )
