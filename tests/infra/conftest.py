"""Shared, expensive things for the infrastructure tests: built once per session.

Synthesis costs seconds, so the app is synthesized once and every template test reads the
same template. (Tests here are marked `xdist_group("synth")`, so xdist runs them in one worker.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # as the Makefile
REPO_ROOT = Path(__file__).resolve().parents[2]

from aws_cdk import App, cx_api  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from infra.bundling import LAMBDA_ARM64, Bundle, build_bundle, host_platform  # noqa: E402
from infra.stack import STACK_NAME, create_app  # noqa: E402


@pytest.fixture(scope="session")
def lambda_bundle() -> Bundle:
    """The bundle that is deployed (aarch64 wheels)."""
    return build_bundle(LAMBDA_ARM64)


@pytest.fixture(scope="session")
def host_bundle() -> Bundle:
    """The same bundle built for this machine, so a local interpreter can import it."""
    return build_bundle(host_platform())


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> App:
    """The app with cdk-nag and cdk.json's context, exactly as `cdk synth` builds it."""
    return create_app(outdir=str(tmp_path_factory.mktemp("cdk.out")))


@pytest.fixture(scope="session")
def assembly(app: App) -> cx_api.CloudAssembly:
    """Synthesized once; validation plugins (cdk-nag) run here and raise on any finding."""
    return app.synth()


@pytest.fixture(scope="session")
def template_json(assembly: cx_api.CloudAssembly) -> dict[str, Any]:
    return dict(assembly.get_stack_by_name(STACK_NAME).template)


@pytest.fixture(scope="session")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)


@pytest.fixture(scope="session")
def validation_report(assembly: cx_api.CloudAssembly) -> dict[str, Any]:
    report = Path(assembly.directory) / "validation-report.json"
    return dict(json.loads(report.read_text())) if report.exists() else {"pluginReports": []}
