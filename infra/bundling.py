"""The one Lambda code asset, built without Docker at synth time.

Layout of a bundle (the Lambda task root, /var/task):

    tocsin/            the runtime package (functions/tocsin; never functions/tocsin_local)
    config/            the repository's config-as-code directory (empty when there is none)
    runbooks/          the runbook files (config `runbooks.directory`, beside config/)
    <dependencies>/    pyproject's [project].dependencies, as wheels for the target platform

Every module ships a compiled `.pyc` with an *unchecked hash*: Lambda cannot write
`__pycache__`, and zip files do not keep the mtimes a timestamp `.pyc` would be checked against.
Builds are content-addressed under `build/`, so a second synth with unchanged inputs reuses the
bundle (and the pip step is cached separately, keyed by the requirement list and platform).
"""

from __future__ import annotations

import compileall
import hashlib
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from infra.paths import BUILD_DIR, CONFIG_DIR, PYPROJECT, RUNTIME_PACKAGE_DIR

#: The Lambda runtime's Python; the `.pyc` files are only valid for this minor version.
PYTHON_VERSION = "3.11"
#: Bump when the layout or the build steps change, so cached bundles are rebuilt.
BUNDLER_REVISION = "2"
#: Where Lambda unpacks the code; compiled modules name their source files under it.
LAMBDA_TASK_ROOT = "/var/task"
#: Distributions the Lambda Python runtime already provides; never shipped in the bundle.
EXCLUDED_DISTRIBUTIONS = frozenset({"boto3", "botocore", "s3transfer"})
#: Top-level modules importable on Lambda without being in the bundle (from /var/runtime).
LAMBDA_RUNTIME_MODULES = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
)
_IGNORED_NAMES = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_IGNORED_SUFFIXES = (".pyc", ".pyo")
_STRIPPED_DIRS = ("bin",)  # console scripts: nothing can run them on Lambda


class BundleError(RuntimeError):
    """The Lambda bundle could not be built."""


@dataclass(frozen=True)
class Platform:
    """The platform wheels are installed for; `pip_tag=None` means this machine's own."""

    label: str
    pip_tag: str | None


#: exact versions of the transitive dependencies (the direct ones are pinned in pyproject.toml)
CONSTRAINTS = Path(__file__).resolve().parent / "lambda-constraints.txt"

LAMBDA_ARM64 = Platform(label="lambda-arm64", pip_tag="manylinux2014_aarch64")


def host_platform() -> Platform:
    """This machine, for tests that import the bundle in a local interpreter."""
    return Platform(label=f"host-{sys.platform}-{os.uname().machine}", pip_tag=None)


@dataclass(frozen=True)
class Bundle:
    path: Path
    key: str  # sha256 of every input; also the CDK asset hash


def runtime_requirements(pyproject: Path = PYPROJECT) -> tuple[str, ...]:
    """`[project].dependencies` of pyproject.toml: the Lambda runtime dependencies."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    return tuple(str(requirement) for requirement in project.get("dependencies", []))


def distribution_name(requirement: str) -> str:
    """PEP 503 normalised name of a requirement string (`PyYAML==6.0.4` -> `pyyaml`)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if not match:
        raise BundleError(f"cannot read a distribution name from requirement {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def build_bundle(
    platform: Platform = LAMBDA_ARM64,
    *,
    requirements: tuple[str, ...] | None = None,
    package_dir: Path = RUNTIME_PACKAGE_DIR,
    config_dir: Path = CONFIG_DIR,
    build_dir: Path = BUILD_DIR,
) -> Bundle:
    """Build (or reuse) the bundle for `platform` and return where it is."""
    _require_matching_python()
    wanted = requirements if requirements is not None else runtime_requirements()
    reqs = tuple(r for r in wanted if distribution_name(r) not in EXCLUDED_DISTRIBUTIONS)
    deps_key = _digest(
        {
            "revision": BUNDLER_REVISION,
            "python": PYTHON_VERSION,
            "platform": platform.pip_tag or platform.label,
            "requirements": sorted(reqs),
            "constraints": CONSTRAINTS.read_text() if CONSTRAINTS.exists() else "",
        }
    )
    deps_dir = _cached(
        build_dir / "lambda-deps",
        f"{platform.label}-{deps_key[:24]}",
        lambda target: _install_dependencies(platform, reqs, target),
    )

    package_files = list(_source_files(package_dir))
    config_files = list(_source_files(config_dir)) if config_dir.is_dir() else []
    runbooks_name = runbooks_directory(config_dir)
    runbooks_dir = config_dir.parent / runbooks_name
    runbook_files = list(_source_files(runbooks_dir)) if runbooks_dir.is_dir() else []
    key = _digest(
        {
            "dependencies": deps_key,
            "tocsin": _files_digest(package_dir, package_files),
            "config": _files_digest(config_dir, config_files),
            "runbooks": [runbooks_name, _files_digest(runbooks_dir, runbook_files)],
        }
    )

    def assemble(target: Path) -> None:
        shutil.copytree(deps_dir, target, copy_function=_link_or_copy, dirs_exist_ok=True)
        _copy_files(package_dir, package_files, target / package_dir.name)
        (target / "config").mkdir(exist_ok=True)
        _copy_files(config_dir, config_files, target / "config")
        # at run time the runbooks are read beside the config directory, as in the repository
        _copy_files(runbooks_dir, runbook_files, target / runbooks_name)
        _compile(target / package_dir.name, task_root=target)

    bundle_dir = _cached(build_dir / "lambda", f"{platform.label}-{key[:24]}", assemble)
    return Bundle(path=bundle_dir, key=key)


