"""The floors of the house (docs/architecture.md): no module imports upward, the corpus adapters
and the extractors never import each other, and the readers never import the writing engine.

Every import counts, also the ones inside functions: a lazy import that runs up a floor is the
same coupling, only later.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("schemas", "etl", "extractors", "jobs")

# Lowest first. A module may import its own floor and the floors below it.
FLOORS = [
    ("contracts", ["schemas"]),
    ("media", ["etl.media"]),
    ("adapters and extractors", ["jobs", "extractors"]),
    ("engine and readers", ["etl"]),
    ("entry points", ["etl.cli", "etl.demo"]),
]
# Side by side on one floor, never importing each other.
APART = [("jobs", "extractors")]
READERS = ["etl.read", "etl.loaders", "etl.report", "etl.summary"]
WRITERS = ["etl.pipeline", "etl.runner", "etl.stages", "etl.writer", "etl.quarantine",
           "etl.retry", "etl.plan", "etl.card"]


def _module(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def floor(module: str) -> int:
    """The floor of a module: the most specific prefix that names it."""
    best, level = -1, -1
    for i, (_, prefixes) in enumerate(FLOORS):
        for prefix in prefixes:
            if _within(module, prefix) and len(prefix) > best:
                best, level = len(prefix), i
    return level


def imports() -> list[tuple[str, str, int]]:
    """(importer, imported, line) for every import of one of our packages."""
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            module = _module(path)
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                else:
                    continue
                for name in names:
                    if name.split(".")[0] in PACKAGES:
                        found.append((module, name, node.lineno))
    return found


def _known(name: str) -> bool:
    """Whether `name` is a module (not a function or class imported from one)."""
    path = REPO.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_every_package_has_modules():
    assert len({m for m, _, _ in imports()}) > 30


def test_no_module_imports_upward():
    up = [f"{m} (floor {FLOORS[floor(m)][0]}) imports {n} (floor {FLOORS[floor(n)][0]}), "
          f"line {line}" for m, n, line in imports() if _known(n) and floor(n) > floor(m)]
    assert not up, "\n".join(up)


def test_adapters_and_extractors_stay_apart():
    crossed = [f"{m} imports {n}, line {line}" for m, n, line in imports() for a, b in APART
               if (_within(m, a) and _within(n, b)) or (_within(m, b) and _within(n, a))]
    assert not crossed, "\n".join(crossed)


def test_readers_do_not_import_the_writing_engine():
    crossed = [f"{m} imports {n}, line {line}" for m, n, line in imports()
               if any(_within(m, r) for r in READERS) and any(_within(n, w) for w in WRITERS)]
    assert not crossed, "\n".join(crossed)


def test_floor_of_a_module():
    assert floor("etl.media.audio") == 1
    assert floor("etl.pipeline") == 3
    assert floor("etl.cli") == 4
    assert floor("schemas.labels") == 0
