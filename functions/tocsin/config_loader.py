"""Load the configuration directory (YAML files) into a validated TocsinConfig.

Every top-level key of every `*.yaml` file becomes a field of TocsinConfig; a key defined in
two files is an error. Validation errors are reported as `file:line: path: message`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tocsin.domain.config import TocsinConfig, reference_problems
from tocsin.domain.errors import ConfigError

Location = tuple[Path, int]


def _walk(
    node: yaml.Node, path: tuple[Any, ...], file: Path, lines: dict[tuple[Any, ...], Location]
) -> None:
    lines[path] = (file, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = (file, key_node.start_mark.line + 1)
            _walk(value_node, (*path, key), file, lines)
            lines[(*path, key)] = (file, key_node.start_mark.line + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), file, lines)


def _locate(
    loc: tuple[Any, ...], lines: dict[tuple[Any, ...], Location], default: Location
) -> Location:
    for end in range(len(loc), 0, -1):
        found = lines.get(tuple(loc[:end]))
        if found:
            return found
    return default


def load_config(config_dir: Path) -> TocsinConfig:
    files = sorted(config_dir.glob("*.yaml")) + sorted(config_dir.glob("*.yml"))
    if not files:
        raise ConfigError([f"{config_dir}: no *.yaml configuration files found"])
    merged: dict[str, Any] = {}
    lines: dict[tuple[Any, ...], Location] = {}
    problems: list[str] = []
    for file in files:
        text = file.read_text(encoding="utf-8")
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else 1
            problems.append(f"{file}:{line}: invalid YAML: {getattr(exc, 'problem', exc)}")
            continue
        if data is None:
            continue
        if not isinstance(data, dict) or node is None:
            problems.append(f"{file}:1: the top level must be a mapping of settings")
            continue
        _walk(node, (), file, lines)
        for key, value in data.items():
            if key in merged:
                where = lines.get((key,), (file, 1))
                problems.append(f"{where[0]}:{where[1]}: {key!r} is defined in more than one file")
            merged[key] = value
    if problems:
        raise ConfigError(problems)
    default = (files[0], 1)

    def report(loc: tuple[Any, ...], message: str) -> None:
        file, line = _locate(loc, lines, default)
        path = ".".join(str(p) for p in loc) or "(top level)"
        problems.append(f"{file}:{line}: {path}: {message}")

    try:
        config = TocsinConfig.model_validate(merged, context={"defer_references": True})
    except ValidationError as exc:
        for err in exc.errors():
            report(tuple(err["loc"]), err["msg"])
        raise ConfigError(problems) from None
    for loc, message in reference_problems(config):
        report(loc, message)
    problems += _integration_problems(config, lines, default)
    if problems:
        raise ConfigError(problems)
    return config


def _integration_problems(
    config: TocsinConfig, lines: dict[tuple[Any, ...], Location], default: Location
) -> list[str]:
    """Each integration's and paging method's provider must exist and its options fit the
    adapter."""
    from tocsin.integrations.registry import option_problems, paging_problems

    problems = []
    found = [
        (("integrations", port, *loc), msg)
        for port, loc, msg in option_problems(config.integrations)
    ]
    found += [(("paging", *loc), msg) for loc, msg in paging_problems(config.paging)]
    for loc, message in found:
        file, line = _locate(loc, lines, default)
        problems.append(f"{file}:{line}: {'.'.join(str(p) for p in loc)}: {message}")
    return problems


@cache
def cached_config(config_dir: Path) -> TocsinConfig:
    return load_config(config_dir)
