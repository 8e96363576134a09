"""What every corpus adapter shares: the result type, path helpers and manifest assembly."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow as pa
from fsspec import AbstractFileSystem

from schemas import MANIFEST_SCHEMA, validate_table
from schemas.labels import LabelSchema


class CorpusError(RuntimeError):
    """The corpus root as a whole is unusable (missing, empty, not this corpus)."""


@dataclass
class ScanResult:
    """Manifest rows an adapter found, and every file it could not use, with the reason."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)

    def problem(self, corpus: str, path: str, error_type: str, message: str) -> None:
        self.problems.append(
            {
                "corpus": corpus,
                "utt_id": None,
                "path": path,
                "stage": "manifest",
                "error_type": error_type,
                "message": message,
            }
        )


@dataclass(frozen=True)
class Adapter:
    """A corpus adapter: `scan(fs, root, labels)` turns the native layout into manifest rows."""

    name: str
    title: str
    layout: str  # one line describing the expected native layout, shown in errors and `corpora`
    scan: Callable[[AbstractFileSystem, str, LabelSchema], ScanResult]


def walk_files(
    fs: AbstractFileSystem, root: str, result: ScanResult, corpus: str
) -> Iterator[str]:
    """Every file under root, sorted; an unreadable directory is recorded, not fatal.

    Our own recursion over `fs.ls` because fsspec's `walk` drops its `on_error` callback when
    it recurses, so an unreadable subdirectory would vanish without a word.
    """
    try:
        entries = sorted(fs.ls(root, detail=True), key=lambda e: e["name"])
    except OSError as exc:
        result.problem(corpus, root, "UnreadableDirectory", f"cannot list directory: {exc}")
        return
    for entry in entries:
        name = entry["name"].rstrip("/")
        if name == root.rstrip("/"):
            continue
        if entry["type"] == "directory":
            yield from walk_files(fs, name, result, corpus)
        else:
            yield name


def uri(fs: AbstractFileSystem, path: str) -> str:
    """A path readers can open: plain absolute path for local files, full URI otherwise."""
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return path if "file" in protocols or "local" in protocols else fs.unstrip_protocol(path)


def sha256_file(fs: AbstractFileSystem, path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with fs.open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def open_root(root: str, corpus: str, layout: str) -> tuple[AbstractFileSystem, str]:
    fs, path = fsspec.core.url_to_fs(root)
    if not fs.exists(path):
        raise CorpusError(f"{corpus}: root {root!r} does not exist (expected {layout})")
    if not fs.isdir(path):
        raise CorpusError(f"{corpus}: root {root!r} is not a directory (expected {layout})")
    return fs, path.rstrip("/") or "/"


def hash_media(fs: AbstractFileSystem, result: ScanResult, corpus: str, workers: int = 8) -> None:
    """Fill audio_sha256/video_sha256 so the dataset version covers media content.

    A file that cannot be read here is recorded and its row dropped: it could not be decoded.
    """
    paths = sorted(
        {p for row in result.rows for p in (row.get("_audio_path"), row.get("_video_path")) if p}
    )

    def one(path: str) -> tuple[str, str | Exception]:
        try:
            return path, sha256_file(fs, path)
        except OSError as exc:
            return path, exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        digests = dict(pool.map(one, paths))
    kept = []
    for row in result.rows:
        bad = [p for p in (row.get("_audio_path"), row.get("_video_path")) if p and
               isinstance(digests[p], Exception)]
        for path in bad:
            result.problem(corpus, path, "UnreadableFile", f"cannot read media: {digests[path]}")
        if bad:
            continue
        for kind in ("audio", "video"):
            path = row.pop(f"_{kind}_path", None)
            row[f"{kind}_uri"] = uri(fs, path) if path else None
            row[f"{kind}_sha256"] = digests[path] if path else None
        kept.append(row)
    result.rows = kept


def manifest_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows -> validated manifest table, sorted by utt_id (the order every output follows)."""
    full = []
    for row in sorted(rows, key=lambda r: r["utt_id"]):
        out = {name: row.get(name) for name in MANIFEST_SCHEMA.names}
        if isinstance(out["meta"], dict):
            out["meta"] = json.dumps(out["meta"], sort_keys=True, ensure_ascii=False)
        out["label_status"] = out["label_status"] or "unlabeled"
        full.append(out)
    table = pa.Table.from_pylist(full, schema=MANIFEST_SCHEMA)
    return validate_table(table, MANIFEST_SCHEMA, "manifest")
