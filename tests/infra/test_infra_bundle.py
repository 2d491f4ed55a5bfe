"""The Lambda bundle is complete, compiled for the runtime, and holds nothing it should not."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from bundle_imports import UnresolvedImport, unresolved_imports
from tocsin.routes import HANDLERS
from tocsin.settings import ENV_BUCKET, ENV_STATE_MACHINE, ENV_TABLE

from infra.bundling import (
    EXCLUDED_DISTRIBUTIONS,
    LAMBDA_RUNTIME_MODULES,
    Bundle,
    build_bundle,
    distribution_name,
    runtime_requirements,
)
from infra.paths import REPO_ROOT

pytestmark = pytest.mark.xdist_group("synth")

PYC_UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, do not check the source


def python_sources(bundle: Bundle) -> list[Path]:
    return sorted(bundle.path.rglob("*.py"))


# --- what is in it --------------------------------------------------------------------------------
def test_dependencies_are_exactly_pyprojects_runtime_dependencies(lambda_bundle: Bundle) -> None:
    installed = {
        distribution_name(p.name.removesuffix(".dist-info").rsplit("-", 1)[0])
        for p in lambda_bundle.path.glob("*.dist-info")
    }
    wanted = {distribution_name(r) for r in runtime_requirements()}
    assert wanted, "pyproject.toml lists the Lambda runtime dependencies"
    assert wanted <= installed
    assert not installed & EXCLUDED_DISTRIBUTIONS


def test_runtime_provided_sdk_is_not_shipped(lambda_bundle: Bundle) -> None:
    for name in ("boto3", "botocore", "s3transfer"):
        assert not (lambda_bundle.path / name).exists(), f"{name} comes with the Lambda runtime"


def test_extension_modules_are_built_for_lambda_arm64(lambda_bundle: Bundle) -> None:
    extensions = list(lambda_bundle.path.rglob("*.so"))
    assert extensions, "pydantic-core ships a compiled extension"
    for extension in extensions:
        assert "aarch64" in extension.name or "abi3" in extension.name, extension.name
        assert "x86_64" not in extension.name, extension.name


def test_bundle_holds_the_runtime_package_and_config_but_no_local_mode(
    lambda_bundle: Bundle,
) -> None:
    root = lambda_bundle.path
    assert (root / "tocsin" / "routes.py").is_file()
    assert (root / "config").is_dir()
    assert not list(root.rglob("tocsin_local*"))
    for source in python_sources(lambda_bundle):
        assert b"tocsin_local" not in source.read_bytes(), f"{source} mentions tocsin_local"


def test_bundle_holds_the_runbooks_beside_config(lambda_bundle: Bundle) -> None:
    """The API renders repository runbooks and ranks them: they ship like the config."""
    shipped = {p.name for p in (lambda_bundle.path / "runbooks").glob("*.md")}
    assert shipped == {p.name for p in (REPO_ROOT / "runbooks").glob("*.md")}
    assert "checkout-latency.md" in shipped


def test_every_module_has_an_unchecked_hash_pyc_for_the_runtime_python(
    lambda_bundle: Bundle,
) -> None:
    for source in python_sources(lambda_bundle):
        compiled = Path(importlib.util.cache_from_source(str(source)))
        assert compiled.is_file(), f"no .pyc for {source.relative_to(lambda_bundle.path)}"
        header = compiled.read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER, f"{compiled} is for another Python"
        assert int.from_bytes(header[4:8], "little") == PYC_UNCHECKED_HASH, compiled


# --- statically complete --------------------------------------------------------------------------
def test_every_import_reachable_from_tocsin_resolves_in_the_bundle(lambda_bundle: Bundle) -> None:
    assert unresolved_imports(lambda_bundle.path) == []


def test_the_import_check_reports_missing_and_ignores_guarded_imports(tmp_path: Path) -> None:
    """Negative control for the check above, on a tiny fake bundle."""
    package = tmp_path / "tocsin"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text(
        textwrap.dedent(
            """
            import json, boto3, requests
            from typing import TYPE_CHECKING
            from . import helpers
            from .missing import thing
            try:
                import ujson
            except ImportError:
                ujson = None
            if TYPE_CHECKING:
                import mypy_boto3_s3
            def later():
                import jwt
            """
        )
    )
    (package / "helpers.py").write_text("import yaml\n")
    (tmp_path / "yaml").mkdir()
    (tmp_path / "yaml" / "__init__.py").write_text("import optional_extra_nobody_uses\n")

    found = {problem.module for problem in unresolved_imports(tmp_path)}

    assert found == {"requests", "tocsin.missing", "jwt", "optional_extra_nobody_uses"}
    assert isinstance(unresolved_imports(tmp_path)[0], UnresolvedImport)


# --- dynamically complete -------------------------------------------------------------------------
IMPORT_PROBE = """
import importlib, importlib._bootstrap_external as external, json, sys
bundle, runtime, handler = sys.argv[1:4]
sys.path[:0] = [bundle, runtime]          # /var/task first, then the runtime's boto3
compiled_from_source = []
original = external.SourceLoader.source_to_code
def spy(self, data, path, *args, **kwargs):
    compiled_from_source.append(path)
    return original(self, data, path, *args, **kwargs)
