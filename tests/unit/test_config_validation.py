"""`tocsin config validate`: precise errors with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from tocsin.config_loader import load_config
from tocsin.domain.errors import ConfigError
from tocsin_local.cli import main

from tests.helpers import REPO


def write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


def test_the_shipped_configuration_is_valid() -> None:
    result = CliRunner().invoke(main, ["config", "validate", str(REPO / "config")])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_errors_name_the_file_the_line_and_the_field(tmp_path: Path) -> None:
    write(
        tmp_path,
        "severities.yaml",
        "severities:\n  - name: SEV1\n    auto_resolve_after: soon\ndefault_severity: SEV1\n",
    )
    write(tmp_path, "intake.yaml", "grouping:\n  - name: g\n    by: []\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    problems = err.value.problems
    assert any(
        p.startswith(f"{tmp_path}/severities.yaml:3: severities.0.auto_resolve_after")
        for p in problems
    ), problems
    assert any(p.startswith(f"{tmp_path}/intake.yaml:3: grouping.0.by") for p in problems), problems


def test_unknown_keys_and_cross_references_are_reported(tmp_path: Path) -> None:
    write(
        tmp_path,
        "severities.yaml",
        "severities:\n  - name: SEV1\ndefault_severity: SEV9\nseverity_rule: []\n",
    )
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert "severities.yaml:4: severity_rule: Extra inputs are not permitted" in "\n".join(
        err.value.problems
    )
    (tmp_path / "severities.yaml").write_text(
        "severities:\n  - name: SEV1\ndefault_severity: SEV9\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert "default_severity 'SEV9' is not one of ['SEV1']" in err.value.problems[0]


def test_invalid_yaml_and_duplicate_keys(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "severities: [\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert err.value.problems[0].startswith(f"{tmp_path}/a.yaml:")
    assert "invalid YAML" in err.value.problems[0]
    (tmp_path / "a.yaml").write_text("default_severity: SEV1\n")
    write(tmp_path, "b.yaml", "default_severity: SEV2\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert "defined in more than one file" in err.value.problems[0]


def test_cli_prints_problems_and_exits_1(tmp_path: Path) -> None:
    write(tmp_path, "severities.yaml", "severities: []\ndefault_severity: SEV1\n")
    result = CliRunner().invoke(main, ["config", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "severities.yaml:1: severities" in result.output
