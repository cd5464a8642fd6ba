"""The shape of course_lib: small modules, imports that flow one way."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "course_lib"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every course_lib module `path` imports, at module level or inside a function."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            target = ".".join(p for p in (base, node.module or "") if p) if node.level else node.module
            candidates = [f"{target}.{a.name}" for a in node.names] + [target]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        names |= {c for c in candidates if c in KNOWN}
    return names - {here}


KNOWN = {module_name(p) for p in MODULES}
GRAPH = {module_name(p): imported_modules(p) for p in MODULES}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_is_short(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_no_import_cycles():
    done, path = set(), []

    def visit(name):
        if name in path:
            pytest.fail("import cycle: " + " -> ".join(path[path.index(name):] + [name]))
        if name in done:
            return
        path.append(name)
        for other in sorted(GRAPH[name]):
            if not (name.startswith(other + ".") or other == name.rpartition(".")[0]):  # a package and its parts
                visit(other)
        path.pop()
        done.add(name)

    for name in sorted(GRAPH):
        visit(name)


def test_training_does_not_need_the_samplers():
    """Device and precision live in `device`, so training and sampling are independent of each other."""
    assert "course_lib.samplers" not in GRAPH["course_lib.training"]
    assert "course_lib.training" not in GRAPH["course_lib.samplers"]
