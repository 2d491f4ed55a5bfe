"""Where things live in the repository (independent of the current working directory)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = REPO_ROOT / "pyproject.toml"
FUNCTIONS_DIR = REPO_ROOT / "functions"
RUNTIME_PACKAGE_DIR = FUNCTIONS_DIR / "tocsin"
CONFIG_DIR = REPO_ROOT / "config"
STATEMACHINES_DIR = REPO_ROOT / "statemachines"
RESPONSE_ASL = STATEMACHINES_DIR / "response.asl.json"
ESCALATION_ASL = STATEMACHINES_DIR / "escalation.asl.json"
BUILD_DIR = REPO_ROOT / "build"
CDK_JSON = REPO_ROOT / "cdk.json"
