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
ENV_ESCALATION_STATE_MACHINE = "TOCSIN_ESCALATION_STATE_MACHINE_ARN"
#: Secrets Manager secret {"key": ..., "previous_key": ...} that signs ack and calendar links
ENV_SIGNING_SECRET = "TOCSIN_SIGNING_KEY_NAME"
#: the API's public base URL (links in pages and calendar feeds)
ENV_PUBLIC_URL = "TOCSIN_PUBLIC_URL"
#: the bucket status pages are published to (served by CloudFront; default: the artifact bucket)
ENV_STATUS_BUCKET = "TOCSIN_STATUS_BUCKET"
#: the status pages' public base URL (the CloudFront distribution or your own domain)
ENV_STATUS_URL = "TOCSIN_STATUS_URL"
#: Secrets Manager secret {"private_key": PEM} (and "previous_private_key" during a rotation:
#: services/cloudfront_cookies.signing_key_from_secret picks) that signs the CloudFront cookies
#: of private status pages
ENV_STATUS_COOKIE_SECRET = "TOCSIN_STATUS_COOKIE_KEY_NAME"
#: the id of the CloudFront public key those cookies name (CloudFront-Key-Pair-Id)
ENV_STATUS_KEY_PAIR_ID = "TOCSIN_STATUS_KEY_PAIR_ID"
#: the SQS queue chat-ops requests are put on once acknowledged (the chatops function
#: consumes it)
ENV_CHATOPS_QUEUE = "TOCSIN_CHATOPS_QUEUE_URL"


@dataclass(frozen=True)
class Settings:
    table_name: str
    artifact_bucket: str
    state_machine_arn: str
    config_dir: Path
    escalation_state_machine_arn: str = ""
    signing_secret: str = ""
    public_url: str = ""
    status_bucket: str = ""
    status_url: str = ""
    status_cookie_secret: str = ""
    status_key_pair_id: str = ""
    chatops_queue_url: str = ""


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
        escalation_state_machine_arn=os.environ.get(ENV_ESCALATION_STATE_MACHINE, ""),
        signing_secret=os.environ.get(ENV_SIGNING_SECRET, ""),
        public_url=os.environ.get(ENV_PUBLIC_URL, ""),
        status_bucket=os.environ.get(ENV_STATUS_BUCKET) or os.environ[ENV_BUCKET],
        status_url=os.environ.get(ENV_STATUS_URL, ""),
        status_cookie_secret=os.environ.get(ENV_STATUS_COOKIE_SECRET, ""),
        status_key_pair_id=os.environ.get(ENV_STATUS_KEY_PAIR_ID, ""),
        chatops_queue_url=os.environ.get(ENV_CHATOPS_QUEUE, ""),
    )
