"""Static completeness check of a Lambda bundle: does every import resolve?

Starting from every module of the `tocsin` package, follow imports through the bundle and
report each one whose module is neither in the bundle, nor in the standard library, nor
provided by the Lambda runtime. In our own code every import counts (also those inside
functions); in third-party code only imports that run when the module is imported (module and
class level), because libraries import optional extras lazily inside the functions that use
them (e.g. Powertools' Redis or Avro utilities), and we do not ship extras we do not use.
Imports guarded by `try/except ImportError`, `if TYPE_CHECKING:` or a `sys.version_info` test
that is false on the Lambda's Python are skipped.
"""

from __future__ import annotations

import ast
import operator
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.bundling import LAMBDA_RUNTIME_MODULES, PYTHON_VERSION

TARGET_VERSION = tuple(int(part) for part in PYTHON_VERSION.split("."))
_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}
_COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.GtE: operator.ge,
    ast.Gt: operator.gt,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
}


@dataclass(frozen=True)
class ImportRef:
    module: str  # absolute dotted name
    names: tuple[str, ...]  # `from module import names` (empty for `import module`)
    line: int


@dataclass(frozen=True)
class UnresolvedImport:
    file: str
    line: int
    module: str


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, package: str, *, nested: bool) -> None:
        self.package = package  # the package relative imports start from
        self.nested = nested
        self.found: list[ImportRef] = []

    def visit_Import(self, node: ast.Import) -> None:
        self.found += [ImportRef(alias.name, (), node.lineno) for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = _absolute(self.package, node.module, node.level)
        if module:
            names = tuple(alias.name for alias in node.names if alias.name != "*")
            self.found.append(ImportRef(module, names, node.lineno))

    def visit_Try(self, node: ast.Try) -> None:
        self._visit_try(node)

    def visit_TryStar(self, node: ast.TryStar) -> None:
        self._visit_try(node)

    def _visit_try(self, node: ast.Try | ast.TryStar) -> None:
        caught = {name for handler in node.handlers for name in _exception_names(handler.type)}
        if not caught & _IMPORT_ERRORS:
            self.generic_visit_list(node.body)
        self.generic_visit_list([*node.handlers, *node.orelse, *node.finalbody])

    def visit_If(self, node: ast.If) -> None:
        verdict = _static_truth(node.test)
        if verdict is not False:
            self.generic_visit_list(node.body)
        if verdict is not True:
            self.generic_visit_list(node.orelse)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if self.nested:
            self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        if self.nested:
            self.generic_visit(node)

    def generic_visit_list(self, nodes: Iterable[ast.AST]) -> None:
        for child in nodes:
            self.visit(child)


def imports_in(path: Path, package: str, *, nested: bool) -> list[ImportRef]:
    collector = _ImportCollector(package, nested=nested)
    collector.visit(ast.parse(path.read_bytes(), filename=str(path)))
    return collector.found


class BundleIndex:
    """Maps dotted module names to files of the bundle."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find(self, module: str) -> Path | None:
        """The file that defines `module` (package `__init__.py`, `.py` or extension)."""
        base = self.root.joinpath(*module.split("."))
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                return candidate
        if base.is_dir():  # namespace package
            return base
        if base.parent.is_dir() and any(base.parent.glob(f"{base.name}.*.so")):
            return base.parent / f"{base.name}.so"
        return None

    def top_level_exists(self, module: str) -> bool:
        return self.find(module.split(".")[0]) is not None


def own_modules(root: Path, package: str) -> Iterator[str]:
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unresolved_imports(root: Path, *, own_package: str = "tocsin") -> list[UnresolvedImport]:
    index = BundleIndex(root)
    allowed = set(sys.stdlib_module_names) | set(LAMBDA_RUNTIME_MODULES)
    queue = deque(own_modules(root, own_package))
    seen = set(queue)
    problems: list[UnresolvedImport] = []
    while queue:
        module = queue.popleft()
        path = index.find(module)
        if path is None or path.suffix != ".py":
            continue  # extension module or namespace package: nothing to parse
        is_package = path.name == "__init__.py"
        package = module if is_package else module.rpartition(".")[0]
        own = module == own_package or module.startswith(own_package + ".")
        for ref in imports_in(path, package, nested=own):
            top = ref.module.split(".")[0]
            if top in allowed:
                continue
            wanted = _modules_executed_by(ref, index)
            missing = [name for name in wanted if index.find(name) is None]
            if missing:
                file = str(path.relative_to(root))
                problems.append(UnresolvedImport(file, ref.line, missing[0]))
            for name in wanted:
                if name not in seen and index.find(name) is not None:
                    seen.add(name)
                    queue.append(name)
    return problems


def _modules_executed_by(ref: ImportRef, index: BundleIndex) -> list[str]:
    """`import a.b.c` runs a, a.b, a.b.c; `from a.b import c` also runs a.b.c if c is a module."""
    parts = ref.module.split(".")
    modules = [".".join(parts[: i + 1]) for i in range(len(parts))]
    for name in ref.names:
        submodule = f"{ref.module}.{name}"
        if index.find(submodule) is not None:
            modules.append(submodule)
    return modules


def _absolute(package: str, module: str | None, level: int) -> str | None:
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base) or None


def _exception_names(node: ast.expr | None) -> Iterator[str]:
    if node is None:
        yield "BaseException"
    elif isinstance(node, ast.Tuple):
        for element in node.elts:
            yield from _exception_names(element)
    elif isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Attribute):
        yield node.attr


def _static_truth(test: ast.expr) -> bool | None:
    """True/False for `TYPE_CHECKING` and `sys.version_info <op> (x, y)`; None if unknown."""
    if isinstance(test, ast.Name | ast.Attribute):
        name = test.id if isinstance(test, ast.Name) else test.attr
        if name == "TYPE_CHECKING":
            return False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _static_truth(test.operand)
        return None if inner is None else not inner
    if (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and ast.unparse(test.left) == "sys.version_info"
        and isinstance(test.comparators[0], ast.Tuple)
    ):
        try:
            other = ast.literal_eval(test.comparators[0])
        except ValueError:
            return None
        compare = _COMPARISONS.get(type(test.ops[0]))
        return None if compare is None else bool(compare(TARGET_VERSION, tuple(other)))
    return None
