"""``make lint``: no function-local first-party imports, which hide upward edges from the layers
contract (import-linter sees them, a reader does not).

Allowed without a word: ``TYPE_CHECKING`` blocks (types only), Celery task bodies (a worker
imports the task module first; the task imports what it runs), ``AppConfig.ready`` (Django's
documented place to import signal handlers and registries once the models are loaded), and
management command modules' ``handle``. Anything else needs a comment on the import line or the
line above saying why.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

FIRST_PARTY = {
    "crm",
    "accounts",
    "pipeline",
    "opportunities",
    "leads",
    "coaching",
    "reporting",
    "meridian",
}
ROOT = Path(__file__).resolve().parent.parent
SKIP_PARTS = {"migrations", "tests", "__pycache__"}


def _first_party(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and (node.module or "").split(".")[0] in FIRST_PARTY
    return any(alias.name.split(".")[0] in FIRST_PARTY for alias in node.names)


def _is_task(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for deco in fn.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name in {"shared_task", "task"}:
            return True
    return False


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def problems(path: Path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    found: list[str] = []

    def commented(lineno: int) -> bool:
        here = lines[lineno - 1]
        above = lines[lineno - 2].strip() if lineno > 1 else ""
        return "#" in here or above.startswith("#")

    def walk(node: ast.AST, allowed: bool, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                continue
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                ok = allowed or _is_task(child) or child.name == "ready"
                walk(child, ok, True)
                continue
            if (
                in_function
                and not allowed
                and isinstance(child, ast.Import | ast.ImportFrom)
                and _first_party(child)
                and not commented(child.lineno)
            ):
                found.append(
                    f"{path.relative_to(ROOT)}:{child.lineno}: {lines[child.lineno - 1].strip()}"
                )
            walk(child, allowed, in_function)

    walk(ast.parse(source), allowed="management/commands" in path.as_posix(), in_function=False)
    return found


def main() -> int:
    found = [
        problem
        for package in sorted(FIRST_PARTY)
        if (ROOT / package).is_dir()
        for path in sorted((ROOT / package).rglob("*.py"))
        if not SKIP_PARTS & set(path.relative_to(ROOT).parts)
        for problem in problems(path)
    ]
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} function-local first-party imports: import at the top, or say why.")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
