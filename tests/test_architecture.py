"""The floors of the house (docs/architecture.md): no module imports upward, the corpus adapters
and the extractors never import each other, and the readers never import the writing engine.

Every import counts, also the ones inside functions: a lazy import that runs up a floor is the
same coupling, only later.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# folder -> the import name it has under the one `mer_etl` namespace (pyproject.toml)
PACKAGES = {"etl": "mer_etl", "schemas": "mer_etl.schemas", "extractors": "mer_etl.extractors",
            "jobs": "mer_etl.jobs"}

# Lowest first. A module may import its own floor and the floors below it.
FLOORS = [
    ("contracts", ["mer_etl.schemas"]),
    ("media", ["mer_etl.media"]),
    ("adapters and extractors", ["mer_etl.jobs", "mer_etl.extractors"]),
    ("engine and readers", ["mer_etl"]),
    ("entry points", ["mer_etl.cli", "mer_etl.demo"]),
]
# Side by side on one floor, never importing each other.
APART = [("mer_etl.jobs", "mer_etl.extractors")]
READERS = ["mer_etl.read", "mer_etl.loaders", "mer_etl.report", "mer_etl.report_items",
           "mer_etl.report_labels", "mer_etl.summary", "mer_etl.export",
           "mer_etl.export_affectgpt"]
WRITERS = ["mer_etl.pipeline", "mer_etl.runner", "mer_etl.collect", "mer_etl.stages",
           "mer_etl.writer",
           "mer_etl.quarantine", "mer_etl.retry", "mer_etl.plan", "mer_etl.card"]


def _module(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    return ".".join([PACKAGES[parts[0]], *parts[1:]])


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
    for folder in PACKAGES:
        for path in sorted((REPO / folder).rglob("*.py")):
            module = _module(path)
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                else:
                    continue
                for name in names:
                    if name.split(".")[0] in ("mer_etl", *PACKAGES):
                        found.append((module, name, node.lineno))
    return found


def _known(name: str) -> bool:
    """Whether `name` is a module (not a function or class imported from one)."""
    parts = name.split(".")[1:]  # below mer_etl
    folder = next((f for f, n in PACKAGES.items() if parts and n == f"mer_etl.{parts[0]}"),
                  "etl")
    path = REPO.joinpath(folder, *(parts[1:] if folder != "etl" else parts))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_every_package_has_modules():
    assert len({m for m, _, _ in imports()}) > 30


def test_every_import_goes_through_the_mer_etl_namespace():
    """`import jobs` would work from a source checkout and fail once installed."""
    bare = [f"{m} imports {n}, line {line}" for m, n, line in imports()
            if not n.startswith("mer_etl")]
    assert not bare, "\n".join(bare)


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
    assert floor("mer_etl.media.audio") == 1
    assert floor("mer_etl.jobs.ravdess") == 2
    assert floor("mer_etl.pipeline") == 3
    assert floor("mer_etl.cli") == 4
    assert floor("mer_etl.schemas.labels") == 0
    assert _known("mer_etl.jobs.base") and _known("mer_etl.media.fs")
    assert _known("mer_etl.plan") and not _known("mer_etl.plan.Plan")


def test_installed_as_one_namespace(tmp_path):
    """Outside the checkout only `mer_etl` imports, and it says its version; the wheel holds
    the one top-level package (nothing named `jobs` or `schemas` to collide with)."""
    import importlib.metadata
    import subprocess
    import sys
    import zipfile

    run = subprocess.run([sys.executable, "-c", "import mer_etl; print(mer_etl.__version__)"],
                         capture_output=True, text=True, cwd=tmp_path, check=True)
    assert run.stdout.strip() == importlib.metadata.version("mer-etl")
    for bare in ("jobs", "schemas", "etl", "extractors"):
        gone = subprocess.run([sys.executable, "-c", f"import {bare}"], capture_output=True,
                              text=True, cwd=tmp_path)
        assert f"No module named '{bare}'" in gone.stderr
    # from a copy of the source files: a build/ folder left in a checkout would leak into it
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "--cached", "--others",
                            "--exclude-standard"], capture_output=True, text=True, check=True)
    src = tmp_path / "src"
    for rel in files.stdout.split():
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes((REPO / rel).read_bytes())
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path), str(src)],
                   capture_output=True, text=True, check=True, cwd=tmp_path)
    wheel = next(tmp_path.glob("mer_etl-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"mer_etl"}
    assert {"mer_etl/jobs/corpora/emodb.yaml", "mer_etl/schemas/labels/v1.toml",
            "mer_etl/media/audio.py", "mer_etl/extractors/base.py"} <= set(names)
