"""Integration credentials: only the functions that call vendors may read them, and only the
secrets the configuration names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cfn_query import as_list, resources, target
from tocsin.routes import HANDLERS, Function

from infra import stack
from infra.paths import CONFIG_DIR
from tests.infra.test_infra_functions import role_statements

pytestmark = pytest.mark.xdist_group("synth")

READERS = {Function.WORKFLOW, Function.SWEEPER, Function.API}


def cookie_secret() -> str:
    """The ARN part of private status pages' cookie key (read by the API only: see
    test_infra_statuspage.py)."""
    return f":secret:{stack.status_pages().cookie_secret}-??????"


def test_the_shipped_configuration_names_no_secret_so_functions_read_only_the_signing_key(
    template_json: dict[str, Any],
) -> None:
    assert stack.integration_secrets() == []
    (signing_id,) = resources(template_json, "AWS::SecretsManager::Secret")
    for name in HANDLERS:
        for statement in role_statements(template_json, name):
            if any(a.startswith("secretsmanager:") for a in as_list(statement["Action"])):
                if cookie_secret() in json.dumps(statement["Resource"]):
                    assert name is Function.API  # it issues private status pages' cookies
                    continue
                # the key that signs acknowledgement links and calendar URLs, nothing else
                assert target(statement["Resource"]) == signing_id, name


def test_configured_secrets_are_readable_by_the_functions_calling_vendors_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    (config / "integrations.yaml").write_text(
        "integrations:\n"
        "  chat: {provider: slack, secret: tocsin/slack}\n"
        "  ticketing:\n"
        "    provider: jira\n"
        "    secret: tocsin/jira\n"
        "    options: {base_url: 'https://acme.atlassian.net', project_key: OPS}\n"
    )
    names = stack.integration_secrets(config)
    assert names == ["tocsin/jira", "tocsin/slack"]
    # paging methods' secrets are integration secrets too
    (config / "oncall.yaml").write_text(
        (config / "oncall.yaml").read_text()
        + "\n  methods:\n    pagerduty: {provider: pagerduty, secret: tocsin/pagerduty}\n"
    )
    assert stack.integration_secrets(config) == ["tocsin/jira", "tocsin/pagerduty", "tocsin/slack"]
    monkeypatch.setattr(stack, "integration_secrets", lambda: names)
    assert stack.chat_secret(config) == "tocsin/slack"
    monkeypatch.setattr(stack, "chat_secret", lambda: "tocsin/slack")
    app = stack.create_app(outdir=str(tmp_path / "cdk.out"))
    template = dict(app.synth().get_stack_by_name(stack.STACK_NAME).template)
    (signing_id,) = resources(template, "AWS::SecretsManager::Secret")
    for name in HANDLERS:
        statements = [
            s
            for s in role_statements(template, name)
            if any(str(a).startswith("secretsmanager:") for a in _list(s["Action"]))
            and target(s["Resource"]) != signing_id  # the signing key: see the test above
        ]
        if name is Function.CHATOPS:  # the chat secret only (its Slack signing secret)
            (statement,) = statements
            assert _list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
            (arn,) = _list(statement["Resource"])
            assert ":secret:tocsin/slack-??????" in str(arn), arn
            continue
        if name not in READERS:
            assert statements == [], name
            continue
        for statement in statements:
            assert _list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
        arns = [
            str(r)
            for statement in statements
            for r in _list(statement["Resource"])
            if cookie_secret() not in str(r)  # the API's cookie key, whatever the integrations
        ]
        assert len(arns) == 2 and all("*" not in a for a in arns), arns
        assert any(":secret:tocsin/jira-??????" in a for a in arns), arns


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
