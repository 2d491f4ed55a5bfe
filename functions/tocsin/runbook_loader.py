"""Read the runbook files (`runbooks/*.md`: YAML front matter, then Markdown) and the wiki
pages of the configuration into Runbooks, with every problem as `file:line: message`.

`tocsin config validate` reports the problems (so CI catches a broken runbook); at run time
the runbooks that are fine are used and the others are skipped with a warning: one bad file
must not hide every runbook at 3 a.m.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tocsin.config_loader import Location, _locate, _walk
from tocsin.domain.config import TocsinConfig
from tocsin.domain.runbooks import RUNBOOK_ID, Runbook, RunbookMeta, RunbookSource

FENCE = "---"
logger = logging.getLogger(__name__)
KNOWN_KEYS = tuple(RunbookMeta.model_fields)
#: (service names, team names and people ids)
Known = tuple[set[str], set[str]]


def runbooks_dir(config: TocsinConfig, config_dir: Path) -> Path:
    """The runbook directory sits beside the config directory (in the repository and in the
    Lambda bundle alike)."""
    return config_dir.parent / config.runbooks.directory


_SafeBase: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster


class _FrontMatterLoader(_SafeBase):  # type: ignore[misc]
    """A safe loader that leaves dates as text: pydantic then reports `2026-02-30` on its line
    (PyYAML would raise a bare ValueError while constructing it)."""


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _lines(front: str, file: Path, first_line: int) -> dict[tuple[Any, ...], Location]:
    """The line of every key (read only when there is a problem to place)."""
    node = yaml.compose(front, Loader=_FrontMatterLoader)
    lines: dict[tuple[Any, ...], Location] = {}
    if node is not None:
        _walk(node, (), file, lines)
    return {loc: (f, line + first_line - 1) for loc, (f, line) in lines.items()}


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """(front matter, body, line of the front matter's first line), or None without one."""
    lines = text.removeprefix("\ufeff").splitlines(keepends=True)  # editors may add a BOM
    if not lines or lines[0].strip() != FENCE:
        return None
    for index in range(1, len(lines)):
        if lines[index].strip() == FENCE:
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), 2
    return None


def _message(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown front-matter key {loc!r} (known: {', '.join(KNOWN_KEYS)})"
    if err["type"] == "missing":
        return f"missing front-matter key {loc!r}"
    return f"{loc}: {err['msg']}"


def parse_runbook(
    file: Path, text: str, relative: str, known: Known | None = None
) -> tuple[Runbook | None, list[str]]:
    """One runbook file. Problems name the file and the line of the offending key; with
    `known` (services, owners) the references are checked too."""
    parts = split_front_matter(text)
    if parts is None:
        return None, [
            f"{file}:1: no front matter: start the file with a `---` line, the YAML keys "
            f"(title, services, alerts, owner, last_reviewed) and another `---` line"
        ]
    front, body, first_line = parts
    try:
        data = yaml.load(front, Loader=_FrontMatterLoader)  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = first_line + (mark.line if mark else 0)
        return None, [f"{file}:{line}: invalid YAML front matter: {getattr(exc, 'problem', exc)}"]
    if not isinstance(data, dict):
        return None, [f"{file}:{first_line}: the front matter must be a mapping of keys"]
    default = (file, first_line)
    try:
        meta = RunbookMeta.model_validate(data)
    except ValidationError as exc:
        lines = _lines(front, file, first_line)
        problems = []
        for err in exc.errors():
            where, line = _locate(tuple(err["loc"]), lines, default)
            problems.append(f"{where}:{line}: {_message(dict(err))}")
        return None, problems
    runbook_id = meta.id or file.stem.lower()
    if not re.match(RUNBOOK_ID, runbook_id):
        return None, [
            f"{file}:{first_line}: the file name {file.name!r} is not a valid runbook id: "
            "set `id:` (lowercase letters, digits, `-`, `_`, `.`)"
        ]
    runbook = Runbook(
        id=runbook_id, meta=meta, source=RunbookSource.REPOSITORY, path=relative, body=body
    )
    found = reference_problems(meta, known)
    if not found:
        return runbook, []
    lines = _lines(front, file, first_line)
    return runbook, [
        f"{f}:{line}: {message}"
        for loc, message in found
        for f, line in [_locate(loc, lines, default)]
    ]


def known_names(config: TocsinConfig) -> Known:
    """(services, owners): what a runbook's front matter may name."""
    owners = {t.name for t in config.teams} | {p.id for p in config.people}
    return {s.name for s in config.services}, owners


def reference_problems(meta: RunbookMeta, known: Known | None) -> list[tuple[tuple[Any, ...], str]]:
    """Services must exist; the owner must be a team or a person."""
    if known is None:
        return []
    services, owners = known
    problems: list[tuple[tuple[Any, ...], str]] = []
    for index, service in enumerate(meta.services):
        if service not in services:
            shown = ", ".join(sorted(services)) or "none defined"
            problems.append((("services", index), f"unknown service {service!r} (known: {shown})"))
    if meta.owner not in owners:
        problems.append(
            (("owner",), f"owner {meta.owner!r} is not a team or a person of the configuration")
        )
    return problems


def load_runbooks(config: TocsinConfig, directory: Path) -> tuple[list[Runbook], list[str]]:
    """Every runbook (files, then wiki pages) and every problem found. Runbooks with problems
    in their front matter are left out; duplicate ids keep the first."""
    known = known_names(config)
    runbooks: list[Runbook] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    if not directory.is_dir() and "directory" in config.runbooks.model_fields_set:
        problems.append(f"{directory}: the runbook directory (runbooks.directory) does not exist")
    files = sorted(directory.glob("*.md")) if directory.is_dir() else []
    for file in files:
        if file.name.lower() == "readme.md":
            continue  # the directory's own explanation, not a runbook
        runbook, found = parse_runbook(
            file, file.read_text(encoding="utf-8"), f"{directory.name}/{file.name}", known
        )
        problems += found
        if runbook is None or found:
            continue
        if runbook.id in seen:
            problems.append(
                f"{file}:1: duplicate runbook id {runbook.id!r} (also {seen[runbook.id]})"
            )
            continue
        seen[runbook.id] = str(file)
        runbooks.append(runbook)
    for index, page in enumerate(config.runbooks.wiki):
        if page.id in seen:
            problems.append(
                f"runbooks.wiki.{index}: duplicate runbook id {page.id!r} (also {seen[page.id]})"
            )
            continue
        seen[page.id] = f"runbooks.wiki.{index}"
        meta = RunbookMeta.model_validate(page.model_dump(exclude={"summary"}))
        runbooks.append(
            Runbook(id=page.id, meta=meta, source=RunbookSource.WIKI, body=page.summary)
        )
    return runbooks, problems


def usable_runbooks(config: TocsinConfig, config_dir: Path) -> list[Runbook]:
    """At run time: the runbooks that are fine; each problem is logged (CI's `tocsin config
    validate` is where they get fixed), so one broken file never hides the others."""
    runbooks, problems = load_runbooks(config, runbooks_dir(config, config_dir))
    for problem in problems:
        logger.warning("runbook problem: %s", problem)
    return runbooks