def runbooks_directory(config_dir: Path) -> str:
    """`runbooks.directory` of the configuration (default `runbooks`), read without validating
    the whole configuration (synth validates it elsewhere)."""
    import yaml

    for path in sorted(config_dir.glob("*.y*ml")) if config_dir.is_dir() else []:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        section = data.get("runbooks") if isinstance(data, dict) else None
        if isinstance(section, dict) and isinstance(section.get("directory"), str):
            return str(section["directory"])
    return "runbooks"


# --- steps ---------------------------------------------------------------------------------------
def _require_matching_python() -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if sys.implementation.name != "cpython" or running != PYTHON_VERSION:
        raise BundleError(
            f"the Lambda bundle is compiled for CPython {PYTHON_VERSION}; "
            f"this is {sys.implementation.name} {running}"
        )


def _install_dependencies(platform: Platform, requirements: tuple[str, ...], target: Path) -> None:
    if requirements:
        print(f"tocsin: installing Lambda dependencies for {platform.label}", file=sys.stderr)
        result = subprocess.run(
            [*_pip_install_command(platform, target), *requirements],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BundleError(f"pip install failed for {platform.label}:\n{result.stderr}")
    _strip(target)
    _compile(target, task_root=target)


def _pip_install_command(platform: Platform, target: Path) -> list[str]:
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-input",
        "--disable-pip-version-check", "--no-compile", "--only-binary=:all:",
        "--implementation", "cp", "--python-version", PYTHON_VERSION,
        "--target", str(target),
    ]  # fmt: skip
    if platform.pip_tag:
        command += ["--platform", platform.pip_tag]
    if CONSTRAINTS.exists():
        command += ["--constraint", str(CONSTRAINTS)]
    return command


def _strip(target: Path) -> None:
    """Drop what Lambda provides or cannot use; dist-info stays (importlib.metadata reads it)."""
    for name in _STRIPPED_DIRS:
        shutil.rmtree(target / name, ignore_errors=True)
    for entry in list(target.iterdir()):
        name = entry.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        if re.sub(r"[-_.]+", "-", name).lower() in EXCLUDED_DISTRIBUTIONS:
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _compile(root: Path, *, task_root: Path) -> None:
    """Unchecked-hash .pyc for every module under `root`, naming sources under /var/task."""
    ok = compileall.compile_dir(
        root,
        quiet=1,
        workers=0,
        stripdir=str(task_root),
        prependdir=LAMBDA_TASK_ROOT,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise BundleError(f"compileall failed under {root}")


# --- content-addressed cache ---------------------------------------------------------------------
def _cached(parent: Path, name: str, build: Callable[[Path], None]) -> Path:
    """`parent/name`, built by `build` into a temporary sibling and renamed into place (atomic:
    a concurrent synth never sees half a build). Other builds for the platform are pruned."""
    final = parent / name
    if final.is_dir():
        return final
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=parent))
    try:
        build(tmp)
        tmp.rename(final)
    except OSError:
        if not final.is_dir():  # otherwise a concurrent build won the rename: use it
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    platform_label = name.rsplit("-", 1)[0]
    for stale in parent.glob(f"{platform_label}-*"):
        if stale != final:
            shutil.rmtree(stale, ignore_errors=True)
    return final


# --- files ---------------------------------------------------------------------------------------
def _source_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_NAMES)
        for name in sorted(filenames):
            if not name.endswith(_IGNORED_SUFFIXES):
                yield Path(dirpath, name)


def _files_digest(root: Path, files: Iterable[Path]) -> str:
    hasher = hashlib.sha256()
    for path in files:
        hasher.update(f"\0{path.relative_to(root).as_posix()}\0".encode())
        hasher.update(path.read_bytes())
    return hasher.hexdigest()


def _copy_files(root: Path, files: Iterable[Path], target: Path) -> None:
    for path in files:
        destination = target / path.relative_to(root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)


def _link_or_copy(source: str, destination: str) -> None:
    """Hard-link cached dependency files (fast, no extra space); copy across file systems."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
