"""Integration credentials: only the functions that call vendors may read them, and only the
secrets the configuration names."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from cfn_query import all_actions
from tocsin.routes import HANDLERS, Function

from infra import stack
from infra.paths import CONFIG_DIR
from tests.infra.test_infra_functions import role_statements

pytestmark = pytest.mark.xdist_group("synth")

READERS = {Function.WORKFLOW, Function.SWEEPER, Function.API}


def test_the_shipped_configuration_names_no_secret_so_no_function_reads_any(
    template_json: dict[str, Any],
) -> None:
    assert stack.integration_secrets() == []
    for name in HANDLERS:
        assert not any(
            a.startswith("secretsmanager:")
            for a in all_actions(role_statements(template_json, name))
        )


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
    monkeypatch.setattr(stack, "integration_secrets", lambda: names)
    app = stack.create_app(outdir=str(tmp_path / "cdk.out"))
    template = dict(app.synth().get_stack_by_name(stack.STACK_NAME).template)
    for name in HANDLERS:
        statements = [
            s
            for s in role_statements(template, name)
            if any(str(a).startswith("secretsmanager:") for a in _list(s["Action"]))
        ]
        if name not in READERS:
            assert statements == [], name
            continue
        (statement,) = statements
        assert _list(statement["Action"]) == ["secretsmanager:GetSecretValue"]
        arns = [str(r) for r in _list(statement["Resource"])]
        assert len(arns) == 2 and all("*" not in a for a in arns), arns
        assert any(":secret:tocsin/jira-??????" in a for a in arns), arns


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