external.SourceLoader.source_to_code = spy
module_name, attribute = handler.rsplit(".", 1)
module = importlib.import_module(module_name)
assert callable(getattr(module, attribute)), f"{handler} is not callable"
stdlib = (sys.base_prefix, sys.base_exec_prefix)
outside = sorted(
    name for name, m in sys.modules.items()
    if getattr(m, "__file__", None)
    and not m.__file__.startswith((bundle, runtime, *stdlib))
)
print(json.dumps({"outside": outside, "compiled_from_source":
      [p for p in compiled_from_source if p.startswith(bundle)], "isolated": sys.flags.isolated}))
"""


#: Isolated (-I: no environment, no user site), no site-packages (-S), writes no .pyc (-B).
PROBE_COMMAND = (sys.executable, "-I", "-S", "-B", "-c", IMPORT_PROBE)


@pytest.fixture(scope="module")
def runtime_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stands in for Lambda's /var/runtime: boto3 and its dependencies, nothing else."""
    site = tmp_path_factory.mktemp("lambda-runtime")
    for name in sorted(LAMBDA_RUNTIME_MODULES):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, f"{name} must be installed in the venv"
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (site / source.name).symlink_to(source)
    return site


@pytest.mark.parametrize("handler", sorted(HANDLERS.values()))
def test_handler_imports_in_an_isolated_interpreter_from_the_bundle_alone(
    handler: str, host_bundle: Bundle, runtime_site: Path
) -> None:
    environment = {
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "tocsin-import-probe",
        "POWERTOOLS_SERVICE_NAME": "tocsin",
        "POWERTOOLS_METRICS_NAMESPACE": "Tocsin",
        "LOG_LEVEL": "INFO",
        ENV_TABLE: "tocsin-table",
        ENV_BUCKET: "tocsin-artifacts",
        ENV_STATE_MACHINE: "arn:aws:states:us-east-1:123456789012:stateMachine:tocsin",
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    result = subprocess.run(
        [*PROBE_COMMAND, str(host_bundle.path), str(runtime_site), handler],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"importing {handler} failed:\n{result.stderr}"
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["isolated"] == 1
    assert probe["outside"] == [], "modules came from outside the bundle and runtime"
    assert probe["compiled_from_source"] == [], "the shipped .pyc files were not used"


# --- built once -----------------------------------------------------------------------------------
def test_second_build_reuses_the_cached_bundle_without_pip(
    lambda_bundle: Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pip(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip ran although nothing changed")

    monkeypatch.setattr(subprocess, "run", no_pip)

    again = build_bundle()

    assert again == lambda_bundle


def test_a_changed_source_file_gives_a_new_bundle_key(tmp_path: Path) -> None:
    package = tmp_path / "tocsin"
    package.mkdir()
    (package / "__init__.py").write_text("VALUE = 1\n")
    first = build_bundle(requirements=(), package_dir=package, build_dir=tmp_path / "build")
    (package / "__init__.py").write_text("VALUE = 2\n")
    second = build_bundle(requirements=(), package_dir=package, build_dir=tmp_path / "build")

    assert first.key != second.key
    assert (second.path / "tocsin" / "__init__.py").read_text() == "VALUE = 2\n"
    assert not first.path.exists(), "superseded bundles are pruned"
