"""Paging configuration is checked like the rest: file:line: path: message, for paging
methods, escalation policies, roles and schedules referenced from elsewhere; and the signed
tokens behind acknowledgement links and calendar feeds."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from tocsin.config_loader import load_config
from tocsin.domain.errors import ConfigError
from tocsin.services.signing import ExpiredTokenError, InvalidTokenError, Signer

from tests.helpers import REPO

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _problems(tmp_path: Path, edit: dict[str, object]) -> str:
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    data = yaml.safe_load((target / "oncall.yaml").read_text())
    data.update(edit)
    (target / "oncall.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        load_config(target)
    return "\n".join(err.value.problems)


def test_paging_methods_are_checked_against_their_adapters(tmp_path: Path) -> None:
    text = _problems(
        tmp_path,
        {
            "paging": {
                "methods": {
                    "pager": {"provider": "local"},
                    "sms": {"provider": "ses"},
                    "email": {"provider": "ses", "options": {"colour": "red"}},
                    "pagerduty": {"provider": "pagerduty"},
                }
            }
        },
    )
    assert "paging.methods.pager: unknown paging method 'pager'" in text
    assert "paging.methods.sms.provider: sms is sent by sns, local, not 'ses'" in text
    assert "paging.methods.email.options.colour" in text
    assert "paging.methods.pagerduty.secret: pagerduty needs `secret`" in text
    assert "oncall.yaml:" in text


def test_policies_schedules_and_roles_must_exist_and_make_sense(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "config" / "oncall.yaml").read_text())
    policies = data["escalation_policies"]
    policies[0]["levels"][0]["targets"] = [{"schedule": "nobody-rota"}, {"person": "zed"}]
    roles = data["roles"]
    roles[0]["assign"] = {"SEV9": "team", "SEV1": "ghost-rota"}
    text = _problems(tmp_path, {"escalation_policies": policies, "roles": roles})
    assert "unknown schedule 'nobody-rota'" in text
    assert "unknown person 'zed'" in text
    assert "roles.0.assign.SEV9: unknown severity 'SEV9'" in text
    assert "roles.0.assign.SEV1: 'ghost-rota' is not `team` or a schedule" in text


def test_targets_and_rules_reject_nonsense(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "config" / "oncall.yaml").read_text())
    policies = data["escalation_policies"]
    policies[0]["levels"][0]["targets"] = [{"person": "alice", "schedule": "payments-primary"}]
    policies[1]["fallback_timeout"] = "2d"
    text = _problems(
        tmp_path,
        {
            "escalation_policies": policies,
            "paging": {"default_rules": [{"method": "sms", "after": -60}]},
        },
    )
    assert "exactly one of `person`, `schedule` or `service`" in text
    assert "`after` cannot be negative" in text
    assert "fallback_timeout must be between 1s and 1d" in text


# --- signed tokens ----------------------------------------------------------------------------


def test_tokens_verify_only_for_their_purpose_and_until_they_expire() -> None:
    signer = Signer([b"k" * 32])
    token = signer.sign("ack", {"i": "inc-1"}, NOW + timedelta(hours=1))
    assert signer.verify("ack", token, NOW) == {"i": "inc-1"}
    with pytest.raises(InvalidTokenError):
        signer.verify("calendar", token, NOW)  # an ack link is not a calendar feed
    with pytest.raises(ExpiredTokenError):
        signer.verify("ack", token, NOW + timedelta(hours=1))
    payload, _, signature = token.partition(".")
    for forged in (
        f"{payload}x.{signature}",
        f"{payload}.{signature[:-1]}",
        f"{payload}.é{signature[1:]}",  # not ASCII: refused, not a crash
        "no-dot",
        "",
    ):
        with pytest.raises(InvalidTokenError):
            signer.verify("ack", forged, NOW)


def test_a_rotated_key_still_verifies_links_already_sent() -> None:
    old = Signer([b"o" * 32])
    token = old.sign("ack", {"i": "inc-1"}, None)
    rotated = Signer([b"n" * 32, b"o" * 32])
    assert rotated.verify("ack", token, NOW) == {"i": "inc-1"}
    assert rotated.sign("ack", {"i": "inc-1"}, None) != token  # new links: the new key
    with pytest.raises(InvalidTokenError):
        Signer([b"n" * 32]).verify("ack", token, NOW)
    with pytest.raises(ValueError):
        Signer([b"short"])
